"""The vectorised shortcuts in the hot loop give bit-for-bit what the plain code gives."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit

import sim
from sim.model import GuaranteeModel


def test_new_firms_draw_regions_as_generator_choice_does():
    cfg = sim.load_config("4321", {"firms.n": 4000, "horizon": 1})
    f = GuaranteeModel(cfg, rng=np.random.default_rng(2)).firms
    idx = np.arange(4000)
    f.respawn(idx, np.random.default_rng(8))
    rng = np.random.default_rng(8)
    p_region = np.array([r.firm_share for r in cfg.province.regions])
    p_sector = np.array([s.firm_share for s in cfg.province.sectors])
    assert np.array_equal(f.region, rng.choice(len(p_region), size=4000, p=p_region))
    assert f.sector.min() >= 0 and f.sector.max() < len(p_sector)  # by each region's own mix
    assert np.array_equal(f.group, f.region * len(p_sector) + f.sector)
    assert np.array_equal(f.logit_pd, logit(f.pd))


def test_loan_book_kept_incrementally_equals_the_masked_sums_every_month():
    """The book is updated by new loans, maturities and defaults and recounted yearly; every
    month it must equal the loan-by-loan sums (to rounding), as must each guarantor's
    outstanding guarantees."""
    cfg = sim.load_config("4321", {"firms.n": 3000, "horizon": 30})
    model = GuaranteeModel(cfg, rng=np.random.default_rng(4))
    f = model.firms
    while model.running:
        model.step()
        for ag in model.agencies:
            on = (f.channel == 2) & (f.agency == ag.index)
            assert ag.outstanding == pytest.approx(model.weight * f.amount[on].sum(), rel=1e-9, abs=1e-3)
        assert model.book[-1] == pytest.approx(f.amount[f.channel == 1].sum(), rel=1e-9, abs=1e-3)
        assert np.all(f.amount[f.channel == 0] == 0)  # firms without a loan add nothing
