"""The default engine against closed-form credit-portfolio results (validation.md).

Tolerances are multiples of the Monte Carlo standard error of the estimated quantity.
"""

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

from sim.risk.copula import (_joint_default, draw_factors, finite_pool_pmf,
                             implied_annual_correlation, implied_correlation, monthly_pd,
                             sample_defaults, vasicek_cdf, vasicek_quantile)

# validation.md, "Vasicek / ASRF": PD, rho, q95, q99, q99.9, sd
VASICEK_TABLE = [
    (0.01, 0.10, 0.0285, 0.0468, 0.0775, 0.0096),
    (0.02, 0.10, 0.0530, 0.0824, 0.1282, 0.0170),
    (0.02, 0.15, 0.0622, 0.1056, 0.1763, 0.0218),
    (0.05, 0.15, 0.1372, 0.2099, 0.3135, 0.0440),
]


@pytest.mark.parametrize("pd,rho,q95,q99,q999,sd", VASICEK_TABLE)
def test_vasicek_closed_form_matches_table(pd, rho, q95, q99, q999, sd):
    q = vasicek_quantile(np.array([0.95, 0.99, 0.999]), pd, rho)
    np.testing.assert_allclose(q, [q95, q99, q999], atol=5e-5)
    # the CDF inverts the quantile function
    np.testing.assert_allclose(vasicek_cdf(q, pd, rho), [0.95, 0.99, 0.999], atol=1e-9)
    # sd of the default rate by quadrature over the factor
    z, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    pz = ndtr((ndtri(pd) - np.sqrt(rho) * z) / np.sqrt(1 - rho))
    assert np.sqrt((w * pz**2).sum() - pd**2) == pytest.approx(sd, abs=5e-5)


def one_factor_default_rates(pd, rho, n_loans, periods, seed):
    """Default rate per period from the engine's own sampler, one factor, homogeneous."""
    rng = np.random.default_rng(seed)
    thr = np.full(n_loans, ndtri(pd))
    zeros = np.zeros(n_loans, np.intp)
    out = np.empty(periods)
    for t in range(periods):
        f = draw_factors(rng, 1, 1)
        out[t] = sample_defaults(rng, thr, zeros, zeros, f, rho, 0.0, 0.0).mean()
    return out


@pytest.mark.parametrize("pd,rho,q95,q99,q999,sd", VASICEK_TABLE[:2])
def test_sampler_reproduces_vasicek_quantiles(pd, rho, q95, q99, q999, sd):
    """P(DR <= q_alpha) = alpha for the engine's default rates, within 4 standard errors.

    A pool of 20,000 loans adds binomial noise to the infinite-pool rate; its effect on the
    probability is computed exactly from the finite-pool distribution and allowed for.
    """
    n, periods = 20_000, 3_000
    dr = one_factor_default_rates(pd, rho, n, periods, seed=11)
    pmf = finite_pool_pmf(n, pd, rho, nodes=120)
    cdf = np.cumsum(pmf)
    for alpha, q in ((0.95, q95), (0.99, q99)):
        p_hat = (dr <= q).mean()
        se = np.sqrt(alpha * (1 - alpha) / periods)
        finite_bias = abs(cdf[int(np.floor(q * n))] - alpha)
        assert abs(p_hat - alpha) <= 4 * se + finite_bias, (alpha, p_hat)
    assert dr.mean() == pytest.approx(pd, abs=4 * sd / np.sqrt(periods))
    assert dr.std() == pytest.approx(sd, rel=0.1)


def test_finite_pool_exact_distribution():
    """N=100, p=2%, rho=0.10: validation.md's exact probabilities and quantiles."""
    pmf = finite_pool_pmf(100, 0.02, 0.10)
    assert pmf[0] == pytest.approx(0.2707, abs=5e-5)
    assert pmf[1] == pytest.approx(0.2527, abs=5e-5)
    assert pmf[2] == pytest.approx(0.1772, abs=5e-5)
    assert pmf[5:].sum() == pytest.approx(0.1150, abs=5e-5)
    assert pmf[10:].sum() == pytest.approx(0.01133, abs=5e-6)
    cdf = np.cumsum(pmf)
    assert np.searchsorted(cdf, 0.99) == 10
    assert np.searchsorted(cdf, 0.999) == 15


