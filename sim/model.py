"""The government-bank-guarantor (政银担) model: one Mesa model per replication.

In plain words: a province's small firms, each with its own default risk, apply for bank
loans at a rate set by their credit file; fewer apply the dearer the loan (interest plus
guarantee fee, less subsidies). Each firm banks with one of many banks. The bank reads a
noisy signal of the firm's risk (sharper when the firm's data is on the sharing platform,
blunter without a credit file) and lends on its own to firms it judges safe enough. For the
rest, a bank that has joined the scheme asks for cover when its expected loss on the share it
*effectively* keeps is acceptable; the less it keeps the less carefully it screens. Banks join
the scheme only while that kept share is within their tolerance. The county's government
guarantor reads its own signal and guarantees the loan when its expected loss on the share
*it* effectively keeps (its tranche plus what it pays first and expects not to get back) is
covered by its net fee and tolerated loss, and its leverage cap leaves room. Refused firms
borrow informally and are less likely to survive.

Each month loans age; those at term are repaid and free the guarantee; some fall overdue and
default, together in bad months (a Gaussian copula with persistent macro, region and sector
factors). On a default the bank keeps its tranche; the guarantor pays the bank the rest (代偿)
at once, books receivables for the re-guarantors' and the funds' shares and claims them:
the re-guarantors reimburse a month later unless the guarantor's own claim rate is above
their ceiling; the compensation funds (a provincial pool and one fund per prefecture) pay
their queue oldest first as cash allows, and claims wait, roll over and are abandoned.
Recoveries from collateral come back months later to whoever paid. Guarantors earn fees and
investment income, pay operating costs, stop issuing when outstanding claims pass 180% of net
assets and may be recapitalised; the funds are replenished once a year. Shocks (floods,
droughts, pandemics, sector crashes, downturns; sim/shocks.py) move default and overdue
probabilities, collateral, recoveries and loan demand in chosen places and months.

The step order is an explicit plan (`GuaranteeModel.PLAN`), timed phase by phase. The
institutions are Mesa agents in `model.agents` (the guarantors also in `model.agencies`, an
AgentSet in guarantor order; the banks in `model.banks`); the month's row goes to
`model.datacollector`, which is the one store of the time series (`model.timeseries()`).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

import mesa
import numpy as np
import pandas as pd
from scipy.special import ndtri

from . import incentives, metrics
from .agents import (Bank, BankLedger, BorrowerRecourse, CompensationFunds, GuaranteeAgency,
                     Government, Reguarantor)
from .config import PAYERS, PUBLIC_PAYERS, SimConfig, tranche_payer
from .config.rules import guarantors
from . import kernel
from .firms import DIRECT, NO_LOAN, PERFORMING, SCHEME, FirmPopulation
from .risk import streams
from .risk.copula import draw_factors
from .risk.sharing import flagged_shares, performance_scores, performance_shares
from .risk.waterfall import split_losses
from .shocks import ShockEngine, region_indices

REGUARANTORS = ("reguarantor", "national_fund")  # payers that are Reguarantor agents
REIMBURSERS = (*REGUARANTORS, "pool")  # shares the claimant pays first and claims back
# Screening outcome of an applicant a platform lent to, after the kernel's (0 refused by the
# bank, 2 for the scheme, 3 refused by the guarantor, 4 refused while the bank's scoring model
# is suspended). It was 4 too once, and a suspended model's refusals counted as served.
PLATFORM_LENT = kernel.MODEL_SUSPENDED + 1


def _logit_limit(p: np.ndarray) -> np.ndarray:
    """logit of a probability limit, +inf at or above 1 (no limit) and -inf at or below 0."""
    p = np.clip(np.asarray(p, float), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.ascontiguousarray(np.log(p) - np.log1p(-p))


class GuaranteeModel(mesa.Model):
    # Month by month, in this order (DESIGN §4).
    PLAN = (
        "shocks",  # shock events active this month: onsets, per-firm effects
        "factors",  # draw the systematic macro / region / sector factors
        # the institutions set the month's lending policy from what they know: each
        # guarantor's largest acceptable PD, each bank's use of the scheme (yearly), the limits
        # each bank screens with
        "decide",
        # every firm row, compiled (sim/kernel.py): loans at term repay and release their
        # guarantees; performing loans fall overdue, overdue ones cure or default; firms
        # without a loan close (survival depends on access to credit), entrants take their
        # place, and they decide whether to apply; banks screen the applicants and lend
        # directly, or pass them to the scheme with the guarantor's verdict on their risk
        "firms",
        "claims",  # the guarantor pays the bank (代偿), books receivables, files fund claims
        "recoveries",  # recoveries due; re-guarantors reimburse; the funds pay their queues
        "institutions",  # income and costs, suspension, recapitalisation, yearly budgets
        "lending",  # the guarantors' capacity; new scheme loans; the refused borrow informally
        "metrics",  # this month's row of the time series
    )

    def __init__(self, cfg: SimConfig, rng: np.random.Generator | int | None = None):
        super().__init__(rng=rng)
        self.cfg = cfg
        self.month = 0  # months completed
        self.weight = cfg.province.firms_total / cfg.firms.n  # real firms per simulated firm
        self.shocks = ShockEngine(cfg, self.rng)  # owns the replication key and the factor streams
        self.firms = FirmPopulation(cfg.firms.n, cfg.province, cfg.firms, cfg.bank.data_coverage,
                                    self.shocks.key, n_banks=cfg.bank.count)
        self.n_regions = len(cfg.province.regions)
        self.n_sectors = len(cfg.province.sectors)
        self.region_names = [r.name for r in cfg.province.regions]
        self._factors = None
        self.phase_seconds: dict[str, float] = defaultdict(float)
        span = cfg.horizon + max(cfg.firms.recovery_lag + self.shocks.max_recovery_delay,
                                 cfg.reguarantor.payout_delay, cfg.national_fund.payout_delay) + 2
        self._span = span
        self._build_scheme()
        self._build_institutions()
        # Mesa 3.3 numbers agents through a class-level dict keyed by model (Agent._ids), which
        # keeps every model alive for the life of the process (mesa/mesa#3179, fixed in Mesa
        # 3.4, which needs Python 3.12). Every agent of this model exists now, so the counter
        # is no longer needed: drop it, and a finished replication can be freed.
        mesa.Agent._ids.pop(self, None)
        G = self.n_guarantors
        self._recoveries_due = np.zeros((span, len(self.accounts)))
        self._direct_recoveries_due = np.zeros(span)  # of which on direct loans (the bank's)
        # Receivables: what each claimant (guarantors 0..G-1, the bank G) is owed by the
        # re-guarantors (due by month) and the funds (in their queues).
        self.receivable = np.zeros(G + 1)
        self._reimburse_due = np.zeros((span, len(REGUARANTORS), G + 1))
        # Claims paid and awaiting their recovery date (the guarantor's own share included),
        # by guarantor: with the receivables, its outstanding claims (代偿余额).
        self._pending_due = np.zeros((span, G))
        self.claims_pending = np.zeros(G)
        # NPL as a stock by prefecture (the province's is their sum; the teaching app maps
        # them): defaulted loans until written off at their recovery date.
        self._npl_release_region = np.zeros((span, self.n_regions))
        self._npl_region = np.zeros(self.n_regions)
        # ... and by bank (Hunan's dynamic split scores banks on it)
        self._npl_release_bank = np.zeros((span, cfg.bank.count))
        self._npl_bank = np.zeros(cfg.bank.count)
        # the scheme's part of the NPL stock, apart (NPL inside vs outside the scheme, as J)
        self._npl_release_scheme = np.zeros(span)
        self._npl_scheme = 0.0
        # claims (代偿) and released guarantees by month and guarantor, for 12-month claim rates
        self._claims_hist = np.zeros((span, G))
        # scheme losses at default by month: on loans the health rule flagged, and all
        self._flagged_loss_hist = np.zeros((span, 2))
        self._released_hist = np.zeros((span, G))
        # The time series lives in the DataCollector only, as its table "monthly": the metrics
        # phase computes the month's row once (the columns share intermediate sums) and adds
        # it (one reporter per column would call and deep-copy 100 values a month).
        self.datacollector = mesa.DataCollector(tables={"monthly": list(metrics.columns(self.region_names))})
        self._cum_scheme_volume = np.zeros(len(self.accounts))  # covered volume per account
        self.book = np.zeros(G + 1)  # loan book by guarantor + direct (see below)
        # What the firm kernel hands over each month (buffers reused month after month).
        n = cfg.firms.n
        self._defaulted_buf = np.zeros(n, np.int64)
        self._applicants_buf = np.zeros(n, np.int64)
        self._exits_buf = np.zeros(n, np.int64)
        self._work = np.zeros((2, n), np.int64)
        self._app_amount = np.zeros(n)
        self._app_term = np.zeros(n, np.int16)
        self._app_outcome = np.zeros(n, np.int8)
        # the month's direct loans (kernel.screen), then loans flagged by the health rule
        self._lent = np.zeros(7)
        self._new_direct = 0.0
        self._counts = np.zeros(10, np.int64)
        self._released = np.zeros(G)  # scheme loans repaid, by guarantor (unweighted)
        self._repaid = np.zeros(G + 1)  # loans repaid, by book bucket (unweighted)
        self._no_multiplier = np.zeros(0)
        self.defaulted = np.zeros(0, np.int64)
        self.applicants = np.zeros(0, np.int64)
        self.loans_running = 0  # firms with a loan (after the firm pass, plus new loans)
        self.overdue_count = 0  # loans overdue at month end, and their amount (unweighted)
        self.overdue_amount = 0.0
        self._scheme_share_of_new = 0.5  # firms' expectation of being guaranteed (fee)
        self._funds_busy = False  # claims queued at the funds (else their monthly pass is skipped)
        self.running = True
        self._init_instruments()
        self._phase_decide()
        self._seed_loan_book()

    # ------------------------------------------------------------------ construction
    def _build_institutions(self) -> None:
        c = self.cfg
        self.bank = BankLedger(c.bank.capital)
        # Banks differ: appetites are lognormal quantiles around max_expected_loss, tolerances
        # spread evenly over [0, share_tolerance_max]; paired in a fixed shuffled order (the same
        # for every replication) so the boldest lenders are not also the keenest scheme users.
        nb = c.bank.count
        q = (np.arange(nb) + 0.5) / nb
        s = c.bank.appetite_dispersion
        appetite = (c.bank.max_expected_loss + c.bank.npl_tolerance) * np.exp(s * ndtri(q) - 0.5 * s * s)
        tolerance = c.bank.share_tolerance_max * q[np.random.default_rng(0).permutation(nb)]
        for i in range(nb):
            Bank(self, i, float(appetite[i]), float(tolerance[i]))
        self.banks = self.agents_by_type[Bank]
        self._bank_appetite = appetite
        self.bank_in_scheme = np.zeros(nb, bool)
        # Named scoring models: bank k scores with model k mod M; model m's quality multiplies
        # its banks' signal noise (a fixed shuffled order of normal quantiles, as above).
        n_models = c.bank.scoring_models
        self.model_of_bank = np.arange(nb) % n_models
        z = ndtri((np.arange(n_models) + 0.5) / n_models)[np.random.default_rng(1).permutation(n_models)]
        self.model_noise = np.exp(c.bank.scoring_model_dispersion * z)
        # The circuit-breaker's state per model: month-ends above the NPL threshold in a row,
        # the month its authority comes back (0: not suspended), and the advance the banks
        # owe the provincial pool on it.
        self.model_months_over = np.zeros(n_models, np.int64)
        self.model_suspended_until = np.zeros(n_models, np.int64)
        self.model_advance_out = np.zeros(n_models)
        names, region, capital = guarantors(c)
        self.n_guarantors = len(names)
        self.guarantor_region = region
        # Hunan's dynamic split applies to the loans of the guarantors in its places (their
        # firms' prefectures): 1 in the pilot, 0 outside; every guarantor without places.
        places = c.scheme.performance_split.places
        in_pilot = np.ones(self.n_regions, bool)
        if places:
            in_pilot[:] = False
            in_pilot[region_indices(list(places), c.province)] = True
        self.guarantor_pilot = in_pilot[region].astype(np.int64)
        self._split_everywhere = bool(in_pilot.all())
        for i in range(self.n_guarantors):
            GuaranteeAgency(self, i, int(region[i]), names[i], float(capital[i]), c.guarantor)
        # Mesa's AgentSet of the guarantors, in creation (= index) order: every loop over
        # them below adds money in that order, so the numbers do not depend on the set.
        self.agencies = self.agents_by_type[GuaranteeAgency]
        self._agency_list = list(self.agencies)  # the same agents, for the monthly bookkeeping loops
        self.reguarantor = Reguarantor(self, "reguarantor", c.reguarantor)
        self.national_fund = Reguarantor(self, "national_fund", c.national_fund)
        shares = np.array([r.firm_share for r in c.province.regions])
        self.pool = CompensationFunds(self, c.pool, shares, self.n_guarantors + 1, self._span)
        self.government = Government(self, c.government)
        self.government.spend(c.pool.size + c.pool.city_size + c.pool.special_size, "pool")
        self.borrower = BorrowerRecourse()
        # Waterfall accounts: guarantors occupy one slot each, after the bank.
        self.accounts = [self.bank, *self.agencies, self.reguarantor, self.national_fund,
                         self.pool, self.government, self.borrower]
        self._account_index = {acc.payer: i for i, acc in enumerate(self.accounts)
                               if acc.payer != "guarantor"}
        self._guarantor0 = 1
        self._bearer = self._account_index[c.scheme.shortfall_bearer]

    def _build_scheme(self) -> None:
        s = self.cfg.scheme
        names = list(s.tranches)
        self.tranche_payers = [tranche_payer(n, s.tranches[n]) for n in names]
        self.shares = np.array([s.tranches[n].share for n in names])
        w = self.weight
        # Per-loan caps are for a real loan; a simulated loan stands for `weight` of them.
        self.cap_per_loan = np.array([
            (s.tranches[n].cap_per_loan * w) if s.tranches[n].cap_per_loan is not None else np.inf
            for n in names])
        self.cap_rate = {self.tranche_payers[j]: s.tranches[n].cap_rate
                         for j, n in enumerate(names) if s.tranches[n].cap_rate is not None}
        share_of = lambda p: float(sum(sh for q, sh in zip(self.tranche_payers, self.shares) if q == p))  # noqa: E731
        self.share_of = {p: share_of(p) for p in PAYERS}
        self.bank_share = self.share_of["bank"]
        self.scheme_active = any(p != "bank" for p in self.tranche_payers)
        self.uses_guarantor = "guarantor" in self.tranche_payers
        self.uses_pool = "pool" in self.tranche_payers
        # Who pays first: the guarantor pays the bank every share but the bank's own, the
        # firm's counter-guarantee and the government's (paid from its budget at once), and
        # claims back the re-guarantors' and the funds' shares. Without a guarantor the bank
        # carries those shares itself and claims them.
        self.fronted = [p in ("guarantor", *REIMBURSERS) for p in self.tranche_payers]
        # Liability balance (责任余额) per yuan outstanding: what the guarantor is liable for and
        # has not ceded to re-guarantors.
        self.liability_share = (self.share_of["guarantor"] + self.share_of["pool"]) if self.uses_guarantor else 0.0
        # Shares on loans flagged by Anhui's operating-health rule (scheme.dynamic).
        self.dynamic_shares = flagged_shares(self.shares, [p in PUBLIC_PAYERS for p in self.tranche_payers],
                                             s.dynamic.public_share)
        self.dynamic_on = bool(s.dynamic.enabled) and not np.array_equal(self.dynamic_shares, self.shares)
        self._public = [p in PUBLIC_PAYERS for p in self.tranche_payers]
        self._pool_col = self.tranche_payers.index("pool") if "pool" in self.tranche_payers else -1
        # Hunan's dynamic split (scheme.performance_split): shares by bank, moved once a year
        # from each bank's score; until then every bank's are the scheme's.
        self.performance_on = bool(s.performance_split.enabled)
        self.bank_score = np.zeros(self.cfg.bank.count)
        self._set_bank_shares()

    def _set_bank_shares(self) -> None:
        """Each bank's tranche shares (Hunan's dynamic split; the scheme's without it), and the
        same on loans Anhui's health rule flagged."""
        ps = self.cfg.scheme.performance_split
        self.bank_shares = performance_shares(self.shares, self._public,
                                              [p == "guarantor" for p in self.tranche_payers],
                                              self.bank_score, ps.step if self.performance_on else 0.0)
        self.bank_dynamic_shares = flagged_shares(self.bank_shares, self._public, self.cfg.scheme.dynamic.public_share)
        # The same by (bank, in the split's places): the scheme's own shares outside (column 0),
        # the bank's inside (column 1); a claim reads its row by its guarantor's place.
        self.pilot_shares = np.stack([np.broadcast_to(self.shares, self.bank_shares.shape),
                                      self.bank_shares], axis=1)
        self.pilot_dynamic_shares = np.stack([np.broadcast_to(self.dynamic_shares, self.bank_shares.shape),
                                              self.bank_dynamic_shares], axis=1)

    def _init_instruments(self) -> None:
        """State of the policy instruments that are switched on (sim/incentives.py, docs/levers.md);
        none is kept, and no per-firm work is done, for those that are off."""
        c, f, G, key = self.cfg, self.firms, self.n_guarantors, self.shocks.key
        self._priority_on = c.pool.priority.enabled
        if self._priority_on:
            # Each claimant's scheme NPL stock (guarantors, then the banks), as _npl_scheme.
            self._npl_claimant = np.zeros(G + 1)
            self._npl_release_claimant = np.zeros((self._span, G + 1))
            self._contributors = incentives.data_contributors(c.pool.priority.data_contributors, G,
                                                              self.uses_guarantor)
            self.pool.priority[:] = self._contributors
            self.priority_ever = self.pool.priority.copy()
        self._first_loan_on = c.first_loan.enabled
        if self._first_loan_on:
            fl, rows = c.first_loan, np.arange(f.n)
            # Tax-credit grades of the initial population; B or better for the grade_b_share
            # with the lowest signal, a cut-off kept for the entrants.
            signal = incentives.tax_grade_signal(
                f.logit_pd, streams.counter_normal(key, -1, streams.TAX_GRADE, rows), fl.grade_noise)
            self._grade_cut = float(np.quantile(signal, fl.grade_b_share))
            f.tax_good = signal <= self._grade_cut
            # Month of the firm's last loan (or its entry): months without a loan = month - it.
            u = streams.counter_uniform(key, -1, streams.FIRST_LOAN_HISTORY, rows)
            f.last_loan = -np.floor(u * fl.initial_months_max).astype(np.int32)
        self._platform_on = c.platform.enabled
        if self._platform_on:
            self._platform_client = np.zeros(f.n, bool)  # its last loan came through a platform
            self._platform_limit = incentives.platform_logit_limit(c.platform.max_expected_loss,
                                                                   c.firms.lgd_mean)

    def _entered(self, rows: np.ndarray, site: int) -> None:
        """New firms in `rows` (entrants after exits or defaults): the instruments' per-firm
        state starts afresh (a tax-credit grade of its own, no months without a loan yet, no
        platform history)."""
        if self._first_loan_on and rows.shape[0]:
            f = self.firms
            z = streams.counter_normal(self.shocks.key, self.month, streams.TAX_GRADE + site, rows)
            f.tax_good[rows] = incentives.tax_grade_signal(f.logit_pd[rows], z,
                                                           self.cfg.first_loan.grade_noise) <= self._grade_cut
            f.last_loan[rows] = self.month
        if self._platform_on:
            self._platform_client[rows] = False

    def _first_loan_terms(self) -> tuple:
        """The first-loan programme (首贷培植) as the firm kernel runs it (kernel.month's
        `first_loan`): firms without a loan for first_loan.months_without_loan months and
        tax-credit grade B or better are listed; banks reach out to them, so they apply
        first_loan.outreach times as often."""
        if not self._first_loan_on:
            return (False, 0, 1.0, np.zeros(0, np.int32), np.zeros(0, bool))
        f, fl = self.firms, self.cfg.first_loan
        return (True, int(fl.months_without_loan), float(fl.outreach), f.last_loan, f.tax_good)

    def _seed_loan_book(self) -> None:
        """Start near the steady state, not from an empty book: firms that would have a loan
        running apply once through the normal screening, and their loans get ages spread
        over their terms. Tallies of this set-up round are not reported."""
        c = self.cfg.firms
        mean_term = 0.5 * (c.term_min + c.term_max)
        share = c.apply_rate * mean_term / (1.0 + c.apply_rate * mean_term)
        self.tally = metrics.Tally()
        f = self.firms
        # Month -1 of the keyed draws: the same book in a run and its counterfactual.
        u = streams.counter_uniform(self.shocks.key, -1, streams.NO_LOAN_TESTS, np.arange(f.n))
        p = self._apply_probabilities(share)
        apps = np.flatnonzero(u < p[f.has_file.astype(np.intp), (f.loans_taken == 0).astype(np.intp)])
        n = apps.shape[0]
        amount, term, outcome = np.empty(n), np.empty(n, np.int16), np.empty(n, np.int8)
        self._lent[:] = 0.0
        left = kernel.screen(apps, self._screen_bases(-1), f.pop, self._screening, self._lend_terms(),
                             kernel.PHI, self._lent, amount, term, outcome)
        self.loans_running = int(self._lent[4])
        self._book_direct(self._lent)
        self._lend_scheme(apps[:left], amount[:left], term[:left], outcome[:left], n, -1)
        on = np.flatnonzero(f.channel != NO_LOAN)
        f.age[on] = (self.rng.random(on.shape[0]) * f.term[on]).astype(f.age.dtype)
        self.tally = metrics.Tally()

    # ------------------------------------------------------------------ helpers
    def _last_12m(self) -> tuple[np.ndarray, np.ndarray]:
        """Claims (代偿) and guarantees released over the last 12 months, by guarantor."""
        lo = max(0, self.month - 11)
        return (self._claims_hist[lo:self.month + 1].sum(axis=0),
                self._released_hist[lo:self.month + 1].sum(axis=0))

    def claim_rate_12m(self) -> float:
        """The scheme's claims / guarantees released over the last 12 months (NaN if nothing
        was released)."""
        c, r = self._last_12m()
        c, r = c.sum(), r.sum()
        return c / r if r > 0 else math.nan

    def claim_rates_12m(self) -> np.ndarray:
        """Each guarantor's 12-month claim rate (NaN where nothing was released)."""
        c, r = self._last_12m()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(r > 0, c / np.where(r > 0, r, 1.0), np.nan)

    def in_flight(self) -> dict[str, float]:
        """Per payer, what the books still owe it on scheme losses (+) or it still owes (-) at
        this point: recoveries scheduled for later months (the banks' on direct loans left
        out), receivables owed to the claimants, and what the re-guarantors and the funds owe
        them (the funds' queue). Sums to zero across payers except the scheduled recoveries,
        so a payer's loss less this is its loss once everything booked has settled."""
        out = dict.fromkeys(PAYERS, 0.0)
        due = self._recoveries_due[self.month:].sum(axis=0)
        for acc, d in zip(self.accounts, due):
            out[acc.payer] += float(d)
        out["bank"] -= float(self._direct_recoveries_due[self.month:].sum())
        out["guarantor"] += float(self.receivable[:-1].sum())
        out["bank"] += float(self.receivable[-1])
        owed_reguarantors = 0.0
        for r, p in enumerate(REGUARANTORS):
            owed = float(self._reimburse_due[self.month:, r].sum())
            out[p] -= owed
            owed_reguarantors += owed
        out["pool"] -= float(self.receivable.sum()) - owed_reguarantors  # the funds' queue
        advanced = float(self.model_advance_out.sum())  # the banks owe the pool (circuit-breaker)
        out["bank"] -= advanced
        out["pool"] += advanced
        return out

    def flagged_loss_share_12m(self) -> float:
        """Share of the last 12 months' scheme losses at default that fell on loans flagged by
        Anhui's operating-health rule (0 before any loss)."""
        lo = max(0, self.month - 11)
        flagged, total = self._flagged_loss_hist[lo:self.month + 1].sum(axis=0)
        return float(flagged / total) if total > 0 else 0.0

    def npl_exposure(self) -> float:
        """Non-performing loans as a stock: EAD of defaulted loans (90+ days overdue) not yet
        written off; a loan is written off at its recovery date."""
        return float(self._npl_region.sum())

    def npl_exposure_scheme(self) -> float:
        """The scheme loans' part of `npl_exposure()` (the rest is direct loans')."""
        return max(self._npl_scheme, 0.0)  # float dust after write-offs

    def prefectures(self) -> pd.DataFrame:
        """The province's prefectures now, one row each (what the teaching app's map shows):
        `prefecture`; `outstanding` and `npl` (province yuan: its loans outstanding and its NPL
        stock, which add up to `npl_exposure()` over the prefectures); `npl_ratio` (不良率, as
        the monthly `npl_ratio` but for the prefecture's loans: npl / (outstanding + npl), 0
        without loans); `flood` (the strongest
        flood intensity that has struck it so far: magnitude x exposure, 0 if none);
        `guarantors` and `guarantors_suspended` (those that have stopped new business)."""
        f = self.firms
        outstanding = self.weight * np.bincount(f.region, weights=f.amount, minlength=self.n_regions)
        npl = np.maximum(self._npl_region, 0.0)  # float dust after write-offs
        total = outstanding + npl
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(total > 0, npl / np.where(total > 0, total, 1.0), 0.0)
        suspended = np.zeros(self.n_regions, int)
        for ag in self._agency_list:
            suspended[ag.region] += ag.suspended
        return pd.DataFrame({
            "prefecture": self.region_names, "outstanding": outstanding, "npl": npl, "npl_ratio": ratio,
            "flood": self.shocks.struck(self.month, "flood"),
            "guarantors": np.bincount(self.guarantor_region, minlength=self.n_regions),
            "guarantors_suspended": suspended})

    def _claimant_account(self, claimant: int):
        return self.bank if claimant == self.n_guarantors else self.accounts[self._guarantor0 + claimant]

    def _payer_matrix(self, claimant: np.ndarray) -> np.ndarray:
        """(n, k) account index of each tranche's payer at default, for each defaulted scheme
        loan: the claimant (guarantor, or bank) pays the fronted tranches."""
        cols = []
        own = np.where(claimant == self.n_guarantors, 0, self._guarantor0 + claimant).astype(np.intp)
        for p, fr in zip(self.tranche_payers, self.fronted):
            if fr:
                cols.append(own)
            else:
                cols.append(np.full(claimant.shape[0], self._account_index[p], np.intp))
        return np.stack(cols, axis=1)

    # ------------------------------------------------------------------ decisions
    def _decide(self) -> None:
        """What each institution effectively keeps of a loss on a new scheme loan, from the
        rules and its experience, and what follows: each guarantor's largest acceptable PD,
        each bank's choice to use the scheme (once a year)."""
        c = self.cfg
        if self.performance_on and self.month % 12 == 0 and self.month > 0:
            self._score_banks()
        # Under Anhui's rule a share `flagged` of losses (the last 12 months' experience) falls
        # on flagged loans, where the public share is raised and the others keep less.
        flagged = self.flagged_loss_share_12m() if self.dynamic_on else 0.0
        rates = self.claim_rates_12m()
        G = self.n_guarantors
        if self.uses_guarantor:
            funds_back = self.pool.expected_recovery(c.guarantor.investment_return)
            # what the guarantor keeps on each bank's loans (its tranche and the funds' share it
            # fronts and expects not to get back): a column per bank under Hunan's dynamic
            # split, else one column for all; outside the split's places a guarantor keeps the
            # scheme's share whichever bank asks (the same value in every column)
            rows, dyn_rows = ((self.bank_shares, self.bank_dynamic_shares) if self.performance_on
                              else (self.shares[None, :], self.dynamic_shares[None, :]))

            def by_row(rows, dyn_rows, back):
                return ((1.0 - flagged) * self._kept_by_claimant(rows, "guarantor", back)
                        + flagged * self._kept_by_claimant(dyn_rows, "guarantor", back))

            def by_guarantor(back):
                k = np.repeat(by_row(rows, dyn_rows, back)[None, :], G, axis=0)
                if self.performance_on and not self._split_everywhere:
                    k[self.guarantor_pilot == 0] = by_row(self.shares[None, :], self.dynamic_shares[None, :], back)
                return k

            kept = by_guarantor(funds_back)
            if self.pool.priority[:G].any():
                # A claimant with priority in the provincial pool expects its claims paid sooner
                # and given up less: it keeps less of a loss (performance-linked payouts).
                ahead = self.pool.expected_recovery(c.guarantor.investment_return, priority=True)
                first = self.pool.priority[:G]
                kept[first] = by_guarantor(ahead)[first]
            net_fee = c.scheme.guarantee_fee
            for p in REGUARANTORS:
                sh = self.share_of[p]
                if sh > 0:
                    acc = self.accounts[self._account_index[p]]
                    refuses = ~acc.shares_claims(rates) | (acc.capital <= 0)
                    kept += sh * refuses[:, None]
                    net_fee -= sh * float(acc.fee_rates(np.array([c.firms.loan_max]))[0])
            self.guarantor_kept = kept  # (guarantors, banks or 1)
            self._guarantor_max_pd = GuaranteeAgency.max_acceptable_pd(c.guarantor, kept, net_fee,
                                                                       c.firms.lgd_mean)
            bank_col = [p == "bank" for p in self.tranche_payers]
            self.bank_kept = float((1.0 - flagged) * self.bank_shares[0, bank_col].sum()
                                   + flagged * self.bank_dynamic_shares[0, bank_col].sum())
        else:
            self.guarantor_kept = np.zeros((G, 1))
            bank_back = self.pool.expected_recovery(c.bank.rate_file, priority=bool(self.pool.priority[G]))
            kept = ((1.0 - flagged) * self._kept_by_claimant(self.shares[None, :], "bank", bank_back)[0]
                    + flagged * self._kept_by_claimant(self.dynamic_shares[None, :], "bank", bank_back)[0])
            for p in REGUARANTORS:
                sh = self.share_of[p]
                if sh > 0:
                    acc = self.accounts[self._account_index[p]]
                    kept += sh * (not bool(acc.shares_claims(self.claim_rate_12m())) or acc.capital <= 0)
            self.bank_kept = float(kept)
        # on direct loans to firms on the platform a special pool may compensate the bank
        self.bank_direct_kept = (1.0 - c.pool.special_share * self.pool.expected_recovery(
            c.bank.rate_file, special=True)) if c.pool.special_size > 0 else 1.0
        if self.month % 12 == 0:
            for b in self.banks:
                b.decide_participation(self.bank_kept, self.scheme_active)
            self.bank_in_scheme = np.array(self.banks.get("in_scheme"), bool)

    def _kept_by_claimant(self, shares: np.ndarray, claimant: str, funds_back: float) -> np.ndarray:
        """Share of a loss the claimant (the guarantor, or the bank without one) expects to keep
        on loans with these tranche shares (rows): its own tranche, plus the funds' share it
        pays first less what it expects the funds to pay back (their per-loss cap,
        pool.max_share, rises with a raised pool share: `_fund_cap`)."""
        own = shares[:, [p == claimant for p in self.tranche_payers]].sum(axis=1)
        if self._pool_col < 0:
            return own
        ps = shares[:, self._pool_col]
        return own + ps - np.minimum(ps, self._fund_cap(ps)) * funds_back

    def _fund_cap(self, pool_share: np.ndarray) -> np.ndarray:
        """The funds' per-loss cap on loans with this pool share: pool.max_share, or the
        share itself where an instrument raised it above the scheme's (Anhui's fiscal share on
        a flagged loan, Hunan's on a good performer's loans)."""
        cap = self.cfg.pool.max_share
        base = self.shares[self._pool_col] if self._pool_col >= 0 else 0.0
        return np.where(pool_share > base + 1e-12, np.maximum(cap, pool_share), cap)

    def _score_banks(self) -> None:
        """Hunan's dynamic split, once a year: each bank's score from its NPL ratio, its share
        of first-time borrowers and its share of credit (unsecured) loans against the
        province's (risk.sharing.performance_scores), then its tranche shares and its extra
        tolerance on scheme loans. The score is the bank's, on its whole loan book (direct and
        scheme, in the split's places and outside: a bank's historical NPL is a bank-level
        figure in the report); its shares and tolerance apply only in the places."""
        f, ps = self.firms, self.cfg.scheme.performance_split
        nb = self.cfg.bank.count
        out, loans, first, credit = kernel.bank_books(f.channel, f.bank, f.amount, f.loans_taken, f.lgd,
                                                      float(ps.credit_loan_lgd), nb)
        npl = np.maximum(self._npl_bank, 0.0) / self.weight  # unweighted, as the book
        with np.errstate(invalid="ignore", divide="ignore"):
            self.bank_score = performance_scores(
                npl / (out + npl), first / loans, credit / loans,
                npl.sum() / (out.sum() + npl.sum()) if out.sum() + npl.sum() > 0 else 0.0,
                first.sum() / loans.sum() if loans.sum() else 0.0,
                credit.sum() / loans.sum() if loans.sum() else 0.0,
                (ps.npl_weight, ps.first_loan_weight, ps.credit_loan_weight))
        self._set_bank_shares()

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        for acc in self.accounts:  # every payer's monthly ledger back to zero
            acc.new_month()
        self.tally = metrics.Tally()  # this month's flows
        for phase in self.PLAN:
            t0 = time.perf_counter()
            getattr(self, f"_phase_{phase}")()
            self.phase_seconds[phase] += time.perf_counter() - t0
        self.month += 1
        if self.month >= self.cfg.horizon:
            self.running = False

    def _phase_shocks(self) -> None:
        self.shocks.begin_month(self.month, self.firms)

    def _phase_factors(self) -> None:
        # The month's own stream, so a shocked run and its counterfactual share the factors.
        g = self.shocks.month_rng(self.month)
        c = self.cfg.copula
        self._factors = draw_factors(g, self.n_regions, self.n_sectors, self._factors, c.ar1)
        macro, zr, zs = self._factors
        # The systematic part of the latent value of each region x sector cell (row = group).
        self._shift = (math.sqrt(c.rho_macro) * macro + math.sqrt(c.rho_region) * zr[:, None]
                       + math.sqrt(c.rho_sector) * zs[None, :]).ravel()
        self._sigma = math.sqrt(1.0 - c.rho_macro - c.rho_region - c.rho_sector)

    def _thresholds(self) -> tuple[np.ndarray, np.ndarray]:
        """Copula thresholds (default, overdue) of every row this month: the firms' own, or,
        while a shock is active, moved for the performing loans."""
        f = self.firms
        if self.shocks.effects is None:
            return f.threshold, f.threshold_overdue
        at_risk = np.flatnonzero((f.channel != NO_LOAN) & (f.status == PERFORMING))
        t_default, t_overdue = f.threshold.copy(), f.threshold_overdue.copy()
        t_default[at_risk], t_overdue[at_risk] = self.shocks.thresholds(f, at_risk)
        return t_default, t_overdue

    def _apply_probabilities(self, rate: float) -> np.ndarray:
        """Monthly probability that a firm without a loan applies, by [has credit file, first
        loan]: rate x exp(-cost_elasticity x (all-in cost - reference cost) in percentage
        points), the all-in cost being its loan rate (by credit file) plus the guarantee fee it
        expects (the fee x the scheme's share of last month's new loans, less the fee subsidy)
        less any interest subsidy on a first loan. Shocks scale it per firm (emergency demand,
        or a drop)."""
        c = self.cfg
        gov, fc = c.government, c.firms
        fee = c.scheme.guarantee_fee * (1.0 - gov.fee_subsidy) * self._scheme_share_of_new
        base = np.array([c.bank.rate_no_file, c.bank.rate_file]) + fee - fc.reference_cost
        cost = base[:, None] - np.array([0.0, gov.interest_subsidy / 100.0])[None, :]
        return np.ascontiguousarray(np.minimum(rate * np.exp(-fc.cost_elasticity * 100.0 * cost), 1.0))

    def _phase_firms(self) -> None:
        f, c, w, m = self.firms, self.cfg.firms, self.weight, self.tally
        t_default, t_overdue = self._thresholds()
        b = streams.bases(self.shocks.key, self.month, [streams.LATENT, streams.NO_LOAN_TESTS])
        # three-year survival -> monthly exit hazard, for firms refused or not
        h_refused = 1.0 - c.survival_without_credit ** (1.0 / 36.0)
        h_other = 1.0 - c.survival_with_credit ** (1.0 / 36.0)
        eff = self.shocks.effects
        self._released[:] = 0.0
        self._repaid[:] = 0.0
        self._lent[:] = 0.0
        k = self._counts
        apply_mult = self._no_multiplier if eff is None else eff.apply_mult
        self.overdue_amount = kernel.month(
            f.pop, f.ent, self.month, b[0], b[1], f.entrant_bases(self.month, streams.RESPAWN_EXIT),
            self._shift, self._sigma, t_default, t_overdue, c.overdue_months, h_refused, h_other,
            self._apply_probabilities(c.apply_rate), apply_mult, self._first_loan_terms(),
            self._dyn_terms(), kernel.PHI, self._screen_bases(self.month),
            self._screening, self._lend_terms(), self._defaulted_buf, self._exits_buf, self._applicants_buf,
            self._app_amount, self._app_term, self._app_outcome, self._released, self._repaid,
            self._lent, k, self._work)
        self.defaulted = self._defaulted_buf[:k[0]]
        self.applicants = self._applicants_buf[:k[1]]
        self._entered(self._exits_buf[:k[4]], streams.RESPAWN_EXIT)
        self._book_direct(self._lent)
        m.listed_firms += w * k[9]
        m.dynamic_triggers += w * self._lent[5]
        m.dynamic_trigger_amount += w * self._lent[6]
        m.overdue_new += w * k[2]
        m.overdue_cured += w * k[3]
        m.exits += w * k[4]
        m.exits_refused += w * k[5]
        self.loans_running, self.overdue_count = int(k[6]), int(k[7])
        released = w * self._released
        self._released_hist[self.month] += released
        m.released_scheme += released.sum()
        self.book -= self._repaid

    def _phase_claims(self) -> None:
        f, w, m = self.firms, self.weight, self.tally
        G = self.n_guarantors
        idx = self.defaulted
        ead = w * f.amount[idx]
        self.book -= np.bincount(f.agency[idx], weights=f.amount[idx], minlength=G + 1)
        lgd, delay = f.loss_terms(idx, self.month)  # shocks may raise LGD and delay recovery
        recovery_rate = 1.0 - lgd
        due = np.minimum(self.month + self.cfg.firms.recovery_lag + delay, self._span - 1)
        # NPL stock: in at default, out when written off at the recovery date
        self._npl_region += np.bincount(f.region[idx], weights=ead, minlength=self.n_regions)
        np.add.at(self._npl_release_region, (due, f.region[idx]), ead)
        self._npl_bank += np.bincount(f.bank[idx], weights=ead, minlength=self._npl_bank.shape[0])
        np.add.at(self._npl_release_bank, (due, f.bank[idx]), ead)
        m.defaults += w * idx.shape[0]
        is_direct = f.channel[idx] == DIRECT
        in_scheme = ~is_direct
        self._npl_scheme += float(ead[in_scheme].sum())
        np.add.at(self._npl_release_scheme, due[in_scheme], ead[in_scheme])
        if self.cfg.bank.circuit_breaker.enabled:
            self._set_against_advances(idx, ead, lgd, is_direct)
        # Direct loans: the bank bears everything and gets all the recovery.
        direct_loss = ead[is_direct].sum()
        self.bank.pay(direct_loss)
        m.default_direct += direct_loss
        m.loss_direct_bank += direct_loss
        direct_rec = recovery_rate[is_direct] * ead[is_direct]
        np.add.at(self._recoveries_due[:, 0], due[is_direct], direct_rec)
        np.add.at(self._direct_recoveries_due, due[is_direct], direct_rec)  # the bank's, apart
        if self.cfg.pool.special_size > 0:
            self._claim_special(idx[is_direct], ead[is_direct] * lgd[is_direct])
        # Scheme loans.
        s_idx = ~is_direct
        loss = ead[s_idx]
        agency = f.agency[idx[s_idx]].astype(np.intp)
        m.default_scheme += loss.sum()
        m.released_scheme += loss.sum()
        self._released_hist[self.month] += np.bincount(agency, weights=loss, minlength=G)
        if not loss.shape[0]:
            self._retire(idx, streams.RESPAWN_DEFAULT)
            return
        if not self.scheme_active:
            self.bank.pay(loss.sum())
            m.scheme_loss_bank += loss.sum()
            np.add.at(self._recoveries_due[:, 0], due[s_idx], recovery_rate[s_idx] * loss)
            self._retire(idx, streams.RESPAWN_DEFAULT)
            return
        # 1. At default: the claimant pays the fronted tranches (代偿), the others pay theirs.
        claimant = agency if self.uses_guarantor else np.full(loss.shape[0], G, np.intp)
        if self._priority_on:  # each claimant's scheme NPL stock, for performance-linked payouts
            self._npl_claimant += np.bincount(claimant, weights=loss, minlength=G + 1)
            np.add.at(self._npl_release_claimant, (due[s_idx], claimant), loss)
        payer = self._payer_matrix(claimant)
        shares = self.shares
        if self.performance_on:  # Hunan: each bank's own shares in the split's places
            bank, inside = f.bank[idx[s_idx]], self.guarantor_pilot[agency]
            shares = self.pilot_shares[bank, inside]
        if self.dynamic_on:  # Anhui: raised public share on flagged loans
            tripped = f.flagged[idx[s_idx]]
            flagged_rows = (self.pilot_dynamic_shares[bank, inside] if self.performance_on
                            else self.dynamic_shares[None, :])
            shares = np.where(tripped[:, None], flagged_rows, shares)
            m.dynamic_share_loans += w * np.count_nonzero(tripped)
            m.dynamic_share_loss += loss[tripped].sum()
            self._flagged_loss_hist[self.month] += (loss[tripped].sum(), loss.sum())
        budget = np.array([acc.budget() for acc in self.accounts])
        for p, rate in self.cap_rate.items():
            if p in REIMBURSERS:
                continue  # applied when it reimburses
            # Portfolio cap: at most `rate` of the volume this payer has covered.
            sl = slice(self._guarantor0, self._guarantor0 + G) if p == "guarantor" else slice(
                self._account_index[p], self._account_index[p] + 1)
            room = rate * self._cum_scheme_volume[sl] - np.array([a.paid_total for a in self.accounts[sl]])
            budget[sl] = np.minimum(budget[sl], np.maximum(room, 0.0))
        split = split_losses(loss, shares, payer, budget, self.cap_per_loan)
        paying = np.flatnonzero(split.by_payer)
        for a in paying:
            self.accounts[a].pay(split.by_payer[a])
        shortfall = split.shortfall.sum()
        self.accounts[self._bearer].pay(shortfall)
        m.shortfall += shortfall
        for a in paying:
            m[f"scheme_loss_{self.accounts[a].payer}"] += split.by_payer[a]
        # Recoveries go back pro rata to what each account paid on each loan.
        due_s = due[s_idx]
        rr = recovery_rate[s_idx]
        np.add.at(self._recoveries_due, (np.broadcast_to(due_s[:, None], payer.shape), payer),
                  split.paid * rr[:, None])
        np.add.at(self._recoveries_due[:, self._bearer], due_s, split.shortfall * rr)
        # 2. Receivables: each reimburser owes its share of the net loss (after recovery) on
        # what the claimant paid for it.
        fronted_paid = split.paid[:, self.fronted].sum(axis=1)
        booked = np.zeros(loss.shape[0])
        kept = np.zeros(loss.shape[0])  # refused or ineligible at once: the claimant keeps it
        rates = self.claim_rates_12m()
        for j, p in enumerate(self.tranche_payers):
            if p not in REIMBURSERS:
                continue
            owed = split.paid[:, j] * lgd[s_idx]
            booked += owed
            if p == "pool":
                m.funds_due += owed.sum()
                c = self.cfg.pool
                eligible = (f.amount[idx[s_idx]] <= c.max_loan) * c.payout_efficiency
                cap = self._fund_cap(shares[:, j]) if shares.ndim == 2 else c.max_share
                claim = np.minimum(owed, cap * loss * lgd[s_idx]) * eligible
                kept += owed - claim
                self._file_fund_claims(claim, claimant, f.region[idx[s_idx]].astype(np.intp))
            else:
                r = REGUARANTORS.index(p)
                acc = self.accounts[self._account_index[p]]
                # It judges each partner guarantor by its own claim rate (the bank, when it is
                # the claimant, by the scheme's).
                rate = np.where(claimant == G, self.claim_rate_12m(), rates[np.minimum(claimant, G - 1)])
                ok = acc.shares_claims(rate)
                kept += np.where(ok, 0.0, owed)
                when = min(self.month + acc.cfg.payout_delay, self._span - 1)
                self._reimburse_due[when, r] += np.bincount(claimant, weights=np.where(ok, owed, 0.0),
                                                            minlength=G + 1)
        m.receivables_booked += booked.sum()
        m.receivables_written_off += kept.sum()
        self.receivable += np.bincount(claimant, weights=booked - kept, minlength=G + 1)
        if self.uses_guarantor:
            # claims (代偿) paid by the guarantors; outstanding until recovered or reimbursed
            claims_by_agency = np.bincount(agency, weights=fronted_paid, minlength=G)
            m.claims += claims_by_agency.sum()
            self._claims_hist[self.month] += claims_by_agency
            stays = fronted_paid - (booked - kept)
            self.claims_pending += np.bincount(agency, weights=stays, minlength=G)
            np.add.at(self._pending_due, (due_s, agency), stays)
        self._retire(idx, streams.RESPAWN_DEFAULT)

    def _set_against_advances(self, idx: np.ndarray, ead: np.ndarray, lgd: np.ndarray,
                              is_direct: np.ndarray) -> None:
        """Circuit-breaker: the banks' net losses on the defaults of a suspended model's loans
        (all of a direct loan's, the bank's tranche of a scheme loan's) are set against the
        advance the pool paid on that model; counted too: every party's net loss on them."""
        model = self.model_of_bank[self.firms.bank[idx]]
        suspended = self.model_suspended_until[model] > self.month
        if not suspended.any():
            return
        net = ead * lgd
        bank_part = np.where(is_direct, 1.0, self.bank_share) * net
        n_models = self.model_advance_out.shape[0]
        loss = np.bincount(model[suspended], weights=bank_part[suspended], minlength=n_models)
        absorbed = np.minimum(loss, self.model_advance_out)
        self.model_advance_out -= absorbed
        self.tally.model_advance_absorbed += absorbed.sum()
        self.tally.model_suspended_loss += net[suspended].sum()

    def _circuit_breaker(self) -> None:
        """Anhui's model circuit-breaker, at month end: each scoring model's NPL ratio (its
        banks' NPL stock / (their loans outstanding + it)); a model above `npl_multiple` x
        the NPL ratio of all loans for
        `months` month-ends running is suspended and the provincial pool advances its
        expected losses to the banks (a payable of theirs); at the end of a suspension the
        unused advance goes back to the pool."""
        cb, f = self.cfg.bank.circuit_breaker, self.firms
        n_models = self.model_advance_out.shape[0]
        ending = (self.model_suspended_until > 0) & (self.model_suspended_until <= self.month)
        for mdl in np.flatnonzero(ending):
            back = self.model_advance_out[mdl]
            self.pool.ledger.take_back(0, back)
            self.pool.compensate(back)
            self.bank.compensate(-back)
            self.tally.model_advance_returned += back
            self.model_advance_out[mdl] = 0.0
            self.model_suspended_until[mdl] = 0
        out = self.weight * kernel.amount_by(f.bank, f.amount, self.model_of_bank, n_models)
        npl = np.bincount(self.model_of_bank, weights=np.maximum(self._npl_bank, 0.0), minlength=n_models)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(out + npl > 0, npl / (out + npl), 0.0)
        total = out.sum() + npl.sum()
        threshold = cb.npl_multiple * npl.sum() / total if total > 0 else math.inf
        active = self.model_suspended_until == 0
        self.model_months_over = np.where(active & (ratio > threshold) & (npl > 0),
                                          self.model_months_over + 1, 0)
        for mdl in np.flatnonzero(self.model_months_over >= cb.months):
            self.model_months_over[mdl] = 0
            self.model_suspended_until[mdl] = self.month + 1 + cb.suspension_months
            paid = self.pool.ledger.advance(0, ratio[mdl] * out[mdl] * self.cfg.firms.lgd_mean)
            self.pool.compensate(-paid)
            self.bank.compensate(paid)
            self.model_advance_out[mdl] += paid
            m = self.tally
            m.model_trips += 1.0
            m.model_trip_outstanding += out[mdl]
            m.model_advances += paid

    def _claim_special(self, rows: np.ndarray, net_loss: np.ndarray) -> None:
        """The bank claims the special pool's share of the net loss on direct loans to firms
        on the data platform (a receivable until paid)."""
        claim = self.cfg.pool.special_share * net_loss[self.firms.on_platform[rows]]
        claim = claim[claim > 0]
        if not claim.shape[0]:
            return
        G = self.n_guarantors
        n = claim.shape[0]
        self.pool.ledger.file(self.month, np.full(n, self.pool.special, np.intp), np.full(n, G, np.intp),
                              claim, np.full(n, self.weight), checked=True)
        self._funds_busy = True
        total = claim.sum()
        self.tally.funds_due += total
        self.tally.funds_filed += total
        self.tally.receivables_booked += total
        self.receivable[G] += total

    def _file_fund_claims(self, claim: np.ndarray, claimant: np.ndarray, region: np.ndarray) -> None:
        """File each loan's fund claim: `provincial_share` with the provincial pool (fund 0),
        the rest with the loan's prefecture fund (1 + region). Counts are real loans."""
        ps = self.cfg.pool.provincial_share
        n = claim.shape[0]
        fund = np.concatenate((np.zeros(n, np.intp), 1 + region))
        who = np.concatenate((claimant, claimant))
        amount = np.concatenate((ps * claim, (1.0 - ps) * claim))
        count = np.concatenate((np.full(n, ps * self.weight), np.full(n, (1.0 - ps) * self.weight)))
        keep = amount > 0
        self.pool.ledger.file(self.month, fund[keep], who[keep], amount[keep], count[keep], checked=True)
        self._funds_busy = self._funds_busy or bool(keep.any())
        self.tally.funds_filed += amount[keep].sum()

    def _retire(self, idx: np.ndarray, site: int) -> None:
        """Defaulted firms leave; entrants take their place (keyed draws: the same entrant in
        the same row and month in a shocked run and its counterfactual). The firm kernel
        replaces closing firms itself."""
        self.firms.respawn(idx, self.month, site)
        self._entered(idx, site)

    def _phase_recoveries(self) -> None:
        due = self._recoveries_due[self.month]
        for a in np.flatnonzero(due):
            self.accounts[a].recover(due[a])
        self.tally.recoveries += due.sum()
        self.tally.recoveries_direct += self._direct_recoveries_due[self.month]
        # loans reaching their recovery date leave the NPL stock and the pending claims
        self._npl_region -= self._npl_release_region[self.month]
        self._npl_bank -= self._npl_release_bank[self.month]
        self._npl_scheme -= self._npl_release_scheme[self.month]
        if self._priority_on:
            self._npl_claimant -= self._npl_release_claimant[self.month]
        self.claims_pending -= self._pending_due[self.month]
        self._reimburse()

    def _reimburse(self) -> None:
        """Receivables settle: re-guarantors pay what falls due (as far as their capital and
        portfolio cap allow; the rest is written off), the funds pay their queues, and
        claimants abandon claims that would wait too long."""
        m, G = self.tally, self.n_guarantors
        received = np.zeros(G + 1)
        for r, p in enumerate(REGUARANTORS):
            owed = self._reimburse_due[self.month, r]
            total = owed.sum()
            if total <= 0:
                continue
            acc = self.accounts[self._account_index[p]]
            room = acc.budget()
            rate = self.cap_rate.get(p)
            if rate is not None:
                room = min(room, max(rate * self._cum_scheme_volume[self._account_index[p]]
                                     - acc.reimbursed_total, 0.0))
            paid = owed * min(1.0, room / total)
            acc.reimburse(paid.sum())
            received += paid
            m.reimbursed_reguarantors += paid.sum()
            m.receivables_written_off += total - paid.sum()
            self.receivable -= owed  # paid, or written off
        led, c = self.pool.ledger, self.cfg.pool
        if not self._funds_busy:
            return self._credit(received)
        first = self.pool.priority_mask()  # None: the plain queue, oldest first
        paid = led.pay(self.month, c.payout_delay, priority=first).sum(axis=0)
        if led.queued_amount().sum() > 0:  # claims left waiting: some may be given up
            gone = led.abandon(self.month, self.pool.inflow_per_month(), c.patience,
                               c.abandon_scale, delay=c.payout_delay, priority=first).sum(axis=0)
        else:
            gone = np.zeros_like(paid)
        self.pool.compensate(-paid.sum())
        received += paid
        self.receivable -= paid + gone
        m.reimbursed_funds += paid.sum()
        m.funds_abandoned += gone.sum()
        m.receivables_written_off += gone.sum()
        self._funds_busy = led.queued_amount().sum() > 0
        self._credit(received)

    def _credit(self, received: np.ndarray) -> None:
        for claimant in np.flatnonzero(received):
            self._claimant_account(int(claimant)).compensate(received[claimant])

    def _phase_institutions(self) -> None:
        self._refresh_outstanding()
        m = self.tally
        for income, cost in map(GuaranteeAgency.accrue, self._agency_list):
            m.guarantor_income += income
            m.guarantor_costs += cost
        # Each guarantor suspends or is recapitalised by its rule; the government pays the
        # injections in guarantor order.
        rates = self.claim_rates_12m()
        for injection in map(GuaranteeAgency.update, self._agency_list, rates):
            if injection:
                self.government.spend(injection, "injection")
                m.capital_injections += injection
        if self._priority_on and self.month % 12 == 0 and self.month > 0:
            self._performance_payouts()
        if self.cfg.bank.circuit_breaker.enabled:
            self._circuit_breaker()
        if self.month % 12 == 0 and self.month > 0:
            self.government.new_year()
            u = streams.counter_uniform(self.shocks.key, self.month, streams.FUND_APPROPRIATION,
                                        np.arange(self.n_regions))
            add = self.pool.new_year(self.claim_rate_12m(), u < self.cfg.pool.city_reliability)
            self.government.spend(add, "pool")

    def _performance_payouts(self) -> None:
        """Jiangxi's performance-linked payouts, once a year: claimants whose scheme NPL ratio
        is below pool.priority.npl_threshold and whose scheme book is at least the median
        claimant's get priority in the provincial pool's queue for the coming year (with the
        data contributors) and share the year's reward from the government (fiscal money, into
        the claimants' own balances: money is moved, not made)."""
        pc, G = self.cfg.pool.priority, self.n_guarantors
        out = self.book[:G] * self.weight
        outstanding = np.append(out, out.sum()) if not self.uses_guarantor else np.append(out, 0.0)
        npl = self._npl_claimant.copy()
        if not self.uses_guarantor:
            npl[G] = npl.sum()  # the banks claim on every scheme loan
        actual = np.zeros(G + 1, bool)  # who files claims under this scheme
        actual[:G] = self.uses_guarantor
        actual[G] = not self.uses_guarantor
        book = outstanding + np.maximum(npl, 0.0)
        good = incentives.qualifies(incentives.npl_ratios(npl, outstanding), pc.npl_threshold, book, actual)
        self.pool.priority[:] = good | self._contributors
        self.priority_ever |= self.pool.priority
        if pc.reward > 0 and good.any():
            self.government.spend(pc.reward, "reward")
            self.tally.rewards += pc.reward
            for g, r in zip(np.flatnonzero(good), incentives.reward_split(pc.reward, book, good)):
                if g < G:
                    self._agency_list[g].receive_reward(r)
                else:
                    self.bank.capital += r

    def _refresh_outstanding(self) -> None:
        """Each guarantor's outstanding guarantees, from the loan book.

        One compiled pass in row order: `agency` is the guarantor of a scheme loan and
        n_guarantors for a direct loan, and firms without a loan have amount 0, so the last
        bucket is the direct book. Kept in `book` (unweighted: times `weight` for province
        yuan) for the metrics; `_originate` adds each month's new loans to it, maturities and
        defaults take theirs out, and once a year it is counted afresh so that rounding in
        those updates cannot build up.
        """
        f = self.firms
        if self.month % 12 == 0:
            G = self.n_guarantors
            self.book = kernel.amount_by(f.agency, f.amount, np.arange(G + 1), G + 1)
        self._post_outstanding()

    def _post_outstanding(self) -> None:
        """Each guarantor's outstanding guarantees and liability balance (province yuan), its
        pending claims and receivables, from the model's books."""
        out = self.weight * self.book[:self.n_guarantors]
        for ag, o, pend, rec in zip(self._agency_list, out, self.claims_pending, self.receivable):
            ag.outstanding = o
            ag.liability = o * self.liability_share
            ag.claims_pending = pend
            ag.receivable = rec

    def _phase_decide(self) -> None:
        self._decide()
        self._set_screening()

    def _set_screening(self) -> None:
        """What the firm kernel screens applicants with this month (`kernel.screen`): each
        bank's limits on its signal as logits (the tighter of max_pd and appetite / (LGD x the
        share it keeps); on a direct loan to a firm on the platform it may keep less), its moral
        hazard, whether it can use the scheme, each guarantor's largest acceptable PD, and
        whether each guarantor's loans are in Hunan's dynamic split (its places)."""
        c, bc, fc = self.cfg, self.cfg.bank, self.cfg.firms
        self._scheme_open = self.scheme_active and not (self.uses_pool and self.pool.empty
                                                        and c.pool.when_empty == "stop")
        keep_direct = np.array([1.0, self.bank_direct_kept])
        with np.errstate(divide="ignore"):
            direct_limit = _logit_limit(np.minimum(bc.max_pd, self._bank_appetite[:, None]
                                                   / (fc.lgd_mean * keep_direct[None, :])))
            # Hunan's dynamic split gives good performers more tolerance on scheme loans in its
            # places: column 1 of the bank's limit (in the pilot), not column 0 (outside)
            appetite = self._bank_appetite + (c.scheme.performance_split.tolerance * np.maximum(self.bank_score, 0.0)
                                              if self.performance_on else 0.0)
            pilot_limit = _logit_limit(np.minimum(bc.max_pd, appetite / (fc.lgd_mean * self.bank_kept)))
            outside_limit = (_logit_limit(np.minimum(bc.max_pd, self._bank_appetite / (fc.lgd_mean * self.bank_kept)))
                             if self.performance_on and not self._split_everywhere else pilot_limit)
            scheme_limit = np.ascontiguousarray(np.stack([outside_limit, pilot_limit], axis=1))
        # Less effort = a noisier signal: extra independent noise so that the total sd is
        # base x (1 + moral_hazard x (1 - effort)), effort = min(1, kept share / full_effort_share).
        effort = min(1.0, self.bank_kept / bc.full_effort_share) if bc.full_effort_share > 0 else 1.0
        k = 1.0 + bc.moral_hazard * (1.0 - effort)
        # each guarantor's limit by the bank asking: column guarantor_col[bank] (one column
        # for all banks unless they differ)
        gmax = self._guarantor_max_pd if self.uses_guarantor else np.zeros((1, 1))
        guarantor_col = (np.arange(bc.count) if gmax.shape[1] > 1 else np.zeros(bc.count, np.int64))
        self._screening = (
            math.log(fc.loan_min), math.log(fc.loan_max), fc.term_min, fc.term_max - fc.term_min + 1,
            np.array([bc.noise_shared_data, bc.noise_file, bc.noise_no_file]), direct_limit,
            scheme_limit, self.bank_in_scheme & self._scheme_open, math.sqrt(k * k - 1.0),
            float(c.scheme.max_loan), self.uses_guarantor, float(c.guarantor.noise), _logit_limit(gmax),
            np.ascontiguousarray(self.model_noise[self.model_of_bank]),
            np.ascontiguousarray(self.model_suspended_until[self.model_of_bank] <= self.month),
            guarantor_col, self.guarantor_pilot)

    def _screen_bases(self, month: int) -> np.ndarray:
        return streams.bases(self.shocks.key, month, [streams.LOAN_AMOUNT, streams.LOAN_TERM,
                                                      streams.BANK_SIGNAL, streams.BANK_EXTRA,
                                                      streams.GUARANTOR_SIGNAL])

    def _dyn_terms(self) -> tuple:
        """Anhui's operating-health rule as the firm kernel runs it (kernel.month's `dyn`)."""
        d = self.cfg.scheme.dynamic
        return (self.dynamic_on, float(d.persistence), float(d.noise), int(d.periods),
                streams.base(self.shocks.key, self.month, streams.HEALTH_READING))

    def _lend_terms(self) -> tuple:
        c = self.cfg
        return (float(c.bank.rate_file), float(c.bank.rate_no_file), self.n_guarantors)

    def _book_direct(self, lent: np.ndarray) -> None:
        """The month's direct loans, made in the firm kernel (`kernel.screen` sums them)."""
        w, m, gov = self.weight, self.tally, self.cfg.government
        m.new_direct += w * lent[0]
        # Interest at the rate of the firm's credit file, earned over the term (booked now).
        interest = w * lent[1]
        self.bank.capital += interest
        self.bank.interest_total += interest
        m.interest_income += interest
        m.first_time += w * lent[2]
        m.new_borrowers += w * lent[4]
        if gov.interest_subsidy > 0:
            sub = w * gov.interest_subsidy / 100.0 * lent[3]
            self.government.spend(sub, "subsidy")
            m.subsidies += sub
        self.book[-1] += lent[0]  # the direct book's bucket (see _refresh_outstanding)
        self._new_direct = lent[0]

    def _phase_lending(self) -> None:
        k = self._counts
        self._lend_scheme(self.applicants, self._app_amount[:k[1]], self._app_term[:k[1]],
                          self._app_outcome[:k[1]], int(k[8]), self.month)

    def _lend_scheme(self, apps: np.ndarray, amount: np.ndarray, term: np.ndarray,
                     outcome: np.ndarray, n_applicants: int, month: int) -> None:
        """After the screening (`kernel.screen`; direct loans are made): the guarantors'
        capacity decides on the scheme's candidates; the refused borrow informally."""
        f, w, m, c = self.firms, self.weight, self.tally, self.cfg
        m.applicants += w * n_applicants
        if self._platform_on and apps.shape[0]:
            outcome = self._platform_lend(apps, amount, term, outcome, month)
        # The scheme's pool of applicants: those the bank sends to the guarantor (outcome 2 or
        # 3), with their true PD, after any platform has taken the ones it wants.
        asked = (outcome == kernel.FOR_SCHEME) | (outcome == kernel.GUARANTOR_REFUSED)
        m.scheme_applicants += w * np.count_nonzero(asked)
        m.scheme_applicants_pd += w * f.pd[apps[asked]].sum()
        refused = np.count_nonzero(outcome == kernel.BANK_REFUSED)
        if self.scheme_active and not self._scheme_open:
            m.rationed_scheme_closed += w * refused  # the pool is empty and the scheme stopped
        else:
            m.rationed_bank_risk += w * refused
        m.rationed_guarantor_risk += w * np.count_nonzero(outcome == kernel.GUARANTOR_REFUSED)
        m.rationed_model_suspended += w * np.count_nonzero(outcome == kernel.MODEL_SUSPENDED)
        cand = np.flatnonzero(outcome == kernel.FOR_SCHEME)
        agency = None
        if self.uses_guarantor and cand.shape[0]:
            agency = f.guarantor[apps[cand]].astype(np.intp)
            # Capacity: in random order within each guarantor, accept while room lasts.
            # = np.lexsort((u, agency)) with u a uniform multiple of 2^-53, so
            # agency * 2^53 + u * 2^53 is an exact integer key with the same order.
            u53 = streams.counter_bits53(self.shocks.key, month, streams.CAPACITY_ORDER, apps[cand])
            order = np.argsort(agency.astype(np.int64) * 2**53 + u53, kind="stable")
            cand, agency = cand[order], agency[order]
            csum = np.cumsum(w * amount[cand] * self.liability_share)
            starts = np.searchsorted(agency, np.arange(self.n_guarantors))
            within = csum - np.concatenate(([0.0], csum))[starts][agency]
            room = np.array([ag.capacity() for ag in self._agency_list])
            fits = within <= room[agency]
            m.rationed_capacity += w * np.count_nonzero(~fits)
            cand, agency = cand[fits], agency[fits]
        served = outcome == PLATFORM_LENT
        served[cand] = True
        f.refused[apps] = ~served
        no = ~served
        m.informal_credit += w * amount[no].sum()
        m.informal_interest += w * (amount[no] * c.firms.informal_rate * term[no] / 12.0).sum()
        self._originate(apps[cand], amount[cand], term[cand], agency)
        new_scheme = amount[cand].sum()
        if self._new_direct + new_scheme > 0:
            self._scheme_share_of_new = new_scheme / (self._new_direct + new_scheme)

    def _platform_lend(self, apps: np.ndarray, amount: np.ndarray, term: np.ndarray,
                       outcome: np.ndarray, month: int) -> np.ndarray:
        """Platform lenders (platform.*): each applicant the bank did not lend to on its own
        also tries a platform with probability platform.reach (a former platform borrower:
        1 - platform.churn); the platform reads its own sharper signal and lends when its
        estimated PD x LGD is within its appetite. The platform's loan is cheaper than the
        bank's (and carries no guarantee fee), so the firm takes it instead of the scheme's.
        A partner bank funds it and bears its loss (「平臺賦能、銀行放款」): it is booked as a
        direct loan. Returns the outcomes with PLATFORM_LENT where a platform lent."""
        f, w, m, c = self.firms, self.weight, self.tally, self.cfg
        pc, key = c.platform, self.shocks.key
        u = streams.counter_uniform(key, month, streams.PLATFORM_REACH, apps)
        tries = u < np.where(self._platform_client[apps], 1.0 - pc.churn, pc.reach)
        est = f.logit_pd[apps] + pc.noise * streams.counter_normal(key, month, streams.PLATFORM_SIGNAL, apps)
        took = tries & (est <= self._platform_limit)
        if not took.any():
            return outcome
        idx, amt, trm = apps[took], amount[took], term[took]
        years = trm / 12.0
        rate = np.maximum(np.where(f.has_file[idx], c.bank.rate_file, c.bank.rate_no_file)
                          - pc.rate_discount, 0.0)
        interest = w * (amt * rate * years).sum()
        self.bank.capital += interest
        self.bank.interest_total += interest
        m.interest_income += interest
        first = np.count_nonzero(f.loans_taken[idx] == 0)
        n, total = idx.shape[0], amt.sum()
        m.new_direct += w * total
        m.new_platform += w * total
        m.platform_borrowers += w * n
        m.platform_first_time += w * first
        m.first_time += w * first
        m.new_borrowers += w * n
        f.channel[idx] = DIRECT
        f.amount[idx] = amt
        f.term[idx] = trm
        f.age[idx] = 0
        f.loans_taken[idx] += 1
        f.agency[idx] = self.n_guarantors  # the direct book's bucket
        if c.scheme.dynamic.enabled:
            f.health_falls[idx] = 0
        self._platform_client[idx] = True
        self.book[-1] += total
        self.loans_running += n
        self._new_direct += total
        return np.where(took, PLATFORM_LENT, outcome).astype(outcome.dtype)

    def _originate(self, idx: np.ndarray, amount: np.ndarray, term: np.ndarray,
                   agency: np.ndarray | None = None) -> None:
        """New scheme loans to firms idx; agency = f.guarantor[idx] when the caller has it.
        (Direct loans are made in the firm kernel: `kernel.screen`.)"""
        f, w, m, c = self.firms, self.weight, self.tally, self.cfg
        G = self.n_guarantors
        if not idx.shape[0]:
            return
        m.new_scheme += w * amount.sum()
        m.new_borrowers += w * idx.shape[0]
        taken = f.loans_taken[idx]
        first = taken == 0
        m.first_time += w * np.count_nonzero(first)
        years = term / 12.0
        # Interest at the rate of the firm's credit file, earned over the term (booked now).
        rate = np.where(f.has_file[idx], c.bank.rate_file, c.bank.rate_no_file)
        interest = w * (amount * rate * years).sum()
        self.bank.capital += interest
        self.bank.interest_total += interest
        m.interest_income += interest
        if c.government.interest_subsidy > 0:
            sub = w * (c.government.interest_subsidy / 100.0 * amount[first] * years[first]).sum()
            self.government.spend(sub, "subsidy")
            m.subsidies += sub
        f.channel[idx] = SCHEME
        f.amount[idx] = amount
        f.term[idx] = term
        f.age[idx] = 0
        f.loans_taken[idx] = taken + 1
        self.loans_running += idx.shape[0]
        # a new loan starts a fresh operating-health record (= kernel.new_loan_health)
        f.health[idx], f.health_falls[idx], f.state[idx], f.flagged[idx] = 0.0, 0, 0.0, False
        agency = f.guarantor[idx].astype(np.intp) if agency is None else agency
        f.agency[idx] = agency
        by_agency = np.bincount(agency, weights=amount, minlength=G)
        self.book[:G] += by_agency
        vol = w * by_agency
        for p in set(self.tranche_payers):
            if p == "guarantor":
                self._cum_scheme_volume[self._guarantor0:self._guarantor0 + G] += vol
            else:
                self._cum_scheme_volume[self._account_index[p]] += vol.sum()
        if not self.uses_guarantor:
            return
        fee = c.scheme.guarantee_fee * w * np.bincount(agency, weights=amount * years, minlength=G)
        # Re-guarantee fees: a yearly rate on each re-guarantor's share of the loan.
        re_fee = np.zeros(G)
        for p, share in zip(self.tranche_payers, self.shares):
            if p in REGUARANTORS and share > 0:
                acc = self.accounts[self._account_index[p]]
                per = w * share * acc.fee_rates(amount) * amount * years
                by = np.bincount(agency, weights=per, minlength=G)
                acc.earn_fee(by.sum())
                re_fee += by
        for ag, fe, rf, v in zip(self._agency_list, fee, re_fee, vol):
            ag.earn_fee(fe - rf)
            ag.issued_month += v
        m.fees += fee.sum()
        m.reguarantee_fees += re_fee.sum()
        if c.government.fee_subsidy > 0:
            sub = c.government.fee_subsidy * fee.sum()
            self.government.spend(sub, "subsidy")
            m.subsidies += sub

    def _phase_metrics(self) -> None:
        # The book was counted in full at _phase_institutions (capacity reads it) and has
        # only grown by this month's new loans since: no second pass over all firms.
        self._post_outstanding()
        self.datacollector.add_table_row("monthly", metrics.monthly_row(self))

    def timeseries(self) -> pd.DataFrame:
        """The monthly time series so far, from the DataCollector: one row per month, columns
        `metrics.columns` (month, the rest of `metrics.MONTHLY`, each guarantor's net assets)."""
        return self.datacollector.get_table_dataframe("monthly")

    def run(self) -> None:
        while self.running:
            self.step()

    def release(self) -> None:
        """Drop the firm population and the kernel's buffers (a finished replication's bulk).

        The model and its agents refer to each other, so a finished model is freed only when
        Python's cycle collector next runs, which large NumPy arrays do not prompt: without
        this a worker running replications of a full province grew by the population's size
        (0.2 GB for Hunan) with each one."""
        self.firms = None
        self._defaulted_buf = self._applicants_buf = self.defaulted = self.applicants = None
        self._exits_buf = self._work = None
        self._app_amount = self._app_term = self._app_outcome = None
