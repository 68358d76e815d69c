"""Fund sizing: the bootstrap of the answer, the search on common random numbers (same answer
on a rerun, holds on fresh seeds), and bad questions named in one line."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sim import sizing
from sim.sizing import SizingError, bootstrap_answers, size_fund

from conftest import ROOT

TINY = {"firms.n": 3000, "horizon": 30, "shock.month": 7, "mc.seed": 11}


def test_bootstrap_answer_is_the_quantile_of_critical_sizes():
    """Replication r needs size c_r (it fails below, meets at or above); then P(size) =
    share of c_r above size and the answer, on the full sample, is the smallest size run at
    which at most `target` of the replications still fail."""
    rng = np.random.default_rng(0)
    crit = rng.uniform(0, 100, 400)
    sizes = np.arange(0, 101, 1.0)
    hits = (crit[None, :] > sizes[:, None]).astype(float)
    exact = sizes[np.argmax((hits.mean(axis=1) <= 0.05))]
    assert exact == np.ceil(np.quantile(crit, 0.95, method="higher"))
    boot = bootstrap_answers(sizes, hits, 0.05, 2000, 1)
    lo, hi = np.quantile(boot, [0.05, 0.95])
    assert lo <= exact <= hi and hi - lo < 10
    # a size that meets the target with a larger one failing does not count (monotone envelope)
    h = np.array([[1.0], [0.0], [1.0], [0.0]])
    assert bootstrap_answers(np.array([0.0, 1, 2, 3]), h, 0.05, 5, 0).tolist() == [3.0] * 5


def test_search_is_reproducible_and_holds_on_fresh_seeds():
    a = size_fund("4321", overrides=TINY, replications=12, tol=0.1, grid=0, jobs=1)
    b = size_fund("4321", overrides=TINY, replications=12, tol=0.1, grid=0, jobs=1)
    assert a.answer == b.answer and a.interval == b.interval
    assert 0 < a.answer < a.configured
    curve = a.curve.set_index("size")
    assert curve.loc[a.answer, "p"] <= 0.05 and curve.loc[a.bracket[0], "p"] > 0.05
    assert curve.loc[0.0, "p"] > 0.05  # without funds the queue does get long
    fresh = sizing.check(a, seed=12345, replications=24, jobs=1)
    assert fresh["holds"], fresh  # the target is not below the fresh 95% interval


@pytest.mark.parametrize("kwargs,needle", [
    ({"lever": "pool.nope"}, "--lever pool.nope: not a config key"),
    ({"lever": "pool.replenish"}, "--lever pool.replenish: 'annual' is not a number"),
    ({"risk": "claim_rate"}, "--risk claim_rate: not a 0/1 summary metric"),
    ({"target": 1.5}, "--target 1.5: must be a probability"),
])
def test_bad_questions_are_named(kwargs, needle):
    with pytest.raises(SizingError, match=needle.replace(".", r"\.").replace("'", ".")):
        size_fund("4321", overrides=TINY, replications=2, **kwargs)


def test_command_reports_a_bad_key_in_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "sim.sizing", "--lever", "pool.nope", "firms.n=2000"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == ["sim.sizing: error: --lever pool.nope: not a config key "
                                              "(docs/levers.md lists them), nor 'funds'"]
    assert not (tmp_path / "sizing.md").exists()
