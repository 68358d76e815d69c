"""Ctrl-C: finished replications stay readable and the run is marked incomplete."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
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


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait (on pidfds, not by polling) until the processes have exited; return those alive."""
    left = set()
    deadline = time.monotonic() + timeout
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if not select.select([fd], [], [], max(deadline - time.monotonic(), 0))[0]:
                left.add(pid)
        finally:
            os.close(fd)
    return left


class Terminal:
    """The child's stderr on a pseudo-terminal, as a user sees it: the progress bar redraws
    there. A thread reads it; `wait_done(k)` blocks on an event until the bar shows k
    replications done."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        # a window of 24 x 120: with no size (0 columns) tqdm draws nothing
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        self.text = ""
        self._want, self._reached = 0, threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def start(self) -> None:
        os.close(self.slave)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            self.text += chunk.decode(errors="replace")
            counts = [int(m) for m in re.findall(r"(\d+)/\d+ \[", self.text[-2000:])]
            if self._want and counts and max(counts) >= self._want:
                self._reached.set()
        self._reached.set()  # the child is gone: wake the waiter, who checks why

    def wait_done(self, proc: subprocess.Popen, k: int, timeout: float = 120) -> None:
        self._want = k
        assert self._reached.wait(timeout), "no replication finished in time"
        assert proc.poll() is None, (proc.communicate(), self.text)

    def close(self) -> str:
        self._thread.join(timeout=30)
        os.close(self.master)
        return self.text


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Terminal]:
    cmd = [sys.executable, "-m", "sim", "scenario=4321", *args, "firms.n=2000",
           f"horizon={HORIZON}", "hydra.run.dir=run"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    term = Terminal()
    # its own process group, so SIGINT can go to the whole group as a terminal sends it
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=term.slave, text=True, start_new_session=True)
    term.start()
    return proc, term


@pytest.fixture
def launch(tmp_path):
    """Start `python -m sim` (see _start); whatever a failing test leaves running is killed."""
    procs = []

    def _launch(*args: str) -> tuple[subprocess.Popen, Terminal]:
        proc, term = _start(tmp_path, *args)
        procs.append(proc)
        return proc, term

    yield _launch
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _ctrl_c(proc: subprocess.Popen, term: Terminal) -> tuple[str, str]:
    """One SIGINT to the process group (workers included); the run must end by itself."""
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    err = term.close()
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
def test_ctrl_c_keeps_finished_replications(tmp_path, launch, engine):
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group, workers included."""
    if engine.startswith("dask"):
        pytest.importorskip("distributed")
    extra = {"local-serial": ["mc.n_jobs=1"], "local-pool": ["mc.n_jobs=2"],
             "dask-localcluster": ["mc.engine=dask", "mc.n_jobs=2"]}[engine]
    proc, term = launch(f"mc.replications={WANTED}", *extra)
    run = tmp_path / "run"
    term.wait_done(proc, 3)
    live = json.loads((run / "status.json").read_text())
    assert live["state"] == "running" and live["done"] >= 3 and live["wanted"] == WANTED
    workers = _children(proc.pid)
    _ctrl_c(proc, term)

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
    assert not _wait_gone(workers, timeout=10)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_one_ctrl_c_stops_a_shock_run_counterfactual_included(tmp_path, launch):
    """The issue's case: `python -m sim scenario=4321 shock=flood`, one Ctrl-C while the
    counterfactual replications are being run. Each task runs the counterfactual of
    replication r and then r with the shock; Ctrl-C right after counterfactual files appear
    ends the whole run: exit 130, nothing marked complete, the counterfactual's finished
    replications are on disk and pair one to one with the shocked ones."""
    proc, term = launch("shock=flood", "shock.month=3", f"mc.replications={WANTED}")
    run = tmp_path / "run"
    term.wait_done(proc, 2)
    assert len(list((run / "replications").glob("cf_*.parquet"))) >= 2
    out, err = _ctrl_c(proc, term)
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


def test_a_ctrl_c_while_the_last_replications_are_kept_still_stops_the_run():
    """With workers, the first Ctrl-C only sets a flag the waiting loop looks at; one that came
    while the last replication was being handed to the writer used to be lost, and a study
    (sim.sensitivity, sim.design) went on to its next point."""
    import sim
    from sim.run.runner import run_replications
    from sim.run.writer import MemoryWriter

    cfg = sim.load_config("4321", {"firms.n": 1000, "horizon": 3, "mc.replications": 4,
                                   "mc.n_jobs": 2})

    class CtrlCOnLast(MemoryWriter):
        def add(self, rep):
            super().add(rep)
            if len(self.reps) == cfg.mc.replications:
                os.kill(os.getpid(), signal.SIGINT)  # arrives inside the writer's add

    res = run_replications(cfg, CtrlCOnLast(keep_timeseries=False), progress=False)
    assert not res.complete and len(res.replications) == cfg.mc.replications
