"""Shares of a loss that move with a loan's or a bank's state: the pure math of the
state-dependent sharing instruments (docs/instruments.md), no Mesa, no config.

Shares are fractions of the post-recovery loss, one per tranche, summing to 1."""

from __future__ import annotations

import numpy as np


def flagged_shares(shares: np.ndarray, public: list[bool], public_share: float) -> np.ndarray:
    """Tranche shares on a loan Anhui's health rule flagged: the public payers' shares together
    rise to `public_share` (pro rata among them; never lowered), the others shrink pro rata
    so the total stays 1. Unchanged when the scheme has no public or no other tranche.
    Works row by row on (n, k) shares too."""
    shares = np.asarray(shares, float)
    if shares.ndim == 2:
        return np.stack([flagged_shares(row, public, public_share) for row in shares]) if shares.shape[0] \
            else shares.copy()
    pub = np.asarray(public, bool)
    out = shares.copy()
    now, rest = shares[pub].sum(), shares[~pub].sum()
    if now <= 0 or rest <= 0 or public_share <= now:
        return out
    up = min(public_share, now + rest)
    out[pub] = shares[pub] * up / now
    out[~pub] = shares[~pub] * (now + rest - up) / rest
    return out


def performance_scores(npl: np.ndarray, first: np.ndarray, credit: np.ndarray,
                       npl_all: float, first_all: float, credit_all: float,
                       weights: tuple[float, float, float]) -> np.ndarray:
    """Each bank's performance score in [-1, 1] for Hunan's dynamic split (长株潭 pilot): its
    NPL ratio below the province's, its first-time-borrower share and credit-loan share above
    the province's, each as a relative gap, weighted and summed:

        score = clip(w_npl (N - n_b) / N + w_first (f_b - F) / F + w_credit (c_b - C) / C, -1, 1)

    A term whose province value is 0 counts 0. NaN inputs (a bank with no loans) count 0."""
    w_npl, w_first, w_credit = weights

    def gap(x, ref, sign):
        if ref <= 0:
            return np.zeros_like(np.asarray(x, float))
        return np.nan_to_num(sign * (np.asarray(x, float) - ref) / ref)

    score = w_npl * gap(npl, npl_all, -1.0) + w_first * gap(first, first_all, 1.0) + w_credit * gap(credit, credit_all, 1.0)
    return np.clip(score, -1.0, 1.0)


def performance_shares(shares: np.ndarray, public: list[bool], guarantor: list[bool],
                       scores: np.ndarray, step: float) -> np.ndarray:
    """(banks, k) shares under Hunan's dynamic split: on bank b's loans the public payers'
    share moves by step x score_b x their share, and the guarantor's share moves the other way
    by as much (the bank's own share does not move); the move is bounded so neither goes
    below 0. Public tranches move pro rata among them."""
    shares = np.asarray(shares, float)
    pub, gua = np.asarray(public, bool), np.asarray(guarantor, bool)
    out = np.repeat(shares[None, :], np.asarray(scores).shape[0], axis=0)
    p, g = shares[pub].sum(), shares[gua].sum()
    if p <= 0 or g <= 0:
        return out
    delta = np.clip(step * np.asarray(scores, float) * p, -p, g)
    out[:, pub] = shares[pub][None, :] * ((p + delta) / p)[:, None]
    out[:, gua] = shares[gua][None, :] * ((g - delta) / g)[:, None]
    return out
