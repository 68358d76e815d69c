"""Dask distributed engine: a local cluster on 127.0.0.1 gives the same numbers as a local run."""

from __future__ import annotations

import logging
import subprocess
import sys
from urllib.parse import urlparse

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import sim
from sim.run.runner import EngineError, run_monte_carlo

distributed = pytest.importorskip("distributed")

SMALL = {"firms.n": 2000, "horizon": 12, "mc.replications": 5}


def _host(address: str) -> str:
    return urlparse(address).hostname


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes; scheduler and workers listen on loopback only."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.ERROR) as c:
        yield c


@pytest.fixture(scope="module")
def local_run():
    return run_monte_carlo(sim.load_config("4321", SMALL), progress=False)


def test_cluster_is_on_loopback(cluster):
    assert _host(cluster.scheduler_address) == "127.0.0.1"
    with distributed.Client(cluster.scheduler_address) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        assert {_host(w) for w in workers} == {"127.0.0.1"}


def test_dask_cluster_by_address_equals_local_run(cluster, local_run):
    cfg = sim.load_config("4321", {**SMALL, "mc.engine": "dask",
                                   "mc.dask_address": cluster.scheduler_address})
    res = run_monte_carlo(cfg, progress=False)
    assert_frame_equal(res.timeseries, local_run.timeseries, check_exact=True)
    assert_frame_equal(res.replications, local_run.replications, check_exact=True)
    assert_frame_equal(res.summary, local_run.summary, check_exact=True)


def test_dask_without_address_starts_its_own_loopback_cluster(local_run, tmp_path):
    cfg = sim.load_config("4321", {**SMALL, "mc.engine": "dask", "mc.n_jobs": 2})
    res = run_monte_carlo(cfg, tmp_path, progress=False)
    assert_frame_equal(res.timeseries, local_run.timeseries, check_exact=True)
    assert (tmp_path / "status.json").read_text().count('"complete"') == 1


def test_cli_on_a_dask_cluster_equals_the_api(cluster, local_run, tmp_path):
    cmd = [sys.executable, "-m", "sim", "scenario=4321", "firms.n=2000", "horizon=12",
           "mc.replications=5", "mc.engine=dask", f"mc.dask_address={cluster.scheduler_address}",
           "quiet=true", "hydra.run.dir=run"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = pd.read_parquet(tmp_path / "run" / "replications.parquet")
    assert_frame_equal(got, local_run.replications, check_exact=True)


def test_unreachable_scheduler_fails_cleanly(tmp_path):
    # A port on loopback that nothing listens on: the run stops with an error, no hang.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = sim.load_config("4321", {**SMALL, "mc.engine": "dask", "mc.replications": 1,
                                   "mc.dask_address": f"tcp://127.0.0.1:{port}"})
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(EngineError) as e:
            run_monte_carlo(cfg, tmp_path, progress=False)
    assert str(e.value).startswith(f"mc.dask_address = 'tcp://127.0.0.1:{port}': no Dask scheduler")
