"""Parallel replications: same numbers whatever the number of workers; streaming; progress."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import sim
from sim import report
from sim.config import ConfigError
from sim.montecarlo import Progress, replication_seed, run_monte_carlo, run_replication

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
    real_write = report.write_replication
    real_all = report.write_all

    def spy(out_dir, r, ts):
        on_disk = sorted(p.name for p in (out_dir / "replications").glob("rep_*.parquet")) \
            if (out_dir / "replications").exists() else []
        seen.append((r, on_disk))
        real_write(out_dir, r, ts)

    def spy_all(res):
        # Before the final files: every replication is already streamed to its own file.
        files = sorted((res.out_dir / "replications").glob("rep_*.parquet"))
        assert len(files) == 4
        for f in files:
            assert len(pd.read_parquet(f)) == 12
        assert json.loads((res.out_dir / "status.json").read_text())["state"] == "running"
        real_all(res)

    monkeypatch.setattr(report, "write_replication", spy)
    monkeypatch.setattr(report, "write_all", spy_all)
    res = run_monte_carlo(cfg(**{"mc.n_jobs": 2}), tmp_path, progress=False)
    assert sorted(r for r, _ in seen) == [0, 1, 2, 3]
    # the k-th write finds the k-1 earlier replications already on disk
    assert [len(d) for _, d in seen] == [0, 1, 2, 3]
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "complete" and status["replications"] == 4
    assert res.complete


def test_streamed_files_never_half_written(tmp_path):
    ts = pd.DataFrame({"replication": [3] * 2, "month": [1, 2]})
    report.write_replication(tmp_path, 3, ts)
    names = sorted(p.name for p in (tmp_path / "replications").iterdir())
    assert names == ["rep_00003.parquet"]  # no temporary file left behind


def test_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    def boom(table, where, **kw):
        open(where, "wb").write(b"PAR1 half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(KeyboardInterrupt):
        report.write_replication(tmp_path, 1, pd.DataFrame({"month": [1]}))
    assert list((tmp_path / "replications").iterdir()) == []


def test_progress_bar_shows_eta_in_logs():
    out = io.StringIO()
    bar = Progress(4, True, months=12, stream=out)
    for _ in range(4):
        bar.tick()
    text = out.getvalue()
    assert "[" + "#" * Progress.WIDTH + "] 4/4 replications" in text
    assert "ETA" in text and "elapsed" in text


def test_progress_bar_redraws_in_place_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    bar = Progress(2, True, months=10, stream=out)
    bar.month(5)  # half of the first replication: the bar moves before any replication is done
    first = out.getvalue()
    assert first.startswith("\r[") and "\n" not in first
    assert "#" * (Progress.WIDTH // 4) in first and "0/2 replications" in first
    assert "ETA ?" not in first
    bar.tick()
    bar.tick()
    text = out.getvalue()
    assert text.endswith("2/2 replications" + text.split("2/2 replications")[1])
    assert text.endswith("\n") and text.count("\n") == 1


def test_progress_disabled_prints_nothing():
    out = io.StringIO()
    bar = Progress(3, False, stream=out)
    bar.tick()
    bar.month(3)
    assert out.getvalue() == ""


@pytest.mark.parametrize("over, key", [
    ({"mc.engine": "ray"}, "mc.engine = 'ray'"),
    ({"mc.dask_address": "tcp://127.0.0.1:8786"}, "mc.dask_address"),
    ({"mc.engine": "dask", "mc.dask_address": "not an address"}, "mc.dask_address = 'not an address'"),
    ({"mc.n_jobs": 0}, "mc.n_jobs = 0"),
])
def test_bad_mc_values_give_one_line(over, key):
    with pytest.raises(ConfigError) as e:
        cfg(**over)
    msg = str(e.value)
    assert msg.startswith(key) and "\n" not in msg
