"""Fund sizing: the search and its interval on an analytic case, the search on common random numbers (same answer
on a rerun, holds on fresh seeds), and bad questions named in one line."""

import math
import subprocess
import sys
from statistics import NormalDist

import numpy as np
import pytest

from sim import sizing
from sim.sizing import SizingError, search, size_fund

from conftest import ROOT

TINY = {"firms.n": 3000, "horizon": 30, "shock.month": 7, "mc.seed": 11}


def synthetic(crit):
    """p_at for replications that each need a size c_r: the share still failing at `size`."""
    return lambda size: float(np.mean(crit > size))


def test_search_finds_the_quantile_and_its_interval_covers_90_percent():
    """The analytic case: replication r needs c_r ~ lognormal(0, 0.5), so the smallest size
    with P <= 5% is the 95th percentile exp(0.5 z_0.95) = 2.276. Over 400 studies of 200
    replications each, the answers centre on it and the 90% interval covers it 84-96% of the
    time (the binomial sd of a 90% coverage over 400 studies is 1.5 points)."""
    truth = math.exp(0.5 * NormalDist().inv_cdf(0.95))
    rng = np.random.default_rng(2026)
    answers, covered = [], 0
    for _ in range(400):
        crit = rng.lognormal(0.0, 0.5, 200)
        f = search(synthetic(crit), 0.05, 200, 0.0, 10.0, tol=0.002)
        answers.append(f["answer"])
        lo, hi = f["interval"]
        covered += lo <= truth <= hi
        assert f["bracket"][1] == f["answer"] and f["p"][f["answer"]] <= 0.05 < f["p"][f["bracket"][0]]
    assert abs(np.median(answers) - truth) < 0.05 * truth
    assert 0.84 <= covered / 400 <= 0.96, covered / 400


def test_search_expands_and_refuses():
    crit = np.linspace(0, 30, 100)
    f = search(synthetic(crit), 0.05, 100, 0.0, 4.0, tol=0.01)  # 4 -> 8 -> 16 -> 32
    assert 28 < f["answer"] <= 30 and max(f["p"]) == 32
    with pytest.raises(SizingError, match="cannot bring the risk to the target"):
        search(lambda s: 0.5, 0.05, 100, 0.0, 1.0, expand=3)
    # met at the low end already: the answer is the low end
    assert search(lambda s: 0.0, 0.05, 100, 2.0, 5.0)["answer"] == 2.0


def test_search_is_reproducible_and_holds_on_fresh_seeds():
    """On the model: the sizes that decide the answer give the same probabilities when run
    again (common random numbers, so the deterministic search gives the same answer), and the
    answer holds on fresh seeds."""
    a = size_fund("4321", overrides=TINY, replications=12, tol=0.1, grid=0, jobs=1)
    assert 0 < a.answer < a.configured
    curve = a.curve.set_index("size")
    assert curve.loc[a.answer, "p"] <= 0.05 < curve.loc[a.bracket[0], "p"]
    assert curve.loc[0.0, "p"] > 0.05  # without funds the queue does get long
    lo, hi = a.interval
    assert lo <= a.answer <= hi
    for size in a.bracket:
        again = sizing.run_hits(a.config_at(size), a.risk, 1)
        assert again.equals(a.hits.loc[size].rename(again.name)), size
    fresh = sizing.check(a, seed=12345, replications=24, jobs=1)
    assert fresh["holds"], fresh  # not above the target by more than the sampling noise


@pytest.mark.parametrize("kwargs,needle", [
    ({"lever": "pool.nope"}, "--lever pool.nope: not a config key"),
    ({"lever": "pool.replenish"}, "--lever pool.replenish: 'annual' is not a number"),
    ({"lever": "pool.payout_delay"}, "--lever pool.payout_delay: a whole-number key"),
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
