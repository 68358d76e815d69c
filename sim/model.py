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
paid too much stop issuing; the pool is topped up once a year by its rule.

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
from .firms import DIRECT, NO_LOAN, SCHEME, FirmPopulation
from .risk.copula import draw_factors, sample_defaults_grouped, systematic_table
from .risk.waterfall import split_losses


class GuaranteeModel(mesa.Model):
    # Month by month, in this order (DESIGN §4).
    PLAN = (
        "factors",  # draw the systematic macro / region / sector factors
        "maturities",  # loans at term repay; their guarantees are released
        "defaults",  # copula draws decide which running loans default
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
        self.n_regions = len(cfg.province.regions)
        self.n_sectors = len(cfg.province.sectors)
        self._factors = None
        self.phase_seconds: dict[str, float] = defaultdict(float)
        self._build_institutions()
        self._build_scheme()
        horizon_plus = cfg.horizon + cfg.firms.recovery_lag + 1
        self._recoveries_due = np.zeros((horizon_plus, len(self.accounts)))
        self._npl_window = max(cfg.firms.recovery_lag, 1)
        self._npl_by_month = np.zeros(horizon_plus)  # defaulted EAD by month of default
        self.rows: list[dict] = []
        self.datacollector = mesa.DataCollector(
            model_reporters={k: (lambda m, k=k: m.rows[-1][k]) for k in metrics.MONTHLY})
        self._cum_scheme_volume = np.zeros(len(self.accounts))  # covered volume per account
        self._book = np.zeros(self.n_regions + 1)  # loan book by guarantor + direct (see below)
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

    def _phase_factors(self) -> None:
        self._factors = draw_factors(self.rng, self.n_regions, self.n_sectors, self._factors,
                                     self.cfg.copula.ar1)

    def _phase_maturities(self) -> None:
        f = self.firms
        # Whole-array passes over small dtypes instead of gathers through an index array.
        active = f.channel != NO_LOAN
        f.age += active
        done = np.flatnonzero(active & (f.age >= f.term))
        w = self.weight
        repaid = np.bincount(f.channel[done], weights=f.amount[done], minlength=3)  # by channel
        self._m["released_scheme"] += w * repaid[SCHEME]
        self._m["repaid_direct"] += w * repaid[DIRECT]
        self._m["repaid_scheme"] += w * repaid[SCHEME]
        f.channel[done] = NO_LOAN
        f.amount[done] = 0.0

    def _phase_defaults(self) -> None:
        f = self.firms
        c = self.cfg.copula
        active = np.flatnonzero(f.channel != NO_LOAN)
        # One lookup per firm in a (region x sector) table of the systematic factor part;
        # bit for bit what sample_defaults computes firm by firm.
        table = systematic_table(self._factors, c.rho_macro, c.rho_region, c.rho_sector)
        hit = sample_defaults_grouped(self.rng, f.threshold[active], f.group[active], table,
                                      c.rho_macro, c.rho_region, c.rho_sector)
        self.defaulted = active[hit]

    def _phase_claims(self) -> None:
        f, w, m = self.firms, self.weight, self._m
        idx = self.defaulted
        ead = w * f.amount[idx]
        recovery_rate = 1.0 - f.lgd[idx]
        due = min(self.month + self.cfg.firms.recovery_lag, self._recoveries_due.shape[0] - 1)
        self._npl_by_month[self.month] += ead.sum()
        m["defaults"] += w * idx.shape[0]
        is_direct = f.channel[idx] == DIRECT
        # Direct loans: the bank bears everything and gets all the recovery.
        direct_loss = ead[is_direct].sum()
        self.bank.pay(direct_loss)
        m["default_direct"] += direct_loss
        m["loss_direct_bank"] += direct_loss
        self._recoveries_due[due, 0] += (recovery_rate[is_direct] * ead[is_direct]).sum()
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
            rec = np.bincount(payer.ravel(), weights=(split.paid * r[:, None]).ravel(),
                              minlength=len(self.accounts))
            rec[self._bearer] += (split.shortfall * r).sum()
            self._recoveries_due[due] += rec
        elif loss.shape[0]:
            self.bank.pay(loss.sum())
            m["scheme_loss_bank"] += loss.sum()
            self._recoveries_due[due, 0] += (recovery_rate[s_idx] * loss).sum()
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
        """Each guarantor's outstanding guarantees, from the loan book.

        One pass: `agency` is the guarantor of a scheme loan and n_regions for a direct loan,
        and firms without a loan have amount 0, so the bincount's last bucket is the direct
        book. Each bucket adds the same amounts in the same (firm) order as summing that
        guarantor's loans alone. Kept in `_book` (unweighted: times `weight` for province
        yuan) for the metrics; `_originate` adds each month's new loans to it.
        """
        f = self.firms
        self._book = np.bincount(f.agency, weights=f.amount, minlength=self.n_regions + 1)
        out = self.weight * self._book[:self.n_regions]
        for ag, o in zip(self.agencies, out):
            ag.outstanding = o

    def _phase_lending(self) -> None:
        f, w, m, rng, c = self.firms, self.weight, self._m, self.rng, self.cfg
        free = np.flatnonzero(f.channel == NO_LOAN)
        apps = free[np.flatnonzero(rng.random(free.shape[0]) < c.firms.apply_rate)]
        m["applicants"] += w * apps.shape[0]
        if apps.shape[0] == 0:
            return
        amount, term = f.draw_requests(apps, rng)
        est = self.bank.estimate_pd_from_logit(f.logit_pd[apps], f.has_file[apps], rng)
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
        region = None
        if self.uses_guarantor and cand.shape[0]:
            region = f.region[apps[cand]]
            est_g = GuaranteeAgency.estimate_pd_by_region(self.agencies, f.logit_pd[apps[cand]],
                                                          region, rng)
            ok = est_g <= np.array([ag.max_pd for ag in self.agencies])[region]
            m["rationed_guarantor_risk"] += w * np.count_nonzero(~ok)
            cand, region = cand[ok], region[ok]
            # Capacity: in random order within each agency, accept while room lasts.
            # = np.lexsort((u, region)) with u = rng.random(k): u is a multiple of 2^-53, so
            # region * 2^53 + u * 2^53 is an exact integer key with the same order.
            u53 = (rng.random(cand.shape[0]) * 2.0**53).astype(np.int64)
            order = np.argsort(region.astype(np.int64) * 2**53 + u53, kind="stable")
            cand, region = cand[order], region[order]
            need = w * amount[cand]
            csum = np.cumsum(need)
            starts = np.searchsorted(region, np.arange(self.n_regions))
            base = np.concatenate(([0.0], csum))[starts]
            within = csum - base[region]
            room = np.array([ag.capacity() for ag in self.agencies])
            fits = within <= room[region]
            m["rationed_capacity"] += w * np.count_nonzero(~fits)
            cand, region = cand[fits], region[fits]
        d = np.flatnonzero(direct)
        self._originate(apps[d], amount[d], term[d], DIRECT)
        self._originate(apps[cand], amount[cand], term[cand], SCHEME, region)

    def _originate(self, idx: np.ndarray, amount: np.ndarray, term: np.ndarray, channel: int,
                   region: np.ndarray | None = None) -> None:
        """New loans to firms idx; region = f.region[idx] when the caller has it already."""
        f, w, m = self.firms, self.weight, self._m
        name = "direct" if channel == DIRECT else "scheme"
        m[f"new_{name}"] += w * amount.sum()
        taken = f.loans_taken[idx]
        m["first_time"] += w * np.count_nonzero(taken == 0)
        f.channel[idx] = channel
        f.amount[idx] = amount
        f.term[idx] = term
        f.age[idx] = 0
        f.loans_taken[idx] = taken + 1
        if channel == DIRECT:
            f.agency[idx] = self.n_regions  # the direct book's bucket (see _refresh_outstanding)
            self._book[-1] += amount.sum()
        if channel == SCHEME and idx.shape[0]:
            region = f.region[idx] if region is None else region
            f.agency[idx] = region
            by_region = np.bincount(region, weights=amount, minlength=self.n_regions)
            self._book[:self.n_regions] += by_region
            vol = w * by_region
            fee = self.cfg.scheme.guarantee_fee * w * np.bincount(
                region, weights=amount * term / 12.0, minlength=self.n_regions)
            for p in set(self.tranche_payers):
                if p == "guarantor":
                    self._cum_scheme_volume[self._guarantor0:self._guarantor0 + self.n_regions] += vol
                else:
                    self._cum_scheme_volume[self._account_index[p]] += vol.sum()
            if self.uses_guarantor:
                for ag, fe in zip(self.agencies, fee):
                    ag.earn_fee(fe)
                m["fees"] += fee.sum()
            # Outstanding guarantees are next read at month end (_phase_metrics), which
            # takes them from _book, kept up to date here.

    def _phase_metrics(self) -> None:
        # The book was counted in full at _phase_institutions (capacity reads it) and has
        # only grown by this month's new loans since: no second pass over all firms.
        for ag, o in zip(self.agencies, self.weight * self._book[:self.n_regions]):
            ag.outstanding = o
        self.rows.append(metrics.monthly_row(self))
        self.datacollector.collect(self)

    def timeseries(self) -> "pd.DataFrame":
        """The monthly time series so far: one row per month, columns `metrics.MONTHLY`."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def run(self) -> None:
        while self.running:
            self.step()
