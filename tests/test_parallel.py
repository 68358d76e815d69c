"""Parallel replications: same numbers whatever the number of workers; streaming; progress."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import sim
from sim.run import writer
from sim.config import ConfigError
from sim.run.runner import (ReplicationTask, replication_seed, run_monte_carlo, run_replication,
                            run_replications)
from sim.run.writer import FolderWriter, MemoryWriter

SMALL = {"firms.n": 2000, "horizon": 12, "mc.replications": 4}


def cfg(**over):
    return sim.load_config("4321", {**SMALL, **over})


def test_replication_seed_is_the_spawned_child():
    kids = np.random.SeedSequence(7).spawn(5)
    for r in range(5):
        a = np.random.default_rng(replication_seed(7, r)).random(3)
        b = np.random.default_rng(kids[r]).random(3)
        assert np.array_equal(a, b)


def test_one_and_two_workers_give_identical_results():
    one = run_monte_carlo(cfg(**{"mc.n_jobs": 1}), progress=False)
    two = run_monte_carlo(cfg(**{"mc.n_jobs": 2}), progress=False)
    assert_frame_equal(one.timeseries, two.timeseries, check_exact=True)
    assert_frame_equal(one.replications, two.replications, check_exact=True)
    assert_frame_equal(one.summary, two.summary, check_exact=True)
    assert list(two.replications.replication) == [0, 1, 2, 3]


def test_the_instruments_give_identical_results_with_one_and_two_workers():
    on = {"scheme.dynamic.enabled": True, "bank.circuit_breaker.enabled": True,
          "bank.scoring_model_dispersion": 0.5, "scheme.performance_split.enabled": True,
          "firms.n": 4000, "horizon": 26}
    one = run_monte_carlo(cfg(**on, **{"mc.n_jobs": 1}), progress=False)
    two = run_monte_carlo(cfg(**on, **{"mc.n_jobs": 2}), progress=False)
    assert one.timeseries.dynamic_triggers.sum() > 0
    assert_frame_equal(one.timeseries, two.timeseries, check_exact=True)
    assert_frame_equal(one.replications, two.replications, check_exact=True)


def test_n_jobs_auto_is_every_available_core_and_gives_the_same_numbers(monkeypatch):
    import os

    from sim.config import rules

    from conftest import REAL_AVAILABLE_CORES

    monkeypatch.setattr(rules, "available_cores", REAL_AVAILABLE_CORES)
    auto = cfg()  # auto is the default
    want = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert auto.mc.n_jobs == want and type(auto.mc.n_jobs) is int and auto.mc.n_jobs_from == "auto"
    assert cfg(**{"mc.n_jobs": 3}).mc.n_jobs_from == ""
    monkeypatch.setattr(rules, "available_cores", lambda: 1000)
    assert cfg().mc.n_jobs == 256  # the field's bound
    monkeypatch.setattr(rules, "available_cores", lambda: 2)
    two = run_monte_carlo(cfg(), progress=False)
    one = run_monte_carlo(cfg(**{"mc.n_jobs": 1}), progress=False)
    assert_frame_equal(one.timeseries, two.timeseries, check_exact=True)


def test_a_finished_run_lets_its_workers_exit_without_a_signal(monkeypatch):
    """After the last replication the pool is closed, not terminated: a worker that bypasses
    SIGTERM (forked from a process that does) still exits."""
    import multiprocessing.pool

    calls = []
    real = multiprocessing.pool.Pool.terminate
    monkeypatch.setattr(multiprocessing.pool.Pool, "terminate",
                        lambda self: (calls.append(self), real(self))[1])
    res = run_monte_carlo(cfg(**{"mc.n_jobs": 2}), progress=False)
    assert res.complete and calls == []


def test_workers_stop_even_where_the_parent_bypasses_sigterm(tmp_path):
    """submitit's job process bypasses SIGTERM, and forked workers inherit its handler; a
    pool stopped early (Ctrl-C, an error) terminates its workers with SIGTERM, so they must
    restore its default or the pool waits for them for ever."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "bypass.py"
    script.write_text(textwrap.dedent("""
        import signal, time
        signal.signal(signal.SIGTERM, lambda *a: print("bypassed", flush=True))
        from sim.run.executors import PoolExecutor
        ex = PoolExecutor(2)
        futures = [ex.submit(time.sleep, 30) for _ in range(2)]
        time.sleep(1)
        ex.shutdown(wait=False, cancel_futures=True)
        print("stopped", flush=True)
    """))
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=25)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["stopped"]


