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
from scipy.special import ndtr, ndtri


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