def test_sampler_reproduces_finite_pool():
    """The engine's counts K for 100 loans match the exact pmf within 4 standard errors."""
    periods = 60_000
    rng = np.random.default_rng(3)
    thr = np.full(100, ndtri(0.02))
    zeros = np.zeros(100, np.intp)
    # vectorise over periods: one factor per period, 100 loans each
    z = rng.standard_normal(periods)
    e = rng.standard_normal((periods, 100))
    x = np.sqrt(0.10) * z[:, None] + np.sqrt(0.90) * e
    k = (x < thr[None, :]).sum(axis=1)
    # and the engine's own function on a subset, to tie the two together
    k_engine = np.array([sample_defaults(rng, thr, zeros, zeros, draw_factors(rng, 1, 1), 0.10, 0, 0).sum()
                         for _ in range(20_000)])
    exact = {"P(K=0)": 0.2707, "P(K=1)": 0.2527, "P(K=2)": 0.1772, "P(K>=5)": 0.1150, "P(K>=10)": 0.01133}
    for sample in (k, k_engine):
        n = sample.shape[0]
        est = {"P(K=0)": (sample == 0).mean(), "P(K=1)": (sample == 1).mean(),
               "P(K=2)": (sample == 2).mean(), "P(K>=5)": (sample >= 5).mean(),
               "P(K>=10)": (sample >= 10).mean()}
        for key, p in exact.items():
            se = np.sqrt(p * (1 - p) / n)
            assert abs(est[key] - p) <= 4 * se, (key, est[key], p)


def test_multifactor_marginal_pd_is_exact():
    """With macro, region and sector factors each firm's default frequency is its own PD."""
    rng = np.random.default_rng(5)
    n, periods = 4000, 1500
    region = rng.integers(0, 4, n)
    sector = rng.integers(0, 3, n)
    pd_annual = np.where(region == 0, 0.02, 0.08)
    pdm = monthly_pd(pd_annual)
    thr = ndtri(pdm)
    hits = np.zeros(n)
    rates0, rates1 = [], []
    f = None
    for _ in range(periods):
        f = draw_factors(rng, 4, 3, f, ar1=0.5)
        d = sample_defaults(rng, thr, region, sector, f, 0.05, 0.05, 0.03)
        hits += d
        rates0.append(d[region == 0].mean())
        rates1.append(d[region != 0].mean())
    for rates, p in ((np.array(rates0), pdm[region == 0][0]), (np.array(rates1), pdm[region != 0][0])):
        # per-period rates are correlated in time (AR(1) 0.5): inflate the SE accordingly
        se = rates.std() / np.sqrt(periods) * np.sqrt((1 + 0.5) / (1 - 0.5))
        assert abs(rates.mean() - p) <= 4 * se, (rates.mean(), p)


def test_monthly_pd_keeps_annual_survival():
    p = np.array([0.01, 0.05, 0.3])
    assert np.allclose(1 - (1 - monthly_pd(p)) ** 12, p)


@pytest.mark.parametrize("pd,rho", [(0.02, 0.15), (0.05, 0.02), (0.10, 0.30), (0.05, -0.05)])
def test_bivariate_normal_inversion(pd, rho):
    """Phi2 by Plackett's identity agrees with scipy's Genz integration, and inverts."""
    from scipy.stats import multivariate_normal

    h = ndtri(pd)
    joint = multivariate_normal.cdf([h, h], mean=[0, 0], cov=[[1, rho], [rho, 1]],
                                    abseps=1e-12, releps=1e-12)
    assert _joint_default(h, rho) == pytest.approx(joint, rel=1e-8)
    assert implied_correlation(pd, joint) == pytest.approx(rho, abs=1e-7)


