"""Local-government risk-compensation funds (风险补偿资金) with a claims queue.

A fund is a pot of fiscal cash: a provincial pool, one fund per city or county, or a special
pool. It starts with an endowment, receives appropriations (typically once a year) and
reimburses claimants (a guarantor that paid a bank's loss first, or a bank) for their share
of defaulted loans. When its cash runs short, claims wait.

Queue rule. A claim is filed in a month and owed by one fund to one claimant. Each month
`pay(month, delay)` lets every fund pay the claims filed at least `delay` months ago, the
OLDEST filing month first; claims filed in the same month are paid pro rata across
claimants; the fund pays until its cash runs out, and what it could not pay stays queued.
Unpaid claims always roll over into the next year. At year end (`close_year`) a fund either
carries its unspent cash forward or lapses it back to the treasury. A month's calls go:
`file` the month's claims, `pay`, `abandon`; `appropriate` at a year's start and `close_year`
after its last month.

Priority (optional, `priority` of `pay` and `abandon`: bool per fund and claimant, as
Jiangxi's performance-linked payouts, sim/config/schema.py PriorityConfig). A fund pays the
claims of its priority claimants first, oldest filing month first among them, and the others'
with the cash left, by the same rule. A priority claim waits only behind the priority claims
ahead of it; any other claim waits behind every queued priority claim as well.

Abandonment. A claimant gives up part of a queued claim when the expected remaining wait is
long. For fund f and filing month m,

    W[f, m] = max(Q[f, m] - balance[f], 0) / inflow[f]        (months)
    a[f, m, c] = 1 - exp(-max(W[f, m] - patience[c], 0) / scale[c])

where Q[f, m] is the yuan queued at fund f filed at or before month m (the claim and all
ahead of it), inflow the fund's expected new cash per month, and a the fraction of the claim
(yuan and count alike) abandoned this month; the claimant keeps that loss. W is infinite
when a shortfall meets a zero inflow, so such claims are dropped at once unless patience is
infinite. Subtracting the cash on hand is this module's addition to the plain Q / inflow:
without it a well-endowed fund with no yearly appropriation would see every claim abandoned,
including claims it is about to pay once their administrative delay has passed.

Metrics:
- arrival rate = paid / filed, per fund or pooled (the model's 到位率, `funds_arrival_rate`, is
  paid / due: it also counts what failed the funds' caps or review; the Hunan report puts it at
  46.3% on average, docs/sources.md#hunan-report-h);
- queue, in yuan (`queued_amount`) and in claims (`queued_count`), and the age of the oldest
  queued claim (`oldest_wait`);
- delay of paid yuan, months from filing to payment, as a yuan-weighted quantile
  (`delay_quantile`: 0.5 for the median, 0.9 for the 90th percentile); abandoned claims are
  not in it, which is why abandonment is reported beside it;
- abandonment, in yuan (`abandoned`) and as a share of filed yuan (`abandonment_rate`);
- funds unpaid two years running (`counties_unpaid_two_years`): a fund's year is unpaid when
  it had claims due (older than the delay at a `pay` call that year) and paid nothing.

Conservation, checked by `check()`: per fund, endowed + appropriated - paid - lapsed =
balance, and filed - paid - abandoned = queued, in yuan and in claim counts.

A claim's count is a float: one simulated loan may stand for many real ones, and partial
payments and abandonment reduce the count in proportion to the yuan. Everything is
deterministic; a random outcome is the caller's to draw and pass in.
"""

from __future__ import annotations

import numpy as np

# Abandonment shrinks a claim geometrically and never to zero; what falls below this many yuan
# is written off as abandoned so that it stops holding the queue window (and oldest_wait) open.
DUST = 1e-6

# Relative slack when a payment "covers" a filing month or a cumulative share "reaches" a
# quantile: without it, cash equal to the queue could leave a 1e-16 residue unpaid.
_EPS = 1e-12