def test_replication_r_does_not_depend_on_how_many_run():
    four = run_monte_carlo(cfg(), progress=False)
    _, ts2, summ2, _ = run_replication(cfg(), 2)
    assert_frame_equal(four.timeseries[four.timeseries.replication == 2].reset_index(drop=True), ts2,
                       check_exact=True)


def test_another_seed_gives_other_numbers():
    a = run_monte_carlo(cfg(), progress=False)
    b = run_monte_carlo(cfg(**{"mc.seed": 1}), progress=False)
    assert not np.allclose(a.timeseries.new_scheme, b.timeseries.new_scheme)


def test_each_replication_is_on_disk_as_soon_as_it_finishes(tmp_path, monkeypatch):
    seen = []
    real_write = writer.write_replication
    real_all = writer.write_all

    def spy(out_dir, r, ts, prefix="rep"):
        on_disk = sorted(p.name for p in (out_dir / "replications").glob("rep_*.parquet")) \
            if (out_dir / "replications").exists() else []
        status = json.loads((out_dir / "status.json").read_text())
        seen.append((r, on_disk, status["state"], status["done"]))
        real_write(out_dir, r, ts, prefix)

    def spy_all(view, out):
        # Before the final files: every replication is already streamed to its own file.
        files = sorted((out / "replications").glob("rep_*.parquet"))
        assert len(files) == 4
        for f in files:
            assert len(pd.read_parquet(f)) == 12
        status = json.loads((out / "status.json").read_text())
        assert status["state"] == "running" and status["done"] == 4
        real_all(view, out)

    monkeypatch.setattr(writer, "write_replication", spy)
    monkeypatch.setattr(writer, "write_all", spy_all)
    res = run_monte_carlo(cfg(**{"mc.n_jobs": 2}), tmp_path, progress=False)
    assert sorted(r for r, *_ in seen) == [0, 1, 2, 3]
    # the k-th write finds the k-1 earlier replications already on disk, and status.json
    # counts them
    assert [len(d) for _, d, _, _ in seen] == [0, 1, 2, 3]
    assert [(state, done) for _, _, state, done in seen] == [("running", k) for k in range(4)]
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "complete" and status["replications"] == 4
    assert res.complete


def test_folder_run_equals_memory_run(tmp_path):
    mem = run_monte_carlo(cfg(), progress=False)
    disk = run_monte_carlo(cfg(), tmp_path, progress=False)
    assert_frame_equal(disk.timeseries, mem.timeseries, check_exact=True)
    assert_frame_equal(disk.replications, mem.replications, check_exact=True)
    assert_frame_equal(pd.read_csv(tmp_path / "timeseries.csv"), pd.read_csv(
        io.StringIO(mem.timeseries.to_csv(index=False))), check_exact=True)


def test_streamed_files_never_half_written(tmp_path):
    ts = pd.DataFrame({"replication": [3] * 2, "month": [1, 2]})
    writer.write_replication(tmp_path, 3, ts)
    names = sorted(p.name for p in (tmp_path / "replications").iterdir())
    assert names == ["rep_00003.parquet"]  # no temporary file left behind


