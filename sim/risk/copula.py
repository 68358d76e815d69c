"""Multi-factor Gaussian copula for correlated defaults.

Firm i defaults in a period when its latent asset value falls below its threshold:

    X_i = sqrt(r_m) Z_macro + sqrt(r_r) Z_region(i) + sqrt(r_s) Z_sector(i)
          + sqrt(1 - r_m - r_r - r_s) e_i,        default  <=>  X_i < PhiInv(p_i)

All Z and e are standard normal, so X_i is standard normal and P(default) = p_i exactly
whatever the loadings: correlation only decides how defaults cluster. With one factor
(r_r = r_s = 0) and a homogeneous portfolio this is Vasicek's model, whose default-rate
distribution is  P(DR <= x) = Phi((sqrt(1-rho) PhiInv(x) - PhiInv(p)) / sqrt(rho)).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri


def monthly_pd(annual_pd: np.ndarray | float) -> np.ndarray | float:
    """Monthly PD with the same one-year survival: 1 - (1 - p)^(1/12)."""
    return -np.expm1(np.log1p(-np.asarray(annual_pd)) / 12.0)


def draw_factors(rng: np.random.Generator, n_regions: int, n_sectors: int,
                 previous: tuple[float, np.ndarray, np.ndarray] | None = None,
                 ar1: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
    """Systematic factors for one period, AR(1) with unit stationary variance.

    Z_t = ar1 * Z_{t-1} + sqrt(1 - ar1^2) * eta_t keeps each factor N(0, 1) at every
    date, so marginal PDs stay exact while bad months persist.
    """
    eta = rng.standard_normal(1 + n_regions + n_sectors)
    macro, region, sector = eta[0], eta[1:1 + n_regions], eta[1 + n_regions:]
    if previous is not None and ar1 > 0.0:
        k = np.sqrt(1.0 - ar1 * ar1)
        macro = ar1 * previous[0] + k * macro
        region = ar1 * previous[1] + k * region
        sector = ar1 * previous[2] + k * sector
    return float(macro), region, sector


def latent_values(factors: tuple[float, np.ndarray, np.ndarray], region: np.ndarray,
                  sector: np.ndarray, rho_macro: float, rho_region: float, rho_sector: float,
                  eps: np.ndarray) -> np.ndarray:
    """X_i for each firm, with its idiosyncratic draw `eps` given (standard normal).

    The model uses it with one draw per firm row and month from its own stream, so a run with
    a shock and the run without it see the same X for the same firm in the same month (common
    random numbers). A default is X < PhiInv(p): the marginal PD is p exactly whatever p is.
    """
    macro, zr, zs = factors
    idio = np.sqrt(1.0 - rho_macro - rho_region - rho_sector)
    return (np.sqrt(rho_macro) * macro + np.sqrt(rho_region) * zr[region]
            + np.sqrt(rho_sector) * zs[sector] + idio * eps)


def sample_defaults(rng: np.random.Generator, threshold: np.ndarray, region: np.ndarray,
                    sector: np.ndarray, factors: tuple[float, np.ndarray, np.ndarray],
                    rho_macro: float, rho_region: float, rho_sector: float) -> np.ndarray:
    """Default indicators X < threshold (threshold = PhiInv(pd) per firm) given this period's
    factors: the engine's `latent_values` with fresh idiosyncratic draws. The analytic tests
    (Vasicek, finite pool, exact marginals) check the copula through this function."""
    eps = rng.standard_normal(threshold.shape[0])
    return latent_values(factors, region, sector, rho_macro, rho_region, rho_sector, eps) < threshold


def vasicek_cdf(x: np.ndarray | float, pd: float, rho: float) -> np.ndarray | float:
    """P(default rate <= x) for an infinite homogeneous one-factor portfolio."""
    return ndtr((np.sqrt(1 - rho) * ndtri(x) - ndtri(pd)) / np.sqrt(rho))


def vasicek_quantile(alpha: np.ndarray | float, pd: float, rho: float) -> np.ndarray | float:
    """alpha-quantile of the default rate: Phi((PhiInv(p) + sqrt(rho) PhiInv(alpha)) / sqrt(1-rho))."""
    return ndtr((ndtri(pd) + np.sqrt(rho) * ndtri(alpha)) / np.sqrt(1 - rho))


def finite_pool_pmf(n: int, pd: float, rho: float, nodes: int = 200) -> np.ndarray:
    """P(K = k), k = 0..n, for n loans under the one-factor model, by Gauss-Hermite over Z."""
    from scipy.stats import binom

    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    p_z = ndtr((ndtri(pd) - np.sqrt(rho) * z) / np.sqrt(1 - rho))
    k = np.arange(n + 1)
    return (binom.pmf(k[:, None], n, p_z[None, :]) * w[None, :]).sum(axis=1)


def _joint_default(h: float, rho: float) -> float:
    """Phi2(h, h; rho), exact up to quadrature error (~1e-14): Plackett's identity
    dPhi2/drho = phi2(h, h; rho) = exp(-h^2 / (1 + rho)) / (2 pi sqrt(1 - rho^2))."""
    from scipy.integrate import quad

    def dens(r: float) -> float:
        return np.exp(-h * h / (1.0 + r)) / (2.0 * np.pi * np.sqrt(1.0 - r * r))

    return float(ndtr(h)) ** 2 + quad(dens, 0.0, rho, epsabs=1e-15, epsrel=1e-12)[0]


def implied_correlation(pd: float, joint: float) -> float:
    """The rho of the bivariate normal with Phi2(PhiInv(pd), PhiInv(pd); rho) = joint."""
    from scipy.optimize import brentq

    h = float(ndtri(pd))
    return brentq(lambda r: _joint_default(h, r) - joint, -0.999, 0.999, xtol=1e-10)


def implied_annual_correlation(annual_pd: float, rho_macro: float, rho_region: float,
                               rho_sector: float, ar1: float, *, years: int = 4000,
                               cells: int = 64, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Implied annual asset correlation of two firms, by Monte Carlo over the engine's factors.

    Over a 12-month year a firm with annual PD p is drawn monthly at threshold
    c = PhiInv(p_m), p_m = 1 - (1 - p)^(1/12) (`monthly_pd`). Given the year's factor path,
    firms in the same region and sector default independently, each month with probability
    Phi((c - s_t) / sigma), s_t = sqrt(r_m) Z_macro,t + sqrt(r_r) Z_region,t + sqrt(r_s) Z_sector,t,
    sigma = sqrt(1 - r_m - r_r - r_s); so a firm's conditional annual PD is

        P_year = 1 - prod_{t=1..12} (1 - Phi((c - s_t) / sigma)),

    which integrates out the idiosyncratic noise exactly (no firm-level draws). Then
    E[P_year] = p and the probability that two firms both default in the year is
    E[P_year,a P_year,b]: E[P_year^2] for two firms of one cell, and the mean over pairs of
    different cells (shared macro factor only) for two firms in different regions and
    sectors. The implied annual asset correlation is the rho of a one-period Gaussian copula
    with the same marginal and joint default probability,

        Phi2(PhiInv(p), PhiInv(p); rho) = E[P_year,a P_year,b],

    solved by brentq with Phi2 from Plackett's identity (`_joint_default`). This is the
    quantity that the Basel II IRB formula's R sets for one-year defaults, so the two can be
    compared. (In the model a loan that falls overdue is not drawn again during its overdue
    spell and its default is recognised when the spell ends; that shifts recognition by a few
    months and is ignored here.)

    Factors come from `draw_factors` with `cells` regions and `cells` sectors; cell j is
    (region j, sector j), so cells share only the macro factor. Each year starts from the
    stationary distribution (`previous=None` draws N(0, 1)) and runs 12 AR(1) months, so
    years are independent. p is estimated by the sample mean of P_year. The standard error
    is the delta method over the independent years: rho_hat = g(p_hat, J_hat) with
    dg = (dJ - 2 Phi(c1 sqrt((1 - rho) / (1 + rho))) dp) / phi2(c1, c1; rho), c1 = PhiInv(p).

    Returns {"same_cell": (rho, se), "cross_region": (rho, se), "pd": (p_hat, se)}.
    """
    rng = np.random.default_rng(seed)
    thr = float(ndtri(monthly_pd(annual_pd)))
    sigma = np.sqrt(1.0 - rho_macro - rho_region - rho_sector)
    a_m, a_r, a_s = np.sqrt(rho_macro), np.sqrt(rho_region), np.sqrt(rho_sector)
    log_surv = np.zeros((years, cells))
    for y in range(years):
        f = None
        for _ in range(12):
            f = draw_factors(rng, cells, cells, f, ar1)
            s = a_m * f[0] + a_r * f[1] + a_s * f[2]
            log_surv[y] += log_ndtr((s - thr) / sigma)  # log(1 - Phi((c - s) / sigma))
    p_year = -np.expm1(log_surv)  # (years, cells)
    mean_y = p_year.mean(axis=1)
    same_y = (p_year ** 2).mean(axis=1)
    tot = p_year.sum(axis=1)
    cross_y = (tot ** 2 - (p_year ** 2).sum(axis=1)) / (cells * (cells - 1))

    p_hat = float(mean_y.mean())
    c1 = float(ndtri(p_hat))
    out = {"pd": (p_hat, float(mean_y.std(ddof=1) / np.sqrt(years)))}
    for key, joint_y in (("same_cell", same_y), ("cross_region", cross_y)):
        rho = implied_correlation(p_hat, float(joint_y.mean()))
        dens = np.exp(-c1 * c1 / (1.0 + rho)) / (2.0 * np.pi * np.sqrt(1.0 - rho * rho))
        dj_dp = 2.0 * ndtr(c1 * np.sqrt((1.0 - rho) / (1.0 + rho)))
        infl = (joint_y - dj_dp * mean_y) / dens
        out[key] = (rho, float(infl.std(ddof=1) / np.sqrt(years)))
    return out
