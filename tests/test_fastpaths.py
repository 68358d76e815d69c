"""The vectorised shortcuts in the hot loop give bit-for-bit what the plain code gives."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logit

import sim
from sim.model import GuaranteeModel


def test_entrants_are_drawn_from_their_keyed_numbers():
    """The kernel's entrants: region by the cumulative shares (= Generator.choice's rule) on
    the keyed region number; PD, logit and thresholds consistent (the compiled quantile
    against scipy's); guarantor and bank inside the region's and the banks' ranges."""
    from scipy.special import ndtri

    from sim.risk import streams as st
    from sim.risk.copula import monthly_pd

    cfg = sim.load_config("4321", {"firms.n": 4000, "horizon": 1})
    f = GuaranteeModel(cfg, rng=np.random.default_rng(2)).firms
    idx = np.arange(4000)
    f.respawn(idx, 7, st.RESPAWN_EXIT)
    u = st.counter_uniform(f.key, 7, st.RESPAWN_EXIT + st.ENTRANT_REGION, idx)
    p_region = np.array([r.firm_share for r in cfg.province.regions])
    cdf = np.cumsum(p_region) / p_region.sum()
    assert np.array_equal(f.region, cdf.searchsorted(u, side="right"))
    p_sector = np.array([s.firm_share for s in cfg.province.sectors])
    assert f.sector.min() >= 0 and f.sector.max() < len(p_sector)  # by each region's own mix
    assert np.array_equal(f.group, f.region * len(p_sector) + f.sector)
    np.testing.assert_allclose(f.logit_pd, logit(f.pd), rtol=1e-12)
    np.testing.assert_allclose(f.threshold, ndtri(monthly_pd(f.pd)), rtol=1e-12)
    counts = np.array([r.guarantors for r in cfg.province.regions])
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    assert np.all((f.guarantor >= first[f.region]) & (f.guarantor < first[f.region] + counts[f.region]))
    assert f.bank.min() >= 0 and f.bank.max() < cfg.bank.count
    # the same rows and month give the same entrants; another month others
    pd_before = f.pd.copy()
    f.respawn(idx, 7, st.RESPAWN_EXIT)
    assert np.array_equal(f.pd, pd_before)
    f.respawn(idx, 8, st.RESPAWN_EXIT)
    inside = (f.pd > 1e-5) & (f.pd < 0.95)  # PDs are clipped to [1e-5, 0.95]: equal at the clips
    assert inside.mean() > 0.9 and not np.any((f.pd == pd_before) & inside)


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


def test_a_loan_the_first_pass_leaves_alone_cannot_fall_overdue():
    """The loans' first pass leaves a performing loan alone when its number is above the
    staircase over Phi at its z (`kernel.above_stair`); that must mean the exact test
    (`kernel.below`) says no: at each step's corner, just inside it, and on random points."""
    from sim import kernel

    for p, z in zip(kernel._STAIR_P, kernel._STAIR_Z):
        assert kernel.phi(z) < p
        assert kernel.above_stair(p, z) and not kernel.below(p, z, kernel.PHI)
    rng = np.random.default_rng(3)
    v, z = rng.random(100_000), rng.uniform(-6.0, 1.0, 100_000)
    left = 0
    for vi, zi in zip(v, z):
        if kernel.above_stair(vi, zi):
            left += 1
            assert not kernel.below(vi, zi, kernel.PHI), (vi, zi)
    assert left > 50_000  # and it does leave most such loans alone


def test_the_staircase_test_is_its_definition():
    """`kernel.above_stair` picks the last step at or below v and tests z against it; that is
    the staircase's definition, some step p with v >= p and z <= its z: the same answer at
    every corner, on either side of each step, and on random points."""
    from sim import kernel

    def by_definition(v, z):
        return any(v >= p and z <= zs for p, zs in zip(kernel._STAIR_P, kernel._STAIR_Z))

    edges_v = [0.0, 1.0] + [q for p in kernel._STAIR_P for q in (np.nextafter(p, 0), p, np.nextafter(p, 1))]
    edges_z = [-20.0, 5.0] + [q for zs in kernel._STAIR_Z for q in (np.nextafter(zs, -9), zs, np.nextafter(zs, 9))]
    points = [(v, z) for v in edges_v for z in edges_z]
    rng = np.random.default_rng(4)
    points += list(zip(rng.random(20_000) ** 3, rng.uniform(-5.0, 1.0, 20_000)))
    answers = [kernel.above_stair(v, z) for v, z in points]
    assert answers == [by_definition(v, z) for v, z in points]
    assert 0 < sum(answers) < len(answers)