def test_annual_correlation_matches_loan_level_draws():
    """Integrating the idiosyncratic noise out (P_year) gives the same implied annual
    correlation as drawing loans month by month with the engine's `sample_defaults`.

    Loan level: 1,500 independent years, 16 cells (region j, sector j) of 25 firms; a firm
    defaults in the year if any of its 12 monthly draws falls below PhiInv(p_m). The joint
    default frequency of two firms is averaged over the pairs within a cell (same cell) and
    across cells (cross-region), then inverted like the Monte Carlo measure. Both estimates
    must agree within 4 combined standard errors (the loan-level SE is taken from batches).
    """
    pd, rm, rr, rs, ar1 = 0.10, 0.04, 0.04, 0.02, 0.9
    years, cells, per_cell = 1500, 16, 25
    rng = np.random.default_rng(21)
    thr = np.full(cells * per_cell, ndtri(monthly_pd(pd)))
    cell = np.repeat(np.arange(cells), per_cell)
    hit = np.zeros((years, cells * per_cell), bool)
    for y in range(years):
        f = None
        for _ in range(12):
            f = draw_factors(rng, cells, cells, f, ar1)
            hit[y] |= sample_defaults(rng, thr, cell, cell, f, rm, rr, rs)
    k = hit.reshape(years, cells, per_cell).sum(axis=2).astype(float)  # defaults per cell-year
    p_y = k.mean(axis=1) / per_cell
    same_y = (k * (k - 1)).mean(axis=1) / (per_cell * (per_cell - 1))
    tot = k.sum(axis=1)
    cross_y = (tot ** 2 - (k ** 2).sum(axis=1)) / (per_cell ** 2 * cells * (cells - 1))
    batches = 30
    est = implied_annual_correlation(pd, rm, rr, rs, ar1, years=6000, cells=32, seed=4)
    for key, joint_y in (("same_cell", same_y), ("cross_region", cross_y)):
        rho = implied_correlation(p_y.mean(), joint_y.mean())
        split = zip(np.array_split(p_y, batches), np.array_split(joint_y, batches))
        per_batch = [implied_correlation(p.mean(), j.mean()) for p, j in split]
        se = np.std(per_batch, ddof=1) / np.sqrt(batches)
        mc, mc_se = est[key]
        assert abs(rho - mc) <= 4 * np.hypot(se, mc_se), (key, rho, se, mc, mc_se)


@pytest.mark.parametrize("pd", [0.02, 0.05, 0.10])
def test_default_copula_annual_correlation_in_basel_range(pd):
    """Done-when of the correlation issue: with the default `CopulaConfig()` the implied
    annual asset correlation of two firms in one region and sector lies in the Basel II IRB
    corporate range [0.12, 0.24] (BCBS 2006 para. 272), with 4 standard errors to spare, at
    annual PDs of 2%, 5% and 10%; two firms in different regions and sectors (macro factor
    only) are less correlated but still positively."""
    from sim.config import CopulaConfig

    c = CopulaConfig()
    r = implied_annual_correlation(pd, c.rho_macro, c.rho_region, c.rho_sector, c.ar1,
                                   years=4000, seed=7)
    rho, se = r["same_cell"]
    assert se < 0.005
    assert 0.12 + 4 * se <= rho <= 0.24 - 4 * se, (rho, se)
    cross, cross_se = r["cross_region"]
    assert 4 * cross_se < cross < rho - 4 * np.hypot(se, cross_se), (cross, cross_se, rho)
    # Monthly PDs are exact, but persistence correlates a firm's own months, so its one-year
    # PD falls a little below 1 - (1 - p_m)^12 (by 1-3.5% of it at these PDs).
    assert 0.9 * pd < r["pd"][0] < pd + 4 * r["pd"][1], r["pd"]


def test_no_persistence_gives_low_annual_correlation():
    """With the default loadings but ar1 = 0 the factors renew every month and a year averages
    twelve of them: the implied annual correlation falls far below the Basel range."""
    from sim.config import CopulaConfig

    c = CopulaConfig()
    r = implied_annual_correlation(0.05, c.rho_macro, c.rho_region, c.rho_sector, 0.0,
                                   years=4000, seed=7)
    rho, se = r["same_cell"]
    assert rho + 4 * se < 0.05, (rho, se)
    assert r["pd"][0] == pytest.approx(0.05, abs=4 * r["pd"][1])  # independent months: exact
