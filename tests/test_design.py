"""Scheme design search (sim.design): every design it runs is a valid split, the search is
reproducible from its seed, and the frontier and the fresh-seed check say what they claim."""

import itertools
import math

import pandas as pd
import pytest

import sim
from sim import design as D

TINY = {"firms.n": 2000, "horizon": 12, "mc.replications": 3, "mc.seed": 5}


def test_shares_on_the_grid_sum_to_exactly_one():
    grid = [i * 0.05 for i in range(9)]  # 0 .. 0.4, as floating point gives them
    for b, r, p in itertools.product(grid, grid, grid):
        s = D.shares(b, r, p, 0.05)
        assert sum(s.values()) == 1.0 or abs(sum(s.values()) - 1.0) < 1e-12
        assert s["bank"] == pytest.approx(b) and s["pool"] == pytest.approx(p)


def test_search_runs_only_valid_splits_and_is_reproducible():
    kw = dict(trials=6, max_halt=0.5, fiscal_budget=1e9, overrides=TINY, seed=7, startup_trials=3)
    a = D.search(**kw)
    b = D.search(**kw)
    pd.testing.assert_frame_equal(a, b)  # same sampler seed, same mc.seed: the same trials
    assert D.best(a).trial == D.best(b).trial
    shares = a[[f"{p}_share" for p in D.PAYERS]]
    assert (shares.sum(axis=1) - 1).abs().max() < 1e-12
    ran = a[a.ran]
    assert ran.guarantor_share.between(*D.SPACE.guarantor).all()
    # a split that leaves the guarantor outside its range is infeasible and never run
    assert (~a.ran == ~a.guarantor_share.between(*D.SPACE.guarantor)).all()
    assert not a[~a.ran].feasible.any()
    # feasibility is what the constraints say
    ok = ran[HALT_OK(ran, 0.5) & (ran.fiscal_cost <= 1e9)]
    assert set(ok.trial) == set(ran[ran.feasible].trial)


def HALT_OK(t, limit):
    return t[D.HALT] <= limit


def test_a_different_sampler_seed_tries_other_designs():
    kw = dict(trials=3, max_halt=1.0, fiscal_budget=1e12, overrides=TINY, startup_trials=3)
    a, b = D.search(seed=1, **kw), D.search(seed=2, **kw)
    assert not a[["bank_share", "fee", "pool_size"]].equals(b[["bank_share", "fee", "pool_size"]])


def test_pareto_keeps_the_undominated_designs_within_budget():
    t = pd.DataFrame({"trial": range(5), "new_lending_scheme": [10, 20, 15, 30, 40],
                      D.HALT: [0.0, 0.1, 0.2, 0.3, 0.1], "fiscal_cost": [1, 1, 1, 1, 99],
                      "ran": True, "feasible": True})
    t.attrs.update(objective="new_lending_scheme", fiscal_budget=10, max_halt=0.2)
    front = D.pareto(t)
    assert front.trial.tolist() == [0, 1, 3]  # 2 is beaten by 1; 4 is over budget
    assert D.best(t).trial == 4  # best reads `feasible` as the search set it
    # against fiscal cost, among those within the P(halt) limit (0.2): 3 is out, 4 is in
    assert D.pareto(t, "fiscal_cost").trial.tolist() == [1, 4]
    # no design within the budget: an empty frontier with the table's columns (an empty
    # selection once dropped every column, and sorting it raised KeyError)
    t.attrs.update(fiscal_budget=0)
    empty = D.pareto(t)
    assert empty.empty and list(empty.columns) == list(t.columns)


def test_space_from_the_command_line():
    s = D.space_from(["bank=0.1:0.5", "fee=0.005:0.02"])
    assert s.bank == (0.1, 0.5) and s.fee == (0.005, 0.02) and s.pool == D.SPACE.pool
    for bad, needle in (["banks=0:1"], "name must be one of"), (["fee=0.01:0.5"], "<= 0.2"), \
                       (["pool=0.3:0.1"], "low < high"), (["bank=a:b"], "name=low:high"):
        with pytest.raises(sim.ConfigError, match=needle):
            D.space_from(bad)


def test_default_space_keeps_to_policy():
    """Banks bear at least 20% and the fee stays within 1% (docs/sources.md), by default."""
    assert D.SPACE.bank[0] >= 0.2 and D.SPACE.fee[1] <= 0.01


def test_recheck_runs_the_design_on_seeds_the_search_did_not_use():
    t = D.search(trials=2, max_halt=1.0, fiscal_budget=1e12, overrides=TINY, seed=3, startup_trials=2)
    row = t[t.ran].iloc[0]
    chk = D.recheck(row, max_halt=1.0, fiscal_budget=1e12, overrides=TINY, replications=4)
    assert chk["mc.seed"] != TINY["mc.seed"] and chk["replications"] == 4
    assert chk["P(halt) low"] <= chk["P(halt)"] <= chk["P(halt) high"]
    assert chk["halt holds"]  # a limit of 1 always holds
    assert math.isfinite(chk["new_lending_scheme"])


def test_search_refuses_a_scheme_without_the_four_tranches_and_bad_limits():
    with pytest.raises(sim.ConfigError, match="needs exactly guarantor, reguarantor, bank, pool"):
        D.search("2:8", trials=1, overrides=TINY)
    with pytest.raises(sim.ConfigError, match="--max-halt 1.5"):
        D.search(trials=1, max_halt=1.5, overrides=TINY)
    with pytest.raises(sim.ConfigError, match="--objective 'x'"):
        D.search(trials=1, objective="x", overrides=TINY)


def test_command_refuses_bad_input_in_one_line(capsys, tmp_path):
    assert D.main(["--max-halt", "2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-halt 2.0: must be a probability" in err[0], err


def test_command_reads_space_ranges_apart_from_config_overrides(capsys, tmp_path):
    """`--space bank=0.1:0.5` is a range, `horizon=12` an override: a bad range is named."""
    assert D.main(["--space", "bank=0.6:0.5", "horizon=12", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--space 'bank=0.6:0.5'" in err[0], err


def test_ctrl_c_leaves_the_finished_trials_readable(tmp_path):
    """Ctrl-C in `python -m sim.design`: exit 130 and the finished trials are in trials.csv."""
    import os
    import select
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-m", "sim.design", "--trials", "50", "--out", str(tmp_path),
            "firms.n=2000", "horizon=12", "mc.replications=3"]
    p = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"},
                         # Ctrl-C's default action in the child even when this test runs in the
                         # background of a shell (which starts it with SIGINT ignored, and an
                         # ignored signal stays ignored across exec)
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen, deadline = "", time.monotonic() + 120
    while "trial 2/" not in seen and time.monotonic() < deadline and p.poll() is None:
        if select.select([p.stderr], [], [], 1)[0]:
            seen += p.stderr.readline()
    assert "trial 2/" in seen, seen
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err
    done = pd.read_csv(tmp_path / "trials.csv")
    assert 2 <= len(done) < 50
    assert (done[[f"{x}_share" for x in D.PAYERS]].sum(axis=1) - 1).abs().max() < 1e-12
    assert "INTERRUPTED after" in (tmp_path / "design.md").read_text()
