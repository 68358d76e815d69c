"""Pure functions behind three policy instruments (issue 16, items 4-6), testable without Mesa:
Jiangxi's performance-linked payouts, the first-loan programme (首贷培植) and platform lenders.
The model (sim/model.py) holds their state and calls these; docs/levers.md says what each
does and where its numbers come from.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# The province's first-loan target (Hunan, docs/sources.md#hunan-report-h):
# H「首貸戶占比每年提升不少于2個百分點,2030年達到30%以上」.
TARGET_RISE = 0.02  # first-time-borrower share: at least +2 points a year
TARGET_SHARE = 0.30  # ... and at least 30% in TARGET_YEAR
TARGET_YEAR = 2030
TARGET_FROM = 2026  # the plan's years (2026-2030)


def data_contributors(share: float, n_guarantors: int, uses_guarantor: bool) -> np.ndarray:
    """Which claimants (guarantors 0..G-1, then the banks as one claimant) contribute data:
    round(share x G) guarantors picked in a fixed shuffled order (the same in every replication,
    so a paired comparison keeps the same set), or the banks when they are the claimant and
    share >= 0.5."""
    out = np.zeros(n_guarantors + 1, bool)
    if uses_guarantor:
        k = int(round(share * n_guarantors))
        out[np.random.default_rng(1).permutation(n_guarantors)[:k]] = True
    else:
        out[n_guarantors] = share >= 0.5
    return out


def npl_ratios(npl: np.ndarray, outstanding: np.ndarray) -> np.ndarray:
    """NPL ratio (不良率) per claimant = NPL stock / (outstanding + NPL stock); NaN without
    loans (no record: cannot qualify)."""
    total = outstanding + npl
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.maximum(npl, 0.0) / np.where(total > 0, total, 1.0), np.nan)


def qualifies(npl_ratio: np.ndarray, threshold: float, book: np.ndarray, claimant: np.ndarray) -> np.ndarray:
    """Claimants that earn priority and the reward: scheme NPL ratio below the threshold
    (J: 「不良率控制在1%以內」) and a wide reach (J: 「服務覆蓋面廣」), read as a scheme book
    (outstanding + NPL) at least the median of the claimants' (`claimant`: who files claims
    under the scheme). Without the second rule a guarantor with a handful of loans and no
    default yet would qualify by chance."""
    wide = book >= np.median(book[claimant]) if claimant.any() else np.zeros_like(claimant)
    return (np.nan_to_num(npl_ratio, nan=np.inf) < threshold) & wide & claimant


def reward_split(total: float, book: np.ndarray, good: np.ndarray) -> np.ndarray:
    """The year's reward money shared by the qualifying claimants in proportion to their
    scheme books (equal shares if the books are all empty)."""
    b = book[good]
    return total * (b / b.sum() if b.sum() > 0 else np.full(b.shape, 1.0 / b.shape[0]))


def tax_grade_signal(logit_pd: np.ndarray, z: np.ndarray, noise: float) -> np.ndarray:
    """A firm's tax-credit standing (纳税信用) as a noisy signal of its PD: logit(PD) + noise z.
    Lower is better; B or better below the population's `grade_b_share` quantile."""
    return logit_pd + noise * z


def platform_logit_limit(max_expected_loss: float, lgd: float) -> float:
    """The platform lends when its estimated PD x LGD is within its appetite: the limit on its
    logit-PD estimate (+inf when any PD passes)."""
    p = max_expected_loss / lgd if lgd > 0 else math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p) if p > 0 else -math.inf


def first_time_shares(ts: pd.DataFrame, start_year: int) -> pd.Series:
    """First-time-borrower share (首贷户占比) by calendar year of one replication: first-time
    borrowers / firms given a new loan in the year (Σ first_time / Σ new_borrowers), over the
    whole years of the time series."""
    year = start_year + (ts.month.to_numpy() - 1) // 12
    g = pd.DataFrame({"year": year, "first": ts.first_time.to_numpy(), "new": ts.new_borrowers.to_numpy()})
    counts = g.groupby("year").size()
    sums = g.groupby("year")[["first", "new"]].sum()[counts == 12]
    return (sums["first"] / sums["new"].where(sums["new"] > 0)).rename("first_time_share")


def target_verdict(shares: pd.Series) -> dict:
    """Does a path of yearly first-time-borrower shares (indexed by calendar year) meet the
    target (+2 points a year, 30% by 2030)? Judged over the years of the plan, 2026 on
    (TARGET_FROM), leaving out the first simulated year: every firm starts without a credit
    history, so early shares are inflated and fall for about four years (start a run in 2021
    with a 120-month horizon to judge 2026-2030 on a settled population). Met when every year
    judged rises by at least TARGET_RISE on the one before and the last year's share is on
    the path to TARGET_SHARE in TARGET_YEAR (at least TARGET_SHARE - TARGET_RISE x the years
    left). NaN with fewer than two years judged."""
    s = shares.dropna()
    if len(s):
        s = s[(s.index > s.index.min()) & (s.index >= TARGET_FROM)]
    out = {"first_time_share_annual": float(s.mean()) if len(s) else math.nan,
           "first_time_share_last_year": float(s.iloc[-1]) if len(s) else math.nan,
           "first_time_share_rise_min": math.nan, "first_loan_target_met": math.nan}
    if len(s) < 2:
        return out
    rise = float(np.diff(s.to_numpy()).min())
    needed = TARGET_SHARE - TARGET_RISE * max(TARGET_YEAR - int(s.index[-1]), 0)
    out["first_time_share_rise_min"] = rise
    out["first_loan_target_met"] = float(rise >= TARGET_RISE - 1e-12 and s.iloc[-1] >= needed - 1e-12)
    return out
