"""Shared fixtures: small configs so the whole suite runs in minutes."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.config import rules

ROOT = Path(__file__).resolve().parent.parent

SMALL = {"firms.n": 2000, "horizon": 24, "mc.replications": 3, "mc.seed": 7}

REAL_AVAILABLE_CORES = rules.available_cores


@pytest.fixture(autouse=True)
def one_core_per_test(monkeypatch):
    """`pytest -n auto` already runs a test on every core; mc.n_jobs=auto (the default) would
    start a pool of workers inside each test on top of that, oversubscribed and slower for
    these small runs. In this process auto therefore means one core: a test that is about
    the workers sets mc.n_jobs, or puts REAL_AVAILABLE_CORES back. `python -m sim`
    subprocesses are not affected."""
    monkeypatch.setattr(rules, "available_cores", lambda: 1)


def small(scenario="4321", **overrides):
    """A validated config at test size; overrides use dotted keys with '__' for '.'."""
    o = dict(SMALL)
    o.update({k.replace("__", "."): v for k, v in overrides.items()})
    return sim.load_config(scenario, o)


@pytest.fixture
def run_cli(tmp_path):
    """Run `python -m sim ARGS` in a fresh folder; returns CompletedProcess (cwd in .cwd)."""

    def _run(*args, env=None, timeout=300):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([sys.executable, "-m", "sim", *args], cwd=tmp_path, env=e,
                           capture_output=True, text=True, timeout=timeout)
        p.cwd = tmp_path
        return p

    return _run


# ------------------------------------------------------------------ paired comparisons
# A direction is asserted on paired runs: both arms run the same replications (same seeds:
# common random numbers), and the mean paired difference must exceed K standard errors of
# that difference (sd of the per-replication differences / sqrt(n)).
K = 3.0  # standard errors a paired difference must exceed


def paired(a, b, metric):
    """Mean and standard error of b - a, replication by replication (same seeds)."""
    x = a.replications.set_index("replication")[metric]
    y = b.replications.set_index("replication")[metric]
    d = (y - x).dropna().to_numpy(dtype=float)
    assert d.shape[0] >= 3, "too few paired replications"
    return d.mean(), d.std(ddof=1) / math.sqrt(d.shape[0])


def assert_up(a, b, *metrics):
    """Each metric is higher in b than in a by more than K paired standard errors."""
    for m in metrics:
        d, se = paired(a, b, m)
        assert d > 0 and d > K * se, f"{m}: paired difference {d:.4g} with se {se:.4g}"


def assert_down(a, b, *metrics):
    """Each metric is lower in b than in a by more than K paired standard errors."""
    for m in metrics:
        d, se = paired(a, b, m)
        assert d < 0 and -d > K * se, f"{m}: paired difference {d:.4g} with se {se:.4g}"


def assert_differ(a, b, *metrics):
    """Each metric differs between a and b by more than K paired standard errors."""
    for m in metrics:
        d, se = paired(a, b, m)
        assert abs(d) > K * se, f"{m}: paired difference {d:.4g} with se {se:.4g}"
