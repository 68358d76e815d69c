"""Ctrl-C: finished replications stay readable and the run is marked incomplete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

HORIZON = 12


def _children(pid: int) -> set[int]:
    """Direct children of pid, from /proc."""
    kids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                kids.add(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sim", "scenario=4321", *args, "firms.n=2000",
           f"horizon={HORIZON}", "hydra.run.dir=run"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # its own process group, so SIGINT can go to the whole group as a terminal sends it
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_files(proc: subprocess.Popen, d: Path, pattern: str, k: int) -> None:
    deadline = time.monotonic() + 120
    while len(list(d.glob(pattern)) if d.exists() else []) < k:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no replication finished in time"
        time.sleep(0.02)


def _ctrl_c(proc: subprocess.Popen) -> tuple[str, str]:
    """One SIGINT to the process group (workers included); the run must end by itself."""
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err
    assert "Traceback" not in err, err
    return out, err


def _finished(run: Path, prefix: str = "rep") -> set[int]:
    """Replications whose streamed files are on disk; each is whole and readable."""
    reps = run / "replications"
    assert not list(reps.glob(".*tmp"))
    got = set()
    for f in sorted(reps.glob(f"{prefix}_*.parquet")):
        ts = pd.read_parquet(f)
        assert len(ts) == HORIZON and ts.replication.nunique() == 1
        got.add(int(ts.replication.iloc[0]))
    return got


WANTED = 2000  # never reached: the run is interrupted after a few replications


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("engine", ["local-serial", "local-pool", "dask-localcluster"])
def test_ctrl_c_keeps_finished_replications(tmp_path, engine):
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group, workers included."""
    if engine.startswith("dask"):
        pytest.importorskip("distributed")
    extra = {"local-serial": ["mc.n_jobs=1"], "local-pool": ["mc.n_jobs=2"],
             "dask-localcluster": ["mc.engine=dask", "mc.n_jobs=2"]}[engine]
    proc = _start(tmp_path, f"mc.replications={WANTED}", *extra)
    run = tmp_path / "run"
    _wait_for_files(proc, run / "replications", "rep_*.parquet", 3)
    live = json.loads((run / "status.json").read_text())
    assert live["state"] == "running" and live["done"] >= 2 and live["wanted"] == WANTED
    workers = _children(proc.pid)
    _ctrl_c(proc)

    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "interrupted"
    assert status["wanted"] == WANTED
    done = status["replications"]
    assert status["done"] == done and 3 <= done < WANTED
    got = _finished(run)
    assert len(got) == done
    # the aggregated files hold exactly the finished replications
    assert set(pd.read_parquet(run / "replications.parquet").replication) == got
    assert set(pd.read_parquet(run / "timeseries.parquet").replication) == got
    assert "Incomplete" in (run / "report.md").read_text()
    # no worker process is left running
    deadline = time.monotonic() + 10
    while [p for p in workers if _alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_one_ctrl_c_stops_a_shock_run_counterfactual_included(tmp_path):
    """The issue's case: `python -m sim scenario=4321 shock=flood`, one Ctrl-C while the
    counterfactual replications are being run. Each task runs the counterfactual of
    replication r and then r with the shock; Ctrl-C right after counterfactual files appear
    ends the whole run: exit 130, nothing marked complete, the counterfactual's finished
    replications are on disk and pair one to one with the shocked ones."""
    proc = _start(tmp_path, "shock=flood", "shock.month=3", f"mc.replications={WANTED}")
    run = tmp_path / "run"
    _wait_for_files(proc, run / "replications", "cf_*.parquet", 2)
    out, err = _ctrl_c(proc)
    assert "complete" not in out + err

    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "interrupted" and status["wanted"] == WANTED
    done = status["done"]
    assert 1 <= done < WANTED
    got = _finished(run)
    assert len(got) == done and _finished(run, "cf") >= got
    reps = pd.read_csv(run / "replications.csv")
    cf = pd.read_csv(run / "counterfactual_replications.csv")
    assert set(reps.replication) == set(cf.replication) == got
    assert set(pd.read_parquet(run / "counterfactual_timeseries.parquet").replication) == got
    report = (run / "report.md").read_text()
    assert "Incomplete" in report and f"same {done} seeds" in report
    assert "complete" not in (run / "status.json").read_text()
