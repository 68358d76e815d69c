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

HORIZON = 24


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


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("engine", ["local-serial", "local-pool", "dask-localcluster"])
def test_ctrl_c_keeps_finished_replications(tmp_path, engine):
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group, workers included."""
    if engine.startswith("dask"):
        pytest.importorskip("distributed")
    extra = {"local-serial": ["mc.n_jobs=1"], "local-pool": ["mc.n_jobs=2"],
             "dask-localcluster": ["mc.engine=dask", "mc.n_jobs=2"]}[engine]
    cmd = [sys.executable, "-m", "sim", "scenario=4321", "mc.replications=400", *extra,
           "firms.n=20000", f"horizon={HORIZON}", "hydra.run.dir=run"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    reps = tmp_path / "run" / "replications"
    deadline = time.monotonic() + 120
    while len(list(reps.glob("rep_*.parquet")) if reps.exists() else []) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no replication finished in time"
        time.sleep(0.05)
    workers = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err
    assert "Traceback" not in err, err

    run = tmp_path / "run"
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "interrupted"
    assert status["wanted"] == 400
    done = status["replications"]
    assert 3 <= done < 400
    files = sorted(reps.glob("rep_*.parquet"))
    assert len(files) == done
    assert not list(reps.glob(".*tmp"))
    got = set()
    for f in files:
        ts = pd.read_parquet(f)
        assert len(ts) == HORIZON and ts.replication.nunique() == 1
        got.add(int(ts.replication.iloc[0]))
    # the aggregated files hold exactly the finished replications
    table = pd.read_parquet(run / "replications.parquet")
    assert set(table.replication) == got
    assert set(pd.read_parquet(run / "timeseries.parquet").replication) == got
    assert "Incomplete" in (run / "report.md").read_text()
    # no worker process is left running
    deadline = time.monotonic() + 10
    while [p for p in workers if _alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)]
