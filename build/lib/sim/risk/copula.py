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


def default_threshold(pd: np.ndarray | float) -> np.ndarray | float:
    """PhiInv(pd): the latent value below which a firm defaults."""
    return ndtri(pd)


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


def sample_defaults(rng: np.random.Generator, threshold: np.ndarray, region: np.ndarray,
                    sector: np.ndarray, factors: tuple[float, np.ndarray, np.ndarray],
                    rho_macro: float, rho_region: float, rho_sector: float,
                    shift: np.ndarray | float = 0.0, return_latent: bool = False):
    """Boolean default indicator for each firm given this period's factors.

    `threshold` is PhiInv(pd) per firm; `shift` (added to the systematic part, negative is
    worse) lets shocks move chosen firms without touching the copula itself. With
    `return_latent` the latent values X are returned too (a health index).
    """
    macro, zr, zs = factors
    systematic = (np.sqrt(rho_macro) * macro + np.sqrt(rho_region) * zr[region]
                  + np.sqrt(rho_sector) * zs[sector])
    if not np.isscalar(shift) or shift != 0.0:
        systematic = systematic + shift
    idio = np.sqrt(1.0 - rho_macro - rho_region - rho_sector)
    x = systematic + idio * rng.standard_normal(threshold.shape[0])
    return (x < threshold, x) if return_latent else x < threshold


def systematic_table(factors: tuple[float, np.ndarray, np.ndarray], rho_macro: float,
                     rho_region: float, rho_sector: float) -> np.ndarray:
    """The systematic part of X for every (region, sector) group, flattened: entry
    region * n_sectors + sector. The same floating-point operations, in the same order, as
    `sample_defaults` does firm by firm, so the two agree bit for bit."""
    macro, zr, zs = factors
    table = ((np.sqrt(rho_macro) * macro + np.sqrt(rho_region) * zr)[:, None]
             + np.sqrt(rho_sector) * zs[None, :])
    return table.ravel()


def sample_defaults_grouped(rng: np.random.Generator, threshold: np.ndarray, group: np.ndarray,
                            table: np.ndarray, rho_macro: float, rho_region: float,
                            rho_sector: float, return_latent: bool = False):
    """`sample_defaults` for firms given by group code (see `systematic_table`): one table
    lookup per firm instead of two factor lookups. Same draws, same result."""
    idio = np.sqrt(1.0 - rho_macro - rho_region - rho_sector)
    x = table[group] + idio * rng.standard_normal(threshold.shape[0])
    return (x < threshold, x) if return_latent else x < threshold


def latent_values(factors: tuple[float, np.ndarray, np.ndarray], region: np.ndarray,
                  sector: np.ndarray, rho_macro: float, rho_region: float, rho_sector: float,
                  eps: np.ndarray) -> np.ndarray:
    """X_i for each firm, with its idiosyncratic draw `eps` given (standard normal).

    The same as `sample_defaults` before the comparison with the threshold; the model uses
    it with one draw per firm row and month from its own stream, so a run with a shock and
    the run without it see the same X for the same firm in the same month (common random
    numbers). A default is X < PhiInv(p): the marginal PD is p exactly whatever p is.
    """
    macro, zr, zs = factors
    idio = np.sqrt(1.0 - rho_macro - rho_region - rho_sector)
    return (np.sqrt(rho_macro) * macro + np.sqrt(rho_region) * zr[region]
            + np.sqrt(rho_sector) * zs[sector] + idio * eps)


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
