"""Sweeps through Hydra's joblib launcher (local cores) and submitit launcher (here its local
mode, the same code path that submits to SLURM): typed as in the docs, same numbers as the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import sim
from sim.run.runner import run_monte_carlo

SMALL = ["mc.replications=3", "firms.n=2000", "horizon=12"]


def _sweep(tmp_path: Path, launcher: str) -> Path:
    cmd = [sys.executable, "-m", "sim", "-m", "scenario=4321,2:8", f"hydra/launcher={launcher}",
           *SMALL, "quiet=true", "hydra.sweep.dir=sweep"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path / "sweep"


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_sweep_through_launcher_equals_api(tmp_path, launcher):
    pytest.importorskip({"joblib": "hydra_plugins.hydra_joblib_launcher",
                         "submitit_local": "hydra_plugins.hydra_submitit_launcher"}[launcher])
    root = _sweep(tmp_path, launcher)
    jobs = {d.name: d for d in root.iterdir() if (d / "status.json").exists()}
    assert set(jobs) == {"0_4321_none", "1_2_8_none"}
    for name, scenario in (("0_4321_none", "4321"), ("1_2_8_none", "2:8")):
        d = jobs[name]
        assert json.loads((d / "status.json").read_text())["state"] == "complete"
        want = run_monte_carlo(sim.load_config(scenario, SMALL), progress=False).replications
        got = pd.read_parquet(d / "replications.parquet")
        assert_frame_equal(got, want, check_exact=True)
    comparison = pd.read_csv(root / "comparison.csv", index_col=0)
    assert list(comparison.columns) == ["0_4321_none", "1_2_8_none"]
