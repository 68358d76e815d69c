"""The loss waterfall: who pays how much of each defaulted loan.

For defaulted loans i with loss L_i and tranches j with shares s_j (summing to 1):

1. each tranche wants  d_ij = min(s_j L_i, cap_per_loan_j);
2. every payer p (a tranche's payer, e.g. one regional guarantor) has a budget B_p for
   this batch: its cash, and what is left of its portfolio cap. When its tranches want
   more than B_p in total, every claim on it is scaled by the same factor B_p / sum d
   (all loans of the month are treated alike, none is served first);
3. what no payer pays is the shortfall  S_i = L_i - sum_j paid_ij >= 0, recorded and
   booked to a configured bearer.

So  sum_j paid_ij + S_i = L_i  for every loan, by construction, and no payer pays more
than its budget. Recoveries (later) go back to whoever bore the loss, pro rata.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    paid: np.ndarray  # (n_loans, n_tranches) yuan paid by each tranche for each loan
    shortfall: np.ndarray  # (n_loans,) yuan nobody paid
    by_payer: np.ndarray  # (n_payers,) yuan each payer paid in total


def split_losses(loss: np.ndarray, shares: np.ndarray, payer: np.ndarray,
                 budget: np.ndarray, cap_per_loan: np.ndarray | None = None) -> Split:
    """Split `loss` (n,) across tranches.

    shares: (k,) fractions of each loss, or (n, k) for shares that differ by loan; payer: (n, k) or (k,) integer index of the payer
    of tranche j for loan i into `budget` (m,), the most each payer can pay in this batch
    (np.inf for no limit); cap_per_loan: (k,) largest payment per loan (np.inf: none).
    """
    loss = np.asarray(loss, dtype=float)
    shares = np.asarray(shares, dtype=float)
    budget = np.asarray(budget, dtype=float)
    n, k = loss.shape[0], shares.shape[-1]
    payer = np.broadcast_to(np.asarray(payer, dtype=np.intp), (n, k))
    desired = loss[:, None] * (shares if shares.ndim == 2 else shares[None, :])
    if cap_per_loan is not None:
        desired = np.minimum(desired, np.asarray(cap_per_loan, dtype=float)[None, :])
    demand = np.bincount(payer.ravel(), weights=desired.ravel(), minlength=budget.shape[0])
    room = np.maximum(budget, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = np.where(demand > room, np.minimum(room / demand, 1.0), 1.0)
    paid = desired * scale[payer]
    shortfall = loss - paid.sum(axis=1)
    # Shares that sum to 1 leave float dust (~1e-8 yuan); below a hundredth of a fen it is
    # not a shortfall, and conservation still holds to the fen.
    shortfall[shortfall < 1e-4] = 0.0
    by_payer = np.bincount(payer.ravel(), weights=paid.ravel(), minlength=budget.shape[0])
    return Split(paid=paid, shortfall=shortfall, by_payer=by_payer)
