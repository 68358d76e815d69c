"""Shared fixtures: small configs so the whole suite runs in minutes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parent.parent

SMALL = {"firms.n": 2000, "horizon": 24, "mc.replications": 3, "mc.seed": 7}


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