def test_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def boom(table, where, **kw):
        open(where, "wb").write(b"PAR1 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(KeyboardInterrupt):
        writer.write_replication(tmp_path, 1, pd.DataFrame({"month": [1]}))
    assert list((tmp_path / "replications").iterdir()) == []


class CtrlCAt:
    """A task that behaves like Ctrl-C arriving while replication `at` runs (in-process)."""

    def __init__(self, task, at):
        self.task, self.at = task, at

    def __call__(self, r):
        if r == self.at:
            raise KeyboardInterrupt
        return self.task(r)


def test_ctrl_c_in_process_keeps_what_finished(tmp_path, capsys):
    c = cfg(**{"mc.replications": 6, "mc.n_jobs": 1})  # in process: the task raises it here
    res = run_replications(c, FolderWriter(tmp_path), CtrlCAt(ReplicationTask.for_config(c), 3),
                           progress=False)
    assert not res.complete and list(res.replications.replication) == [0, 1, 2]
    status = json.loads((tmp_path / "status.json").read_text())
    assert (status["state"], status["done"], status["wanted"]) == ("interrupted", 3, 6)
    assert set(pd.read_parquet(tmp_path / "timeseries.parquet").replication) == {0, 1, 2}
    assert "interrupted: 3 of 6 replications finished" in capsys.readouterr().err


def test_ctrl_c_before_any_replication_marks_the_folder(tmp_path):
    c = cfg(**{"mc.n_jobs": 1})  # in process, as above
    with pytest.raises(KeyboardInterrupt):
        run_replications(c, FolderWriter(tmp_path), CtrlCAt(ReplicationTask.for_config(c), 0),
                         progress=False)
    status = json.loads((tmp_path / "status.json").read_text())
    assert (status["state"], status["done"], status["wanted"]) == ("interrupted", 0, 4)


def test_work_is_submitted_in_a_bounded_window(monkeypatch):
    """However many replications, at most twice the task slots are in flight at once."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import contextmanager

    from sim.run import runner as montecarlo

    lock, state = threading.Lock(), {"now": 0, "max": 0}

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            fut = super().submit(fn, *args, **kwargs)
            return fut

    @contextmanager
    def engine(c):
        with Counting(max_workers=2) as ex:
            yield ex, 2

    def quick(r):
        return montecarlo.Replication(r, pd.DataFrame({"replication": [r], "month": [1]}),
                                      {"replication": r, "x": float(r)}, {})

    real_keep = MemoryWriter.add

    def add(self, rep):
        with lock:
            state["now"] -= 1
        real_keep(self, rep)

    monkeypatch.setattr(montecarlo, "engine", engine)
    monkeypatch.setattr(montecarlo.metrics, "aggregate", lambda reps: pd.DataFrame())
    monkeypatch.setattr(MemoryWriter, "add", add)
    res = run_replications(cfg(**{"mc.replications": 200}), MemoryWriter(), quick, progress=False)
    assert list(res.replications.replication) == list(range(200))
    assert 2 <= state["max"] <= 4


def test_progress_bar_on_stderr(capsys):
    run_monte_carlo(cfg(**{"mc.replications": 2}), progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err and "rep" in err  # tqdm's bar: "4321: 100%|...| 2/2 [00:01<00:00, ...rep/s]"
    assert "4321" in err


def test_progress_disabled_prints_nothing(capsys):
    run_monte_carlo(cfg(**{"mc.replications": 2}), progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("over, key", [
    ({"mc.engine": "ray"}, "mc.engine = 'ray'"),
    ({"mc.dask_address": "tcp://127.0.0.1:8786"}, "mc.dask_address"),
    ({"mc.engine": "dask", "mc.dask_address": "not an address"}, "mc.dask_address = 'not an address'"),
    ({"mc.n_jobs": 0}, "mc.n_jobs = 0: must be auto or an integer in [1, 256]"),
    ({"mc.n_jobs": 257}, "mc.n_jobs = 257: must be auto or an integer"),
    ({"mc.n_jobs": 1.5}, "mc.n_jobs = 1.5: must be auto or an integer"),
    ({"mc.n_jobs": "all"}, "mc.n_jobs = 'all': must be auto or an integer"),
    ({"mc.n_jobs_from": "auto"}, "mc.n_jobs_from = 'auto': is set by the program"),
])
def test_bad_mc_values_give_one_line(over, key):
    with pytest.raises(ConfigError) as e:
        cfg(**over)
    msg = str(e.value)
    assert msg.startswith(key) and "\n" not in msg


def test_ctrl_c_while_a_replication_is_handed_over_keeps_it_whole():
    """A Ctrl-C that lands while the writer stores a replication waits for the block to end:
    the replication's files and its summary are kept together (else the folder would list a
    replication the tables do not have)."""
    import signal as _signal

    from sim.run.runner import StopFlag

    flag = StopFlag()
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with flag.held():
            steps.append("files")
            flag.on_sigint(_signal.SIGINT, None)  # arrives mid-write: deferred
            steps.append("summary")
    assert steps == ["files", "summary"] and flag.is_set()
    with pytest.raises(KeyboardInterrupt):
        flag.on_sigint(_signal.SIGINT, None)  # outside a held block: at once
