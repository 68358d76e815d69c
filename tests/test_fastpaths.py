"""The vectorised shortcuts in the hot loop give bit-for-bit what the plain code gives."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit

import sim
from sim.agents import GuaranteeAgency
from sim.model import GuaranteeModel
from sim.risk.copula import draw_factors, sample_defaults, sample_defaults_grouped, systematic_table


@pytest.mark.parametrize("rho", [(0.04, 0.04, 0.02), (0.2, 0.0, 0.0), (0.3, 0.2, 0.1)])
def test_grouped_default_draws_equal_sample_defaults(rho):
    rng = np.random.default_rng(11)
    n, nr, ns = 50_000, 5, 4
    region = rng.integers(0, nr, n).astype(np.int16)
    sector = rng.integers(0, ns, n).astype(np.int16)
    threshold = rng.standard_normal(n) - 1.5
    factors = draw_factors(rng, nr, ns)
    a = sample_defaults(np.random.default_rng(5), threshold, region, sector, factors, *rho)
    b = sample_defaults_grouped(np.random.default_rng(5), threshold, region * ns + sector,
                                systematic_table(factors, *rho), *rho)
    assert np.array_equal(a, b) and 0 < a.sum() < n


def test_agency_screening_in_one_draw_equals_agency_by_agency():
    cfg = sim.load_config("4321", {"firms.n": 500, "horizon": 1})
    model = GuaranteeModel(cfg, rng=np.random.default_rng(1))
    rng = np.random.default_rng(3)
    pd_ = rng.uniform(0.001, 0.5, 3000)
    region = rng.integers(0, len(model.agencies), 3000).astype(np.int16)
    want = np.empty(3000)
    r1 = np.random.default_rng(9)
    for ag in model.agencies:
        sel = region == ag.region
        want[sel] = ag.estimate_pd(pd_[sel], r1)
    # the same normals handed over per candidate: drawn in (agency, candidate) order
    z = np.empty(3000)
    z[np.argsort(region, kind="stable")] = np.random.default_rng(9).standard_normal(3000)
    got = GuaranteeAgency.estimate_pd_by_region(model.agencies, logit(pd_), region, z)
    assert np.array_equal(want, got)


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
            on = (f.channel == 2) & (f.agency == ag.region)
            assert ag.outstanding == pytest.approx(model.weight * f.amount[on].sum(), rel=1e-9, abs=1e-3)
        assert model.book[-1] == pytest.approx(f.amount[f.channel == 1].sum(), rel=1e-9, abs=1e-3)
        assert np.all(f.amount[f.channel == 0] == 0)  # firms without a loan add nothing
