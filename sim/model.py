"""The government-bank-guarantor (政银担) model: one Mesa model per replication.

In plain words: a province's small firms, each with its own default risk, apply for bank
loans. The bank reads a noisy signal of each applicant's risk. It lends on its own to firms
it judges safe enough; for the rest it asks the risk-sharing scheme for cover, as long as
the part of the loss it would keep (its tranche) is acceptable. The region's government
guarantor reads its own signal and guarantees the loan if it judges the firm acceptable and
its leverage cap leaves room. Each month loans age; those at term are repaid and free the
guarantee; some default, together in bad months (a Gaussian copula with macro, region and
sector factors). A defaulted loan's loss is split by the scheme: the guarantor, the
provincial re-guarantor, the national fund, the bank, the compensation pool, the
government budget and the firm's counter-guarantee each pay their share, up to their caps
and their cash; what nobody can pay is a shortfall that falls to a configured bearer.
Recoveries from collateral come back months later to whoever paid. Guarantors that have
paid too much stop issuing; the pool is topped up once a year by its rule. A loan that
misses a payment is overdue (逾期) for three months before it cures or defaults. Shocks
(floods, droughts, pandemics, sector crashes, downturns; sim/shocks.py) move default and
overdue probabilities, collateral, recoveries and loan demand in chosen places and months.

The step order is an explicit plan (`GuaranteeModel.PLAN`), timed phase by phase.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

import mesa
import numpy as np

from . import metrics
from .agents import (Bank, BorrowerRecourse, CompensationPool, GuaranteeAgency, Government,
                     Reguarantor)
from .config import SimConfig, tranche_payer
from .firms import DIRECT, NO_LOAN, PERFORMING, SCHEME, FirmPopulation
from .risk.copula import draw_factors, latent_values
from .risk.waterfall import split_losses
from .shocks import ShockEngine


class GuaranteeModel(mesa.Model):
    # Month by month, in this order (DESIGN §4).
    PLAN = (
        "shocks",  # shock events active this month: onsets, per-firm effects
        "factors",  # draw the systematic macro / region / sector factors
        "maturities",  # loans at term repay; their guarantees are released
        "defaults",  # copula draws: performing loans fall overdue; overdue ones cure or default
        "claims",  # loss waterfall: tranches pay, shortfall recorded
        "recoveries",  # recoveries due this month flow back pro rata
        "institutions",  # suspension, yearly replenishment and budgets
        "lending",  # applications, screening, capacity, new loans
        "metrics",  # this month's row of the time series
    )

    def __init__(self, cfg: SimConfig, rng: np.random.Generator | int | None = None):
        super().__init__(rng=rng)
        self.cfg = cfg
        self.month = 0  # months completed
        self.weight = cfg.province.firms_total / cfg.firms.n  # real firms per simulated firm
        self.firms = FirmPopulation(cfg.firms.n, cfg.province, cfg.firms, self.rng)
        self.shocks = ShockEngine(cfg, self.rng)  # also owns the copula's random streams
        self.n_regions = len(cfg.province.regions)
        self.n_sectors = len(cfg.province.sectors)
        self._factors = None
        self.phase_seconds: dict[str, float] = defaultdict(float)
        self._build_institutions()
        self._build_scheme()
        horizon_plus = cfg.horizon + cfg.firms.recovery_lag + self.shocks.max_recovery_delay + 1
        self._recoveries_due = np.zeros((horizon_plus, len(self.accounts)))
        self._npl_window = max(cfg.firms.recovery_lag, 1)
        self._npl_by_month = np.zeros(horizon_plus)  # defaulted EAD by month of default
        self.rows: list[dict] = []
        self.datacollector = mesa.DataCollector(
            model_reporters={k: (lambda m, k=k: m.rows[-1][k]) for k in metrics.MONTHLY})
        self._cum_scheme_volume = np.zeros(len(self.accounts))  # covered volume per account
        self.defaulted = np.zeros(0, np.intp)
        self.running = True

    # ------------------------------------------------------------------ construction
    def _build_institutions(self) -> None:
        c = self.cfg
        self.bank = Bank(self, c.bank.capital, c.bank.signal_noise, c.bank.signal_noise_no_file,
                         c.bank.max_expected_loss, c.bank.max_pd)
        shares = np.array([r.firm_share for r in c.province.regions])
        self.agencies = [
            GuaranteeAgency(self, i, r.name, c.guarantor.capital * shares[i], c.guarantor.leverage_cap,
                            c.guarantor.signal_noise, c.guarantor.max_pd,
                            c.guarantor.suspend_claims_multiple)
            for i, r in enumerate(c.province.regions)
        ]
        self.reguarantor = Reguarantor(self, "reguarantor", c.reguarantor.capital)
        self.national_fund = Reguarantor(self, "national_fund", c.national_fund.capital)
        self.pool = CompensationPool(self, c.pool.size, c.pool.replenish, c.pool.annual_amount)
        self.government = Government(self, c.government.annual_budget)
        self.borrower = BorrowerRecourse()
        # Waterfall accounts: guarantor agencies occupy one slot per region.
        self.accounts = [self.bank, *self.agencies, self.reguarantor, self.national_fund,
                         self.pool, self.government, self.borrower]
        self._account_index = {"bank": 0, "reguarantor": 1 + self.n_regions,
                               "national_fund": 2 + self.n_regions, "pool": 3 + self.n_regions,
                               "government": 4 + self.n_regions, "borrower": 5 + self.n_regions}
        self._guarantor0 = 1

    def _build_scheme(self) -> None:
        s = self.cfg.scheme
        names = list(s.tranches)
        self.tranche_names = names
        self.tranche_payers = [tranche_payer(n, s.tranches[n]) for n in names]
        self.shares = np.array([s.tranches[n].share for n in names])
        w = self.weight
        # Per-loan caps are for a real loan; a simulated loan stands for `weight` of them.
        self.cap_per_loan = np.array([
            (s.tranches[n].cap_per_loan * w) if s.tranches[n].cap_per_loan is not None else np.inf
            for n in names])
        self.cap_rate = {self.tranche_payers[j]: s.tranches[n].cap_rate
                         for j, n in enumerate(names) if s.tranches[n].cap_rate is not None}
        self.bank_share = sum(sh for p, sh in zip(self.tranche_payers, self.shares) if p == "bank")
        self.scheme_active = any(p != "bank" for p in self.tranche_payers)
        self.uses_guarantor = "guarantor" in self.tranche_payers
        self.scheme_channel = ("guaranteed" if self.uses_guarantor else
                               "pool" if self.scheme_active else "none")
        self.system_payers = {"guarantor", "reguarantor", "national_fund"}
        self._bearer = self._account_index.get(s.shortfall_bearer, self._guarantor0)

    def _payer_matrix(self, agency: np.ndarray) -> np.ndarray:
        """(n, k) account index of each tranche's payer for each defaulted scheme loan."""
        cols = []
        for p in self.tranche_payers:
            if p == "guarantor":
                cols.append(self._guarantor0 + agency.astype(np.intp))
            else:
                cols.append(np.full(agency.shape[0], self._account_index[p], np.intp))
        return np.stack(cols, axis=1) if cols else np.zeros((agency.shape[0], 0), np.intp)

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        for acc in self.accounts:
            acc.new_month()
        self._m = defaultdict(float)  # this month's tallies
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
        self._eps = g.standard_normal(self.firms.n)

    def _phase_maturities(self) -> None:
        f = self.firms
        active = np.flatnonzero(f.channel != NO_LOAN)
        f.age[active] += 1
        done = active[(f.age[active] >= f.term[active]) & (f.status[active] == PERFORMING)]
        w = self.weight
        scheme_done = done[f.channel[done] == SCHEME]
        self._m["released_scheme"] += w * f.amount[scheme_done].sum()
        self._m["repaid_direct"] += w * f.amount[done[f.channel[done] == DIRECT]].sum()
        self._m["repaid_scheme"] += w * f.amount[scheme_done].sum()
        f.channel[done] = NO_LOAN
        f.amount[done] = 0.0

    def _phase_defaults(self) -> None:
        f = self.firms
        c = self.cfg.copula
        at_risk = np.flatnonzero((f.channel != NO_LOAN) & (f.status == PERFORMING))
        x = latent_values(self._factors, f.region[at_risk], f.sector[at_risk], c.rho_macro,
                          c.rho_region, c.rho_sector, self._eps[at_risk])
        t_default, t_overdue = self.shocks.thresholds(f, at_risk)
        self.defaulted, new, cured = f.update_arrears(self.month, at_risk, x, t_default, t_overdue,
                                                      self.cfg.firms.overdue_months)
        self._m["overdue_new"] += self.weight * new.shape[0]
        self._m["overdue_cured"] += self.weight * cured.shape[0]

    def _phase_claims(self) -> None:
        f, w, m = self.firms, self.weight, self._m
        idx = self.defaulted
        ead = w * f.amount[idx]
        lgd, delay = f.loss_terms(idx, self.month)  # shocks may raise LGD and delay recovery
        recovery_rate = 1.0 - lgd
        due = np.minimum(self.month + self.cfg.firms.recovery_lag + delay,
                         self._recoveries_due.shape[0] - 1)
        self._npl_by_month[self.month] += ead.sum()
        m["defaults"] += w * idx.shape[0]
        is_direct = f.channel[idx] == DIRECT
        # Direct loans: the bank bears everything and gets all the recovery.
        direct_loss = ead[is_direct].sum()
        self.bank.pay(direct_loss)
        m["default_direct"] += direct_loss
        m["loss_direct_bank"] += direct_loss
        np.add.at(self._recoveries_due[:, 0], due[is_direct], recovery_rate[is_direct] * ead[is_direct])
        # Scheme loans: the waterfall.
        s_idx = ~is_direct
        loss = ead[s_idx]
        m["default_scheme"] += loss.sum()
        m["released_scheme"] += loss.sum()
        if loss.shape[0] and self.scheme_active:
            payer = self._payer_matrix(f.agency[idx[s_idx]])
            budget = np.array([acc.budget() for acc in self.accounts])
            for p, rate in self.cap_rate.items():
                # Portfolio cap: at most `rate` of the volume this payer has covered.
                if p == "guarantor":
                    sl = slice(self._guarantor0, self._guarantor0 + self.n_regions)
                else:
                    sl = slice(self._account_index[p], self._account_index[p] + 1)
                room = rate * self._cum_scheme_volume[sl] - np.array(
                    [a.paid_total for a in self.accounts[sl]])
                budget[sl] = np.minimum(budget[sl], np.maximum(room, 0.0))
            split = split_losses(loss, self.shares, payer, budget, self.cap_per_loan)
            for a, amount in enumerate(split.by_payer):
                if amount:
                    self.accounts[a].pay(amount)
            shortfall = split.shortfall.sum()
            self.accounts[self._bearer].pay(shortfall)
            m["shortfall"] += shortfall
            for j, p in enumerate(self.tranche_payers):
                paid_j = split.paid[:, j].sum()
                m[f"scheme_loss_{p}"] += paid_j
                if p in self.system_payers:
                    m["claims"] += paid_j
            # Recoveries go back pro rata to what each account paid on each loan.
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(loss > 0, recovery_rate[s_idx], 0.0)
            due_s = due[s_idx]
            np.add.at(self._recoveries_due, (np.broadcast_to(due_s[:, None], payer.shape), payer),
                      split.paid * r[:, None])
            np.add.at(self._recoveries_due[:, self._bearer], due_s, split.shortfall * r)
        elif loss.shape[0]:
            self.bank.pay(loss.sum())
            m["scheme_loss_bank"] += loss.sum()
            np.add.at(self._recoveries_due[:, 0], due[s_idx], recovery_rate[s_idx] * loss)
        # Defaulted firms exit; entrants take their place.
        f.channel[idx] = NO_LOAN
        f.amount[idx] = 0.0
        f.respawn(idx, self.rng)

    def _phase_recoveries(self) -> None:
        due = self._recoveries_due[self.month]
        for a, amount in enumerate(due):
            if amount:
                self.accounts[a].recover(amount)
        self._m["recoveries"] += due.sum()

    def _phase_institutions(self) -> None:
        self._refresh_outstanding()
        for ag in self.agencies:
            ag.update()
        if self.month % 12 == 0 and self.month > 0:
            self.government.new_year()
            self.government.fiscal_spent += self.pool.replenish_for_new_year()

    def _refresh_outstanding(self) -> None:
        f = self.firms
        on = f.channel == SCHEME
        out = self.weight * np.bincount(f.agency[on], weights=f.amount[on], minlength=self.n_regions)
        for ag, o in zip(self.agencies, out):
            ag.outstanding = o

    def _phase_lending(self) -> None:
        f, w, m, rng, c = self.firms, self.weight, self._m, self.rng, self.cfg
        free = np.flatnonzero(f.channel == NO_LOAN)
        rate = c.firms.apply_rate
        mult = self.shocks.apply_multiplier(free)  # shocks: emergency demand, or a drop
        apps = free[rng.random(free.shape[0]) < (rate if mult is None else rate * mult)]
        m["applicants"] += w * apps.shape[0]
        if apps.shape[0] == 0:
            return
        amount, term = f.draw_requests(apps, rng)
        est = self.bank.estimate_pd(f.pd[apps], f.has_file[apps], rng)
        lgd = c.firms.lgd_mean
        direct = self.bank.accepts(est, lgd, 1.0)
        to_scheme = ~direct
        if self.scheme_active:
            to_scheme &= self.bank.accepts(est, lgd, self.bank_share)
            to_scheme &= amount <= c.scheme.max_loan
        else:
            to_scheme[:] = False
        m["rationed_bank_risk"] += w * np.count_nonzero(~direct & ~to_scheme)
        cand = np.flatnonzero(to_scheme)
        if self.uses_guarantor and cand.shape[0]:
            region = f.region[apps[cand]]
            est_g = np.empty(cand.shape[0])
            for ag in self.agencies:
                sel = region == ag.region
                est_g[sel] = ag.estimate_pd(f.pd[apps[cand[sel]]], rng)
            ok = est_g <= np.array([ag.max_pd for ag in self.agencies])[region]
            m["rationed_guarantor_risk"] += w * np.count_nonzero(~ok)
            cand, region = cand[ok], region[ok]
            # Capacity: in random order within each agency, accept while room lasts.
            order = np.lexsort((rng.random(cand.shape[0]), region))
            cand, region = cand[order], region[order]
            need = w * amount[cand]
            csum = np.cumsum(need)
            starts = np.searchsorted(region, np.arange(self.n_regions))
            base = np.concatenate(([0.0], csum))[starts]
            within = csum - base[region]
            room = np.array([ag.capacity() for ag in self.agencies])
            fits = within <= room[region]
            m["rationed_capacity"] += w * np.count_nonzero(~fits)
            cand = cand[fits]
        self._originate(apps[np.flatnonzero(direct)], amount[direct], term[direct], DIRECT)
        self._originate(apps[cand], amount[cand], term[cand], SCHEME)

    def _originate(self, idx: np.ndarray, amount: np.ndarray, term: np.ndarray, channel: int) -> None:
        f, w, m = self.firms, self.weight, self._m
        name = "direct" if channel == DIRECT else "scheme"
        m[f"new_{name}"] += w * amount.sum()
        m["first_time"] += w * np.count_nonzero(f.loans_taken[idx] == 0)
        f.channel[idx] = channel
        f.amount[idx] = amount
        f.term[idx] = term
        f.age[idx] = 0
        f.loans_taken[idx] += 1
        if channel == SCHEME and idx.shape[0]:
            f.agency[idx] = f.region[idx]
            vol = w * np.bincount(f.region[idx], weights=amount, minlength=self.n_regions)
            fee = self.cfg.scheme.guarantee_fee * w * np.bincount(
                f.region[idx], weights=amount * term / 12.0, minlength=self.n_regions)
            for p in set(self.tranche_payers):
                if p == "guarantor":
                    self._cum_scheme_volume[self._guarantor0:self._guarantor0 + self.n_regions] += vol
                else:
                    self._cum_scheme_volume[self._account_index[p]] += vol.sum()
            if self.uses_guarantor:
                for ag, fe in zip(self.agencies, fee):
                    ag.earn_fee(fe)
                m["fees"] += fee.sum()
            self._refresh_outstanding()

    def _phase_metrics(self) -> None:
        self.rows.append(metrics.monthly_row(self))
        self.datacollector.collect(self)

    def run(self) -> None:
        while self.running:
            self.step()
