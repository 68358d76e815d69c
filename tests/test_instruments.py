"""Policy instruments as the reports describe them (sim/instruments.py, docs/instruments.md):
each is a lever that is off unless a province runs it, acts through an institution's decision,
and moves a named outcome beyond K paired standard errors under common random numbers (both
arms run the same seeds, so the same firms and draws)."""

import numpy as np
import pytest

import sim
from sim import kernel
from sim.instruments import in_force
from sim.model import flagged_shares

from conftest import K, assert_down, assert_up, paired

BASE = {"firms.n": 20000, "horizon": 48, "mc.replications": 16, "mc.seed": 11}


def run(scenario, province=None, **o):
    d = dict(BASE)
    d.update({k.replace("__", "."): v for k, v in o.items()})
    return sim.run(scenario, d, province=province)


# ------------------------------------------------------------------ 1. Anhui's dynamic sharing
def test_health_rule_fires_on_consecutive_falls_with_a_widening_gap():
    # the index is an exponentially weighted mean of the readings
    h, falls, fires = kernel.health_step(0.0, 0, -2.0, 0.5, -1.5, 1)
    assert h == -1.0 and falls == 1 and not fires  # fell, but still above the arrears line
    h, falls, fires = kernel.health_step(h, falls, -3.0, 0.5, -1.5, 1)
    assert h == -2.0 and falls == 2 and fires  # fell again and the cash-flow gap opened
    assert not kernel.health_step(h, falls, -3.0, 0.5, -1.5, 4)[2]  # four falls needed, three so far
    assert kernel.health_step(-2.0, 4, 0.0, 0.5, -1.5, 1)[1:] == (0, False)  # a rise ends the run


def test_flagged_loans_take_the_raised_public_share():
    shares = np.array([0.40, 0.30, 0.30])  # Anhui 4:3:3: pool, bank, guarantor
    out = flagged_shares(shares, [True, False, False], 0.45)
    np.testing.assert_allclose(out, [0.45, 0.275, 0.275])
    np.testing.assert_allclose(flagged_shares(shares, [True, False, False], 0.30), shares)  # never lowered
    np.testing.assert_allclose(flagged_shares(shares, [False] * 3, 0.45), shares)  # no public payer


def test_anhui_platform_moves_losses_to_the_fiscal_side_and_fires_on_distress_not_noise():
    """Mechanism: a flagged loan's loss falls 45% on the funds; the guarantors and banks,
    expecting to keep less of a loss (their experience of flagged losses), guarantee and lend
    more. The index is persistent, so the rule fires on loans in distress: most flagged
    loans' losses are caught before default, and flagged loans default far more often than
    scheme loans in general."""
    off = run("anhui_433", province="anhui")
    on = run("anhui_433", province="anhui", scheme__dynamic__enabled=True)
    assert off.replications.dynamic_triggers.sum() == 0
    assert_up(off, on, "realised_share_fiscal", "loss_pool", "new_lending_scheme")
    assert_down(off, on, "realised_share_bank", "realised_share_guarantor")
    ts = on.timeseries
    assert ts.dynamic_share_loss.sum() / ts.default_scheme.sum() > 0.5
    # flagged loans that defaulted, per flagged loan, against defaults per scheme loan made
    flagged_default = ts.dynamic_share_loans.sum() / ts.dynamic_triggers.sum()
    loans_made = ts.new_scheme.sum() / (0.5 * (50_000 + 500_000))  # about: the mean loan size
    base_default = (ts.default_scheme.sum() / (0.5 * (50_000 + 500_000))) / loans_made
    assert flagged_default > 5 * base_default


def test_instruments_in_force_are_named():
    assert in_force(sim.load_config("anhui_433", {"firms.n": 2000}, province="anhui")) == []
    cfg = sim.load_config("anhui_433", {"firms.n": 2000, "scheme.dynamic.enabled": True}, province="anhui")
    names = [n for n, _ in in_force(cfg)]
    assert any("动态" in n for n in names)
