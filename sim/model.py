"""The government-bank-guarantor (政银担) model: one Mesa model per replication.

In plain words: a province's small firms, each with its own default risk, apply for bank
loans. The bank reads a noisy signal of each applicant's risk (sharper when the firm's data
is on the sharing platform, blunter without a credit file). It lends on its own to firms it
judges safe enough; for the rest it asks the risk-sharing scheme for cover, as long as the
part of the loss it would keep is acceptable, and the less it keeps the less carefully it
screens. The region's government guarantor reads its own signal and guarantees the loan if
it judges the firm acceptable and its leverage cap leaves room; it pays the re-guarantors
their fees. Refused firms borrow informally and are less likely to survive.

Each month loans age; those at term are repaid and free the guarantee; some default,
together in bad months (a Gaussian copula with macro, region and sector factors). A
defaulted loan's loss is split by the scheme: the guarantor, the provincial re-guarantor,
the national fund, the bank, the compensation pool, the government budget and the firm's
counter-guarantee each pay their share, up to their caps and their cash; what nobody can
pay is a shortfall that falls to a configured bearer. Re-guarantors stop sharing while the
claim rate is above their ceiling; the pool may pay late and only in part. Recoveries from
collateral come back months later to whoever paid. Guarantors that have paid too much stop
issuing and may be recapitalised; the pool is topped up once a year by its rule.
A loan that misses a payment is overdue (逾期) for three months before it cures or
defaults. Shocks (floods, droughts, pandemics, sector crashes, downturns; sim/shocks.py)
move default and overdue probabilities, collateral, recoveries and loan demand in chosen
places and months.

The step order is an explicit plan (`GuaranteeModel.PLAN`), timed phase by phase. The
institutions are Mesa agents in `model.agents` (the guarantors also in `model.agencies`, an
AgentSet in region order); the month's row goes to `model.datacollector`, which is the one
store of the time series (`model.timeseries()`).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

import mesa
import numpy as np
import pandas as pd

from . import metrics
from .agents import (Bank, BorrowerRecourse, CompensationPool, GuaranteeAgency, Government,
                     Reguarantor)
from .config import PUBLIC_PAYERS, SimConfig, tranche_payer
from .firms import DIRECT, NO_LOAN, PERFORMING, SCHEME, FirmPopulation
from .risk import streams
from .risk.copula import draw_factors, latent_values
from .risk.waterfall import split_losses
from .shocks import ShockEngine

REGUARANTORS = ("reguarantor", "national_fund")  # payers that are Reguarantor agents
SYSTEM_PAYERS = ("guarantor", *REGUARANTORS)  # whose payments are claims (代偿)


class GuaranteeModel(mesa.Model):
    # Month by month, in this order (DESIGN §4).
    PLAN = (
        "shocks",  # shock events active this month: onsets, per-firm effects
        "factors",  # draw the systematic macro / region / sector factors
        "maturities",  # loans at term repay; their guarantees are released
        "defaults",  # copula draws: performing loans fall overdue; overdue ones cure or default
        "claims",  # loss waterfall: tranches pay, shortfall recorded
        "exits",  # firms without a loan close (survival depends on access to credit)
        "recoveries",  # recoveries and delayed pool compensation due this month
        "institutions",  # suspension, recapitalisation, yearly replenishment and budgets
        "lending",  # applications, screening, capacity, new loans
        "metrics",  # this month's row of the time series
    )

    def __init__(self, cfg: SimConfig, rng: np.random.Generator | int | None = None):
        super().__init__(rng=rng)
        self.cfg = cfg
        self.month = 0  # months completed
        self.weight = cfg.province.firms_total / cfg.firms.n  # real firms per simulated firm
        self.firms = FirmPopulation(cfg.firms.n, cfg.province, cfg.firms, cfg.bank.data_coverage, self.rng)
        self.shocks = ShockEngine(cfg, self.rng)  # also owns the copula's random streams
        self.n_regions = len(cfg.province.regions)
        self.n_sectors = len(cfg.province.sectors)
        self._factors = None
        self.phase_seconds: dict[str, float] = defaultdict(float)
        self._build_institutions()
        # Mesa 3.3 numbers agents through a class-level dict keyed by model (Agent._ids), which
        # keeps every model alive for the life of the process (mesa/mesa#3179, fixed in Mesa
        # 3.4, which needs Python 3.12). Every agent of this model exists now, so the counter
        # is no longer needed: drop it, and a finished replication can be freed.
        mesa.Agent._ids.pop(self, None)
        self._build_scheme()
        span = cfg.horizon + max(cfg.firms.recovery_lag + self.shocks.max_recovery_delay,
                                 cfg.pool.payout_delay) + 1
        self._recoveries_due = np.zeros((span, len(self.accounts)))
        self._pool_due = np.zeros(span)  # deferred pool compensation owed, by month due
        self._npl_window = max(cfg.firms.recovery_lag, 1)
        self._npl_by_month = np.zeros(span)  # defaulted EAD by month of default
        # claims (代偿) and released guarantees by month and agency, for 12-month claim rates
        self._claims_hist = np.zeros((span, self.n_regions))
        self._released_hist = np.zeros((span, self.n_regions))
        # The time series lives in the DataCollector only. The metrics phase computes the
        # month's row once (the columns share intermediate sums); each reporter reads its column.
        self._row: dict = {}
        names = metrics.columns(ag.region_name for ag in self.agencies)
        self.datacollector = mesa.DataCollector(
            model_reporters={k: (lambda m, k=k: m._row[k]) for k in names})
        self._cum_scheme_volume = np.zeros(len(self.accounts))  # covered volume per account
        self.book = np.zeros(self.n_regions + 1)  # loan book by guarantor + direct (see below)
        self.defaulted = np.zeros(0, np.intp)
        self.running = True
        self._seed_loan_book()

    # ------------------------------------------------------------------ construction
    def _build_institutions(self) -> None:
        c = self.cfg
        self.bank = Bank(self, c.bank)
        shares = np.array([r.firm_share for r in c.province.regions])
        for i, r in enumerate(c.province.regions):
            GuaranteeAgency(self, i, r.name, c.guarantor.capital * shares[i], c.guarantor)
        # Mesa's AgentSet of the guarantors, in creation (= region) order: every loop over
        # them below adds money in that order, so the numbers do not depend on the set.
        self.agencies = self.agents_by_type[GuaranteeAgency]
        self.reguarantor = Reguarantor(self, "reguarantor", c.reguarantor)
        self.national_fund = Reguarantor(self, "national_fund", c.national_fund)
        self.pool = CompensationPool(self, c.pool)
        self.government = Government(self, c.government)
        self.government.spend(c.pool.size, "pool")
        self.borrower = BorrowerRecourse()
        # Waterfall accounts: guarantor agencies occupy one slot per region.
        self.accounts = [self.bank, *self.agencies, self.reguarantor, self.national_fund,
                         self.pool, self.government, self.borrower]
        self._account_index = {acc.payer: i for i, acc in enumerate(self.accounts)
                               if acc.payer != "guarantor"}
        self._guarantor0 = 1
        self._system_accounts = np.array([i for i, acc in enumerate(self.accounts)
                                          if acc.payer in SYSTEM_PAYERS])

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
        self.bank_share = float(sum(sh for p, sh in zip(self.tranche_payers, self.shares) if p == "bank"))
        self.scheme_active = any(p != "bank" for p in self.tranche_payers)
        self.uses_guarantor = "guarantor" in self.tranche_payers
        self.uses_pool = "pool" in self.tranche_payers
        self._bearer = self._account_index[s.shortfall_bearer]
        # Shares on loans that trip the dynamic-sharing rule: public payers' shares scaled up,
        # the others shrunk pro rata so the total stays 1.
        pub = np.array([p in PUBLIC_PAYERS for p in self.tranche_payers])
        dyn = self.shares.copy()
        up = min(self.shares[pub].sum() * s.dynamic.public_multiplier, 1.0)
        if pub.any() and (~pub).any() and self.shares[~pub].sum() > 0:
            dyn[pub] = self.shares[pub] * up / self.shares[pub].sum() if self.shares[pub].sum() else 0
            dyn[~pub] = self.shares[~pub] * (1 - up) / self.shares[~pub].sum()
        self.dynamic_shares = dyn

    def _seed_loan_book(self) -> None:
        """Start near the steady state, not from an empty book: firms that would have a loan
        running apply once through the normal screening, and their loans get ages spread
        over their terms. Tallies of this set-up round are not reported."""
        c = self.cfg.firms
        mean_term = 0.5 * (c.term_min + c.term_max)
        share = c.apply_rate * mean_term / (1.0 + c.apply_rate * mean_term)
        self.tally = metrics.Tally()
        # Construction is common to a run and its counterfactual: the sequential generator.
        self._phase_lending(apply_rate=share, draws=streams.RngDraws(self.rng))
        f = self.firms
        on = np.flatnonzero(f.channel != NO_LOAN)
        f.age[on] = (self.rng.random(on.shape[0]) * f.term[on]).astype(f.age.dtype)
        self.tally = metrics.Tally()

    # ------------------------------------------------------------------ helpers
    def claim_rate_12m(self, agency: int | None = None) -> float:
        """Claims (代偿) / guarantees released over the last 12 months (NaN if nothing released)."""
        lo = max(0, self.month - 11)
        sl = slice(lo, self.month + 1)
        c = self._claims_hist[sl].sum(axis=0)
        r = self._released_hist[sl].sum(axis=0)
        if agency is not None:
            c, r = c[agency], r[agency]
        else:
            c, r = c.sum(), r.sum()
        return c / r if r > 0 else math.nan

    def npl_exposure(self) -> float:
        """EAD defaulted in the last `recovery_lag` months (at least one), this month included:
        the non-performing loans of the NPL ratio."""
        lo = max(0, self.month + 1 - self._npl_window)
        return self._npl_by_month[lo:self.month + 1].sum()

    def _guarantor_slice(self) -> slice:
        return slice(self._guarantor0, self._guarantor0 + self.n_regions)

    def _payer_matrix(self, agency: np.ndarray, claim_rate: float) -> np.ndarray:
        """(n, k) account index of each tranche's payer for each defaulted scheme loan."""
        cols = []
        for p in self.tranche_payers:
            own = self._guarantor0 + agency.astype(np.intp)
            if p == "guarantor":
                cols.append(own)
            elif p in REGUARANTORS and not self.accounts[
                    self._account_index[p]].shares_claims(claim_rate):
                cols.append(own)  # above its ceiling it stops sharing: the guarantor pays
            elif p == "pool" and self.pool.deferred:
                cols.append(np.full(agency.shape[0], self._bearer, np.intp))  # claimant fronts it
            else:
                cols.append(np.full(agency.shape[0], self._account_index[p], np.intp))
        return np.stack(cols, axis=1)

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        self.agents.do("new_month")  # every institution's monthly ledger back to zero
        self.borrower.new_month()  # (the firms' counter-guarantee is an account, not an agent)
        self.tally = metrics.Tally()  # this month's flows
        # Every draw of the month past the copula's is keyed by (month, purpose, firm row),
        # so a shocked run and its counterfactual share them (sim/risk/streams.py).
        self._draws = streams.KeyedDraws(self.shocks.key, self.month, self.firms.n)
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
        # The month's own stream: factors, then one idiosyncratic draw per firm row, so a
        # shocked run and its counterfactual share them (common random numbers).
        g = self.shocks.month_rng(self.month)
        self._factors = draw_factors(g, self.n_regions, self.n_sectors, self._factors,
                                     self.cfg.copula.ar1)
        # float32: half the cost of float64 normals, ample precision for a default threshold
        self._eps = g.standard_normal(self.firms.n, dtype=np.float32)

    def _phase_maturities(self) -> None:
        f, w = self.firms, self.weight
        # Whole-array passes over small dtypes instead of gathers through an index array.
        active = f.channel != NO_LOAN
        f.age += active
        done = np.flatnonzero(active & (f.age >= f.term) & (f.status == PERFORMING))
        scheme_done = done[f.channel[done] == SCHEME]
        released = w * f.amount[scheme_done]
        self._released_hist[self.month] += np.bincount(f.agency[scheme_done], weights=released,
                                                       minlength=self.n_regions)
        self.tally.released_scheme += released.sum()
        self.book -= np.bincount(f.agency[done], weights=f.amount[done], minlength=self.n_regions + 1)
        f.channel[done] = NO_LOAN
        f.amount[done] = 0.0

    def _phase_defaults(self) -> None:
        f = self.firms
        c = self.cfg.copula
        at_risk = np.flatnonzero((f.channel != NO_LOAN) & (f.status == PERFORMING))
        x = latent_values(self._factors, f.region[at_risk], f.sector[at_risk], c.rho_macro,
                          c.rho_region, c.rho_sector, self._eps[at_risk])
        if self.cfg.scheme.dynamic.enabled:
            # Health index = latent asset value; count consecutive monthly falls.
            fell = x < f.health[at_risk]
            f.health_falls[at_risk] = np.where(fell, f.health_falls[at_risk] + 1, 0)
            f.health[at_risk] = x
        t_default, t_overdue = self.shocks.thresholds(f, at_risk)
        self.defaulted, new, cured = f.update_arrears(self.month, at_risk, x, t_default, t_overdue,
                                                      self.cfg.firms.overdue_months)
        self.tally.overdue_new += self.weight * new.shape[0]
        self.tally.overdue_cured += self.weight * cured.shape[0]

    def _phase_claims(self) -> None:
        f, w, m = self.firms, self.weight, self.tally
        idx = self.defaulted
        ead = w * f.amount[idx]
        self.book -= np.bincount(f.agency[idx], weights=f.amount[idx], minlength=self.n_regions + 1)
        lgd, delay = f.loss_terms(idx, self.month)  # shocks may raise LGD and delay recovery
        recovery_rate = 1.0 - lgd
        due = np.minimum(self.month + self.cfg.firms.recovery_lag + delay,
                         self._recoveries_due.shape[0] - 1)
        self._npl_by_month[self.month] += ead.sum()
        m.defaults += w * idx.shape[0]
        is_direct = f.channel[idx] == DIRECT
        # Direct loans: the bank bears everything and gets all the recovery.
        direct_loss = ead[is_direct].sum()
        self.bank.pay(direct_loss)
        m.default_direct += direct_loss
        m.loss_direct_bank += direct_loss
        np.add.at(self._recoveries_due[:, 0], due[is_direct], recovery_rate[is_direct] * ead[is_direct])
        # Scheme loans: the waterfall.
        s_idx = ~is_direct
        loss = ead[s_idx]
        agency = f.agency[idx[s_idx]]
        m.default_scheme += loss.sum()
        m.released_scheme += loss.sum()
        self._released_hist[self.month] += np.bincount(agency, weights=loss, minlength=self.n_regions)
        if not loss.shape[0]:
            self._retire(idx, streams.RESPAWN_DEFAULT)
            return
        if not self.scheme_active:
            self.bank.pay(loss.sum())
            m.scheme_loss_bank += loss.sum()
            np.add.at(self._recoveries_due[:, 0], due[s_idx], recovery_rate[s_idx] * loss)
            self._retire(idx, streams.RESPAWN_DEFAULT)
            return
        payer = self._payer_matrix(agency, self.claim_rate_12m())
        shares = self.shares
        if self.cfg.scheme.dynamic.enabled:
            tripped = f.health_falls[idx[s_idx]] >= self.cfg.scheme.dynamic.periods
            shares = np.where(tripped[:, None], self.dynamic_shares[None, :], self.shares[None, :])
            m.dynamic_share_loans += w * np.count_nonzero(tripped)
        budget = np.array([acc.budget() for acc in self.accounts])
        for p, rate in self.cap_rate.items():
            # Portfolio cap: at most `rate` of the volume this payer has covered.
            sl = self._guarantor_slice() if p == "guarantor" else slice(
                self._account_index[p], self._account_index[p] + 1)
            room = rate * self._cum_scheme_volume[sl] - np.array([a.paid_total for a in self.accounts[sl]])
            budget[sl] = np.minimum(budget[sl], np.maximum(room, 0.0))
        split = split_losses(loss, shares, payer, budget, self.cap_per_loan)
        for a, amount in enumerate(split.by_payer):
            if amount:
                self.accounts[a].pay(amount)
        shortfall = split.shortfall.sum()
        self.accounts[self._bearer].pay(shortfall)
        m.shortfall += shortfall
        # Tallied by who actually paid (a re-guarantor above its ceiling hands its tranche to
        # the guarantor; a deferred pool's share is fronted by the claimant).
        for a, amount in enumerate(split.by_payer):
            m[f"scheme_loss_{self.accounts[a].payer}"] += amount
        system = np.isin(payer, self._system_accounts)
        claims_by_agency = np.bincount(agency, weights=(split.paid * system).sum(axis=1),
                                       minlength=self.n_regions)
        for j, p in enumerate(self.tranche_payers):
            paid_j = split.paid[:, j]
            if p == "pool" and self.pool.deferred:
                # The claimant fronted the pool's share; the pool owes its share of the net loss.
                owed = (paid_j * recovery_rate[s_idx]).sum()
                owed = paid_j.sum() - owed
                when = min(self.month + self.cfg.pool.payout_delay, self._pool_due.shape[0] - 1)
                # (the pool pays on its own schedule, whatever delays recoveries)
                self._pool_due[when] += owed * self.cfg.pool.payout_efficiency
                m.pool_owed += owed
        m.claims += claims_by_agency.sum()
        self._claims_hist[self.month] += claims_by_agency
        # Recoveries go back pro rata to what each account paid on each loan.
        r = recovery_rate[s_idx]
        due_s = due[s_idx]
        np.add.at(self._recoveries_due, (np.broadcast_to(due_s[:, None], payer.shape), payer),
                  split.paid * r[:, None])
        np.add.at(self._recoveries_due[:, self._bearer], due_s, split.shortfall * r)
        self._retire(idx, streams.RESPAWN_DEFAULT)

    def _retire(self, idx: np.ndarray, site: int) -> None:
        """Defaulted or closed firms leave; entrants take their place (keyed draws: the same
        entrant in the same row and month in a shocked run and its counterfactual)."""
        self.firms.respawn(idx, self._draws, site)

    def _phase_exits(self) -> None:
        f, c = self.firms, self.cfg.firms
        # three-year survival -> monthly exit hazard, for firms refused or not
        h_refused = 1.0 - c.survival_without_credit ** (1.0 / 36.0)
        h_other = 1.0 - c.survival_with_credit ** (1.0 / 36.0)
        # The month's exit draw is one number per row. Only rows below the larger hazard can
        # exit (about 1.4%), so the other tests run on those alone: the same rows as testing
        # u < hazard(row) for every firm without a loan.
        u = self._draws.month_uniform32(streams.EXIT)
        lo, hi = np.float32(min(h_refused, h_other)), np.float32(max(h_refused, h_other))
        cand = np.flatnonzero(u < hi)
        cand = cand[f.channel[cand] == NO_LOAN]
        h = np.where(f.refused[cand], np.float32(h_refused), np.float32(h_other))
        gone = cand[u[cand] < h] if lo < hi else cand
        self.tally.exits += self.weight * gone.shape[0]
        self.tally.exits_refused += self.weight * np.count_nonzero(f.refused[gone])
        self._retire(gone, streams.RESPAWN_EXIT)

    def _phase_recoveries(self) -> None:
        due = self._recoveries_due[self.month]
        for a, amount in enumerate(due):
            if amount:
                self.accounts[a].recover(amount)
        self.tally.recoveries += due.sum()
        owed = self._pool_due[self.month]
        if owed > 0:
            paid = min(owed, self.pool.budget())
            self.pool.compensate(-paid)
            self.accounts[self._bearer].compensate(paid)
            self.tally.pool_compensation += paid
            self.tally.pool_unpaid += owed - paid

    def _phase_institutions(self) -> None:
        self._refresh_outstanding()
        # Each guarantor suspends or is recapitalised by its rule; the government pays the
        # injections in region order.
        for injection in self.agencies.map("update"):
            if injection:
                self.government.spend(injection, "injection")
                self.tally.capital_injections += injection
        if self.month % 12 == 0 and self.month > 0:
            self.government.new_year()
            add = self.pool.replenish_for_new_year(self.claim_rate_12m())
            self.government.spend(add, "pool")

    def _refresh_outstanding(self) -> None:
        """Each guarantor's outstanding guarantees, from the loan book.

        One pass: `agency` is the guarantor of a scheme loan and n_regions for a direct loan,
        and firms without a loan have amount 0, so the bincount's last bucket is the direct
        book. Each bucket adds the same amounts in the same (firm) order as summing that
        guarantor's loans alone. Kept in `book` (unweighted: times `weight` for province
        yuan) for the metrics; `_originate` adds each month's new loans to it, maturities and
        defaults take theirs out, and once a year it is counted afresh so that rounding in
        those updates cannot build up.
        """
        f = self.firms
        if self.month % 12 == 0:
            self.book = np.bincount(f.agency, weights=f.amount, minlength=self.n_regions + 1)
        self._post_outstanding()

    def _post_outstanding(self) -> None:
        """Each guarantor's outstanding guarantees (province yuan) from the book."""
        for ag, o in zip(self.agencies, self.weight * self.book[:self.n_regions]):
            ag.outstanding = o

    def _phase_lending(self, apply_rate: float | None = None, draws=None) -> None:
        f, c = self.firms, self.cfg
        d = self._draws if draws is None else draws
        gov = c.government
        rate = c.firms.apply_rate if apply_rate is None else apply_rate
        # Subsidies lower the cost of borrowing and raise applications: the fee subsidy for
        # everyone, the interest subsidy for firms that never borrowed. Shocks move demand too.
        uplift = c.firms.cost_elasticity * (gov.fee_subsidy * c.scheme.guarantee_fee * 100.0)
        mult_on = self.shocks.effects is not None
        if d.keyed and not (uplift or gov.interest_subsidy or mult_on):
            # One rate for all: rows below it in the month's draw, then those without a loan
            # (the same rows as drawing for the firms without a loan, in fewer passes).
            u = d.month_uniform32(streams.APPLY)
            cand = np.flatnonzero(u < rate)
            apps = cand[f.channel[cand] == NO_LOAN]
        else:
            apps = self._applicants(f, d, rate, uplift)
        self._screen_and_lend(apps, d)

    def _applicants(self, f, d, rate: float, uplift: float) -> np.ndarray:
        """Firms without a loan that apply this month, with per-firm application rates."""
        c = self.cfg
        gov = c.government
        free = np.flatnonzero(f.channel == NO_LOAN)
        if uplift or gov.interest_subsidy:
            p_apply = np.minimum(rate * (1.0 + uplift + c.firms.cost_elasticity * gov.interest_subsidy
                                         * (f.loans_taken[free] == 0)), 1.0)
        else:
            p_apply = rate
        mult = self.shocks.apply_multiplier(free)  # shocks: emergency demand, or a drop
        if mult is not None:
            p_apply = p_apply * mult
        return free[np.flatnonzero(d.uniform32_rows(streams.APPLY, free) < p_apply)]

    def _screen_and_lend(self, apps: np.ndarray, d) -> None:
        f, w, m, c = self.firms, self.weight, self.tally, self.cfg
        m.applicants += w * apps.shape[0]
        if apps.shape[0] == 0:
            return
        amount, term = f.draw_requests(apps, d)
        open_ = self.scheme_active and not (self.uses_pool and self.pool.empty
                                            and c.pool.when_empty == "stop")
        direct, to_scheme = self.bank.screen(f.logit_pd[apps], f.on_platform[apps], f.has_file[apps],
                                             c.firms.lgd_mean, self.bank_share, open_, d, apps)
        to_scheme &= amount <= c.scheme.max_loan
        refused = np.count_nonzero(~direct & ~to_scheme)
        if self.scheme_active and not open_:
            m.rationed_scheme_closed += w * refused  # the pool is empty and the scheme stopped
        else:
            m.rationed_bank_risk += w * refused
        cand = np.flatnonzero(to_scheme)
        region = None
        if self.uses_guarantor and cand.shape[0]:
            region = f.region[apps[cand]]
            rows = apps[cand]
            est_g = GuaranteeAgency.estimate_pd_by_region(self.agencies, f.logit_pd[rows], region,
                                                          d.normal(streams.GUARANTOR_SIGNAL, rows))
            ok = est_g <= c.guarantor.max_pd
            m.rationed_guarantor_risk += w * np.count_nonzero(~ok)
            cand, region = cand[ok], region[ok]
            # Capacity: in random order within each agency, accept while room lasts.
            # = np.lexsort((u, region)) with u a uniform multiple of 2^-53, so
            # region * 2^53 + u * 2^53 is an exact integer key with the same order.
            u53 = d.bits53(streams.CAPACITY_ORDER, apps[cand])
            order = np.argsort(region.astype(np.int64) * 2**53 + u53, kind="stable")
            cand, region = cand[order], region[order]
            csum = np.cumsum(w * amount[cand])
            starts = np.searchsorted(region, np.arange(self.n_regions))
            within = csum - np.concatenate(([0.0], csum))[starts][region]
            room = np.array(self.agencies.map("capacity"))
            fits = within <= room[region]
            m.rationed_capacity += w * np.count_nonzero(~fits)
            cand, region = cand[fits], region[fits]
        served = np.zeros(apps.shape[0], bool)
        served[direct] = True
        served[cand] = True
        f.refused[apps] = ~served
        no = ~served
        m.informal_credit += w * amount[no].sum()
        m.informal_interest += w * (amount[no] * c.firms.informal_rate * term[no] / 12.0).sum()
        d = np.flatnonzero(direct)
        self._originate(apps[d], amount[d], term[d], DIRECT)
        self._originate(apps[cand], amount[cand], term[cand], SCHEME, region)

    def _originate(self, idx: np.ndarray, amount: np.ndarray, term: np.ndarray, channel: int,
                   region: np.ndarray | None = None) -> None:
        """New loans to firms idx; region = f.region[idx] when the caller has it already."""
        f, w, m, c = self.firms, self.weight, self.tally, self.cfg
        name = "direct" if channel == DIRECT else "scheme"
        m[f"new_{name}"] += w * amount.sum()
        taken = f.loans_taken[idx]
        first = taken == 0
        m.first_time += w * np.count_nonzero(first)
        years = term / 12.0
        if c.government.interest_subsidy > 0:
            sub = w * (c.government.interest_subsidy / 100.0 * amount[first] * years[first]).sum()
            self.government.spend(sub, "subsidy")
            m.subsidies += sub
        f.channel[idx] = channel
        f.amount[idx] = amount
        f.term[idx] = term
        f.age[idx] = 0
        f.loans_taken[idx] = taken + 1
        if c.scheme.dynamic.enabled:
            f.health_falls[idx] = 0
        if channel == DIRECT:
            f.agency[idx] = self.n_regions  # the direct book's bucket (see _refresh_outstanding)
            self.book[-1] += amount.sum()
        if channel != SCHEME or not idx.shape[0]:
            return
        region = f.region[idx] if region is None else region
        f.agency[idx] = region
        by_region = np.bincount(region, weights=amount, minlength=self.n_regions)
        self.book[:self.n_regions] += by_region
        vol = w * by_region
        for p in set(self.tranche_payers):
            if p == "guarantor":
                self._cum_scheme_volume[self._guarantor_slice()] += vol
            else:
                self._cum_scheme_volume[self._account_index[p]] += vol.sum()
        if not self.uses_guarantor:
            return
        fee = c.scheme.guarantee_fee * w * np.bincount(region, weights=amount * years,
                                                       minlength=self.n_regions)
        # Re-guarantee fees: a yearly rate on each re-guarantor's share of the loan.
        re_fee = np.zeros(self.n_regions)
        for p, share in zip(self.tranche_payers, self.shares):
            if p in REGUARANTORS and share > 0:
                acc = self.accounts[self._account_index[p]]
                per = w * share * acc.fee_rates(amount) * amount * years
                by_region = np.bincount(region, weights=per, minlength=self.n_regions)
                acc.earn_fee(by_region.sum())
                re_fee += by_region
        for ag, fe, rf, v in zip(self.agencies, fee, re_fee, vol):
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
        self._row = metrics.monthly_row(self)
        self.datacollector.collect(self)

    def timeseries(self) -> pd.DataFrame:
        """The monthly time series so far, from the DataCollector: one row per month, columns
        `metrics.columns` (month, the rest of `metrics.MONTHLY`, each guarantor's net assets)."""
        return self.datacollector.get_model_vars_dataframe()

    def run(self) -> None:
        while self.running:
            self.step()