class CompensationFunds:
    """Cash, claims queue and ledgers of `n_funds` funds owing `n_claimants` claimants over
    `span` months (0-based months 0..span-1). Arrays are indexed [fund], [fund, claimant] or
    [fund, filing month, claimant]."""

    def __init__(self, n_funds: int, n_claimants: int, span: int):
        if n_funds < 1 or n_claimants < 1 or span < 1:
            raise ValueError("n_funds, n_claimants and span must be positive")
        self.n_funds, self.n_claimants, self.span = int(n_funds), int(n_claimants), int(span)
        f, c, s = self.n_funds, self.n_claimants, self.span
        self.balance = np.zeros(f)
        self.queue = np.zeros((f, s, c))   # yuan still owed, by filing month
        self.count = np.zeros((f, s, c))   # claims still owed, by filing month
        # queue summed over claimants, updated with every row touched, so that the monthly
        # calls read whole rows at (funds x months) cost and touch only the rows that change
        self._total = np.zeros((f, s))
        # cumulative ledgers, per fund
        self.endowed = np.zeros(f)
        self.appropriated = np.zeros(f)
        self.paid = np.zeros(f)
        self.filed = np.zeros(f)
        self.abandoned = np.zeros(f)
        self.lapsed = np.zeros(f)
        # advances paid out ahead of any claim (the circuit-breaker's), and what came back
        self.advanced = np.zeros(f)
        self.returned = np.zeros(f)
        self.filed_count = np.zeros(f)
        self.paid_count = np.zeros(f)
        self.abandoned_count = np.zeros(f)
        # cumulative ledgers, per fund and claimant
        self.filed_by_claimant = np.zeros((f, c))
        self.paid_by_claimant = np.zeros((f, c))
        self.abandoned_by_claimant = np.zeros((f, c))
        self.paid_by_wait = np.zeros((f, s))  # yuan paid, by months waited
        # year-end state
        self.unpaid_run = np.zeros(f, dtype=np.int64)      # current consecutive unpaid years
        self.longest_unpaid_run = np.zeros(f, dtype=np.int64)
        self._paid_this_year = np.zeros(f)
        self._due_this_year = np.zeros(f, dtype=bool)
        self._last_close: int | None = None
        # Filing months [_lo, _hi) hold everything queued: the monthly calls work on this
        # window only, so their cost follows the months with queued claims, not the span.
        self._lo = self._hi = 0

    # ------------------------------------------------------------------------- cash in
    def endow(self, amount) -> None:
        """Add initial (or one-off) capital to each fund; `amount` broadcasts to (n_funds,)."""
        a = self._per_fund(amount, "amount")
        self.balance += a
        self.endowed += a

    def appropriate(self, amount) -> None:
        """Add an appropriation (e.g. the yearly budget) to each fund; broadcasts to (n_funds,)."""
        a = self._per_fund(amount, "amount")
        self.balance += a
        self.appropriated += a

    def advance(self, fund: int, amount: float) -> float:
        """Pay `amount` out of `fund` now, ahead of its queue (an advance against losses to
        come), as far as its cash goes; return what was paid."""
        a = min(max(float(amount), 0.0), max(float(self.balance[fund]), 0.0))
        self.balance[fund] -= a
        self.advanced[fund] += a
        return a

    def take_back(self, fund: int, amount: float) -> None:
        """An unused advance comes back to `fund`."""
        a = max(float(amount), 0.0)
        self.balance[fund] += a
        self.returned[fund] += a

    # ------------------------------------------------------------------------- claims in
    def file(self, month: int, fund, claimant, amount, count=1.0, checked: bool = False) -> None:
        """Queue claims filed in `month`: entry i owes `amount[i]` yuan (`count[i]` claims)
        from fund `fund[i]` to claimant `claimant[i]`. Arrays broadcast to one length.
        `checked`: the caller passes equal-length arrays of valid claims (positive amounts and
        counts, indices in range), so the checks are skipped (the model's monthly call)."""
        if checked:
            return self._file(month, fund, claimant, amount, count)
        month = self._month(month)
        fund, claimant, amount, count = np.broadcast_arrays(
            np.asarray(fund), np.asarray(claimant), np.asarray(amount, dtype=float),
            np.asarray(count, dtype=float))
        fund, claimant = fund.ravel().astype(np.intp), claimant.ravel().astype(np.intp)
        amount, count = amount.ravel(), count.ravel()
        if amount.size == 0:
            return
        if not (np.all(np.isfinite(amount)) and np.all(np.isfinite(count))):
            raise ValueError("claim amounts and counts must be finite")
        if np.any(amount < 0) or np.any(count < 0):
            raise ValueError("claim amounts and counts must be non-negative")
        if np.any((amount > 0) != (count > 0)):
            raise ValueError("a claim has a positive amount exactly when it has a positive count")
        if (np.any((fund < 0) | (fund >= self.n_funds))
                or np.any((claimant < 0) | (claimant >= self.n_claimants))):
            raise IndexError("fund or claimant index out of range")
        keep = amount > 0
        if not keep.any():
            return
        self._file(month, fund[keep], claimant[keep], amount[keep], count[keep])

    def _file(self, month: int, fund, claimant, amount, count) -> None:
        f, c, n = self.n_funds, self.n_claimants, self.n_funds * self.n_claimants
        flat = fund * c + claimant
        add = np.bincount(flat, weights=amount, minlength=n).reshape(f, c)
        add_n = np.bincount(flat, weights=count, minlength=n).reshape(f, c)
        self.queue[:, month, :] += add
        self.count[:, month, :] += add_n
        self._total[:, month] = self.queue[:, month, :].sum(axis=1)
        self.filed += add.sum(axis=1)
        self.filed_count += add_n.sum(axis=1)
        self.filed_by_claimant += add
        if self._lo >= self._hi:
            self._lo, self._hi = month, month + 1
        else:
            self._lo, self._hi = min(self._lo, month), max(self._hi, month + 1)

    # ------------------------------------------------------------------------- claims out
    def pay(self, month: int, delay=0, priority=None) -> np.ndarray:
        """Each fund pays its claims filed at least `delay` months before `month` (scalar or
        per fund), oldest filing month first, pro rata within a month, until its cash runs
        out. `priority` (bool, broadcast to (n_funds, n_claimants)): those claimants' claims
        are paid first, then the rest. Returns the (n_funds, n_claimants) yuan paid this month."""
        month = self._month(month)
        if isinstance(delay, int) and delay >= 0:  # one whole delay for every fund
            delay = np.full(self.n_funds, delay, np.int64)
        else:
            delay = np.broadcast_to(np.asarray(delay), (self.n_funds,))
            if np.any(delay < 0) or np.any(delay != np.floor(delay)):
                raise ValueError("delay must be a non-negative whole number of months")
            delay = delay.astype(np.int64)
        if priority is not None:
            first = np.broadcast_to(np.asarray(priority, bool), (self.n_funds, self.n_claimants))
            if first.any():
                out = self._pay(month, delay, first)
                return out + self._pay(month, delay, ~first)
        return self._pay(month, delay, None)

    def _pay(self, month: int, delay: np.ndarray, who) -> np.ndarray:
        """`pay` for the claims of the claimants marked in `who` ((n_funds, n_claimants) bool;
        None: every claimant)."""
        out = np.zeros((self.n_funds, self.n_claimants))
        lo, hi = self._lo, min(self._hi, month - int(delay.min()) + 1)
        if hi <= lo:
            return out
        months = np.arange(lo, hi)
        due = months[None, :] <= (month - delay)[:, None]         # (funds, months)
        queued = self._total[:, lo:hi] if who is None else (self.queue[:, lo:hi, :] * who[:, None, :]).sum(axis=2)
        owed = np.where(due, queued, 0.0)
        owed_fund = owed.sum(axis=1)
        self._due_this_year |= owed_fund > 0
        if (who is None and hi == self._hi and due.all()
                and (owed_fund <= np.maximum(self.balance, 0.0)).all()):
            return self._pay_all(month, lo, hi)
        ahead = np.zeros_like(owed)
        np.cumsum(owed[:, :-1], axis=1, out=ahead[:, 1:])
        cash = np.maximum(self.balance, 0.0)[:, None]
        pay = np.clip(cash - ahead, 0.0, owed)
        frac = np.divide(pay, owed, out=np.zeros_like(owed), where=owed > 0)
        frac[frac >= 1.0 - _EPS] = 1.0
        rf, rm = np.nonzero(frac)
        if rf.size == 0:
            return out
        share = frac[rf, rm][:, None] if who is None else frac[rf, rm][:, None] * who[rf]
        paid, paid_n = self._take(rf, rm + lo, share)
        np.add.at(out, rf, paid)
        per_fund = out.sum(axis=1)
        self.balance -= per_fund
        self.paid += per_fund
        self.paid_count += np.bincount(rf, weights=paid_n.sum(axis=1), minlength=self.n_funds)
        self.paid_by_claimant += out
        self._paid_this_year += per_fund
        self.paid_by_wait[rf, month - (rm + lo)] += paid.sum(axis=1)  # (fund, month) pairs are unique
        self._advance()
        return out

    def _pay_all(self, month: int, lo: int, hi: int) -> np.ndarray:
        """Every queued claim is due and every fund's cash covers its queue: pay them all (what
        the general rule gives then, in fewer steps: the common month of a well-funded fund)."""
        q, n = self.queue[:, lo:hi, :], self.count[:, lo:hi, :]
        out = q.sum(axis=1)
        per_fund = out.sum(axis=1)
        self.paid_by_wait[:, month - hi + 1:month - lo + 1] += self._total[:, lo:hi][:, ::-1]
        self.paid_count += n.sum(axis=(1, 2))
        q[...] = 0.0
        n[...] = 0.0
        self._total[:, lo:hi] = 0.0
        self.balance -= per_fund
        self.paid += per_fund
        self.paid_by_claimant += out
        self._paid_this_year += per_fund
        self._lo = self._hi = hi
        return out

    def abandon(self, month: int, inflow_per_month, patience, scale, delay: int = 0,
                priority=None) -> np.ndarray:
        """Claimants give up the fraction a = 1 - exp(-max(W - patience, 0) / scale) of each
        queued claim, W being its expected remaining wait in months (module docstring): the
        months left of the review `delay` plus the wait for cash.
        `inflow_per_month` is (n_funds,); `patience` and `scale` (months, scale > 0) are
        scalars or broadcast to (n_claimants,) or (n_funds, n_claimants); `priority` as in
        `pay` (a priority claim waits behind priority claims only). Returns the
        (n_funds, n_claimants) yuan abandoned this month."""
        month = self._month(month)
        out = np.zeros((self.n_funds, self.n_claimants))
        inflow = self._per_fund(inflow_per_month, "inflow_per_month")
        shape = (self.n_funds, self.n_claimants)
        patience = np.broadcast_to(np.asarray(patience, dtype=float), shape)
        scale = np.broadcast_to(np.asarray(scale, dtype=float), shape)
        if np.any(np.isnan(patience)) or np.any(patience < 0):
            raise ValueError("patience must be non-negative (inf: never abandon)")
        if not np.all(scale > 0):
            raise ValueError("scale must be positive")
        lo, hi = self._lo, min(self._hi, month + 1)
        if hi <= lo:
            return out
        if priority is not None:
            first = np.broadcast_to(np.asarray(priority, bool), shape)
            if first.any():
                return self._abandon_with_priority(month, lo, hi, inflow, patience, scale,
                                                   delay, first, out)
        total = self._total[:, lo:hi]
        ahead = np.cumsum(total, axis=1)                          # this month and older
        short = np.maximum(ahead - np.maximum(self.balance, 0.0)[:, None], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            wait = np.where(short > 0, short / inflow[:, None], 0.0)
        if delay:  # a claim still under review waits the rest of it first
            wait = wait + np.maximum(np.arange(lo, hi) + delay - month, 0)[None, :]
        # Only rows where some claimant's patience is exceeded change; the rest cost nothing.
        rf, rm = np.nonzero((wait > patience.min(axis=1)[:, None]) & (total > 0))
        if rf.size == 0:
            return out
        return self._give_up(rf, rm, lo, wait[rf, rm][:, None], patience[rf], scale, out)

    def _give_up(self, rf, rm, lo, w, p, scale, out):
        """Claims in (fund rf, month lo + rm) that have waited w against patience p: the share
        1 - exp(-(w - p) / scale) is abandoned (into `out`, by fund and claimant, and booked)."""
        # compare before subtracting: inf - inf would be NaN, and must mean "no excess"
        with np.errstate(invalid="ignore"):
            excess = np.where(w > p, w - p, 0.0)
        gone, gone_n = self._take(rf, rm + lo, -np.expm1(-excess / scale[rf]), dust=True)
        np.add.at(out, rf, gone)
        self.abandoned += out.sum(axis=1)
        self.abandoned_count += np.bincount(rf, weights=gone_n.sum(axis=1), minlength=self.n_funds)
        self.abandoned_by_claimant += out
        self._advance()
        return out

    def _abandon_with_priority(self, month, lo, hi, inflow, patience, scale, delay, first, out):
        """`abandon` when some claimants have priority: each claim's wait is taken over the
        queue ahead of it in its class (a priority claim: the priority claims filed at or
        before it; another claim: every queued priority claim and the others filed at or
        before it)."""
        q = self.queue[:, lo:hi, :]
        qp = (q * first[:, None, :]).sum(axis=2)                   # (funds, months)
        qn = np.maximum(self._total[:, lo:hi] - qp, 0.0)
        cash = np.maximum(self.balance, 0.0)[:, None]
        ahead = np.stack((np.cumsum(qp, axis=1), qp.sum(axis=1)[:, None] + np.cumsum(qn, axis=1)))
        short = np.maximum(ahead - cash[None], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            wait = np.where(short > 0, short / inflow[None, :, None], 0.0)  # (class, funds, months)
        if delay:
            wait = wait + np.maximum(np.arange(lo, hi) + delay - month, 0)[None, None, :]
        # per claimant: its class's wait (funds, months, claimants)
        w_all = np.where(first[:, None, :], wait[0][:, :, None], wait[1][:, :, None])
        with np.errstate(invalid="ignore"):
            hit = (w_all > patience[:, None, :]) & (q > 0)
        rf, rm = np.nonzero(hit.any(axis=2))
        if rf.size == 0:
            return out
        return self._give_up(rf, rm, lo, w_all[rf, rm], patience[rf], scale, out)

    # ------------------------------------------------------------------------- year end
    def close_year(self, month: int, lapse=None) -> np.ndarray:
        """Year-end bookkeeping after the year's last `pay`: count unpaid years (claims due,
        nothing paid) into each fund's run, then return the unspent cash of lapsing funds
        (`lapse`, bool (n_funds,); default none lapse) to the treasury. Queued claims stay
        queued. Returns the (n_funds,) yuan lapsed."""
        month = self._month(month)
        if self._last_close is not None and month <= self._last_close:
            raise ValueError(f"year already closed at month {self._last_close}")
        self._last_close = month
        unpaid = self._due_this_year & (self._paid_this_year <= 0)
        self.unpaid_run = np.where(unpaid, self.unpaid_run + 1, 0)
        self.longest_unpaid_run = np.maximum(self.longest_unpaid_run, self.unpaid_run)
        self._paid_this_year[:] = 0.0
        self._due_this_year[:] = False
        lapse = np.zeros(self.n_funds, dtype=bool) if lapse is None else \
            np.broadcast_to(np.asarray(lapse, dtype=bool), (self.n_funds,))
        out = np.where(lapse, self.balance, 0.0)
        self.balance -= out
        self.lapsed += out
        return out

    # ------------------------------------------------------------------------- read-outs
    def queued_amount(self) -> np.ndarray:
        """(n_funds,) yuan still owed."""
        return self._total[:, self._lo:self._hi].sum(axis=1)

    def queued_by_claimant(self) -> np.ndarray:
        """(n_funds, n_claimants) yuan still owed."""
        return self.queue[:, self._lo:self._hi, :].sum(axis=1)

    def queued_count(self) -> np.ndarray:
        """(n_funds,) claims still owed."""
        return self.count[:, self._lo:self._hi, :].sum(axis=(1, 2))

    def oldest_wait(self, month: int) -> np.ndarray:
        """(n_funds,) months since the oldest still-queued claim was filed; 0 if none."""
        month = self._month(month)
        if self._hi <= self._lo:
            return np.zeros(self.n_funds, dtype=np.int64)
        has = self._total[:, self._lo:self._hi] > 0
        first = self._lo + has.argmax(axis=1)
        return np.where(has.any(axis=1), np.maximum(month - first, 0), 0)

    def delay_quantile(self, q: float, funds=None, by_fund: bool = False):
        """Months from filing to payment at quantile `q` of paid yuan (smallest wait whose
        cumulative share reaches q): a float pooled over `funds` (index or mask; all by
        default), or with by_fund=True an (n_funds,) array. NaN where nothing was paid."""
        if not 0.0 <= q <= 1.0:
            raise ValueError("q must be in [0, 1]")
        hist = self.paid_by_wait if by_fund else self.paid_by_wait[self._select(funds)].sum(axis=0)[None]
        cum = np.cumsum(hist, axis=1)
        total = cum[:, -1:]
        reached = (cum >= q * total * (1.0 - _EPS)) & (cum > 0)
        res = np.where(total[:, 0] > 0, reached.argmax(axis=1).astype(float), np.nan)
        return res if by_fund else float(res[0])

    def arrival_rate(self, funds=None, by_fund: bool = False):
        """Arrival rate (到位率) paid / filed: pooled over `funds` (index or mask; all by
        default), or with by_fund=True per fund. NaN where nothing was filed."""
        return self._ratio(self.paid, self.filed, funds, by_fund)

    def abandonment_rate(self, funds=None, by_fund: bool = False):
        """Abandoned / filed, pooled over `funds` or per fund; NaN where nothing was filed."""
        return self._ratio(self.abandoned, self.filed, funds, by_fund)

    def counties_unpaid_two_years(self, funds=None) -> int:
        """Number of funds (among `funds`, index or mask; all by default) that have had two or
        more consecutive unpaid years."""
        return int(np.count_nonzero(self.longest_unpaid_run[self._select(funds)] >= 2))

    def check(self, rtol: float = 1e-6) -> dict[str, float]:
        """Check the conservation identities per fund, in yuan and counts; return the largest
        relative residual of each and raise AssertionError if one exceeds `rtol`."""
        def rel(terms, resid):
            return float(np.max(np.abs(resid) / np.maximum(np.max(np.abs(terms), axis=0), 1.0)))

        owed = self.queue.sum(axis=1)  # the whole span: nothing may hide outside the window
        res = {
            "cash": rel([self.endowed, self.appropriated, self.paid, self.lapsed, self.balance,
                         self.advanced, self.returned],
                        self.endowed + self.appropriated + self.returned - self.paid - self.advanced
                        - self.lapsed - self.balance),
            "claims": rel([self.filed, self.paid, self.abandoned],
                          self.filed - self.paid - self.abandoned - owed.sum(axis=1)),
            "count": rel([self.filed_count, self.paid_count, self.abandoned_count],
                         self.filed_count - self.paid_count - self.abandoned_count
                         - self.count.sum(axis=(1, 2))),
            "claimant": rel([self.filed_by_claimant, self.paid_by_claimant, self.abandoned_by_claimant],
                            self.filed_by_claimant - self.paid_by_claimant - self.abandoned_by_claimant
                            - owed),
            "queue_total": rel([self._total], self._total - self.queue.sum(axis=2)),
        }
        bad = {k: v for k, v in res.items() if not v <= rtol}
        if bad:
            raise AssertionError(f"conservation broken (relative residuals): {bad}")
        return res

    # ------------------------------------------------------------------------- helpers
    def _month(self, month) -> int:
        m = int(month)
        if m != month or not 0 <= m < self.span:
            raise ValueError(f"month must be a whole number in 0..{self.span - 1}, got {month}")
        return m

    def _per_fund(self, x, name: str) -> np.ndarray:
        a = np.broadcast_to(np.asarray(x, dtype=float), (self.n_funds,)).copy()
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"{name} must be finite and non-negative")
        return a

    def _select(self, funds):
        return slice(None) if funds is None else np.asarray(funds)

    def _ratio(self, num, den, funds, by_fund):
        if not by_fund:
            s = self._select(funds)
            num, den = np.atleast_1d(num[s].sum()), np.atleast_1d(den[s].sum())
        res = np.divide(num, den, out=np.full(den.shape, np.nan), where=den > 0)
        return res if by_fund else float(res[0])

    def _take(self, rf, rm, frac, dust: bool = False):
        """Remove the fraction `frac` ((k, 1) or (k, n_claimants)) of the queued rows (fund rf,
        filing month rm); return the (k, n_claimants) yuan and counts removed. With `dust`,
        what is left below DUST yuan goes too."""
        q, n = self.queue[rf, rm], self.count[rf, rm]
        took, took_n = q * frac, n * frac
        q, n = q - took, n - took_n
        if dust:
            small = (q <= DUST) & ((q > 0) | (n > 0))
            took += np.where(small, q, 0.0)
            took_n += np.where(small, n, 0.0)
            q[small] = 0.0
            n[small] = 0.0
        self.queue[rf, rm], self.count[rf, rm] = q, n
        self._total[rf, rm] = q.sum(axis=1)
        return took, took_n

    def _advance(self) -> None:
        """Move the window's start past filing months with nothing left queued."""
        lo, hi = self._lo, self._hi
        if hi <= lo:
            return
        live = (self._total[:, lo:hi] > 0).any(axis=0)
        self._lo = lo + int(live.argmax()) if live.any() else hi
