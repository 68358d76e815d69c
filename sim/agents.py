"""Institutions as Mesa agents: few of them, each with its own balance sheet and rules.

Every institution that can pay a tranche is an *account* in the loss waterfall: it says
how much it can pay now (`budget`), pays (`pay`), receives recoveries (`recover`) and
compensation from the pool (`compensate`). Amounts are province-scale yuan.
"""

from __future__ import annotations

import math

import mesa
import numpy as np
from scipy.special import expit

from .config import BankConfig, GovernmentConfig, GuarantorConfig, PoolConfig, ReguarantorConfig
from .risk import streams


class Account:
    """Ledger shared by every payer: what it paid, recovered and can still pay."""

    payer = ""
    # The attribute holding the money this account pays from and receives into ("" = none,
    # e.g. the firms' pledged counter-guarantee); `bounded` accounts cannot pay below zero.
    cash_attr = ""
    bounded = False

    def _init_ledger(self) -> None:
        self.paid_total = 0.0  # gross payments on defaulted loans
        self.recovered_total = 0.0
        self.compensated_total = 0.0  # net pool compensation received (paid out: negative)
        self.paid_month = 0.0
        self.recovered_month = 0.0
        self.compensated_month = 0.0

    def budget(self) -> float:
        """What it can pay now: its balance down to zero if bounded, else without limit."""
        return max(getattr(self, self.cash_attr), 0.0) if self.bounded else math.inf

    def _cash(self, delta: float) -> None:
        """Move this account's cash in its own balance."""
        if self.cash_attr:
            setattr(self, self.cash_attr, getattr(self, self.cash_attr) + delta)

    def pay(self, amount: float) -> None:
        self.paid_total += amount
        self.paid_month += amount
        self._cash(-amount)

    def recover(self, amount: float) -> None:
        self.recovered_total += amount
        self.recovered_month += amount
        self._cash(amount)

    def compensate(self, amount: float) -> None:
        """Pool compensation: positive when received, negative when paid out by the pool."""
        self.compensated_total += amount
        self.compensated_month += amount
        self._cash(amount)

    def new_month(self) -> None:
        self.paid_month = 0.0
        self.recovered_month = 0.0
        self.compensated_month = 0.0


class Institution(mesa.Agent, Account):
    """An institution: a Mesa agent of the model with a ledger and its config section."""

    def __init__(self, model, cfg):
        super().__init__(model)
        self._init_ledger()
        self.cfg = cfg


class Bank(Institution):
    """A representative lending bank.

    Reads a noisy signal of each applicant's PD: sharp for firms on the data-sharing
    platform, blunt for firms with only a credit file, bluntest for firms without one. Lends
    directly when its own expected loss is within appetite; otherwise asks the scheme for
    cover when the loss it would keep is within appetite. On loans it sends to the scheme it
    screens less carefully the less it keeps (moral hazard). It keeps every loss on direct
    loans, its tranche on scheme loans, and usually any shortfall; its capital may go
    negative: that is recorded, not prevented.
    """

    payer = "bank"
    cash_attr = "capital"  # may go negative: the bank always pays

    def __init__(self, model, cfg: BankConfig):
        super().__init__(model, cfg)
        self.capital = cfg.capital

    @property
    def appetite(self) -> float:
        """Expected-loss rate the bank accepts: its own limit plus supervisory NPL tolerance."""
        return self.cfg.max_expected_loss + self.cfg.npl_tolerance

    def noise(self, on_platform: np.ndarray, has_file: np.ndarray) -> np.ndarray:
        c = self.cfg
        return np.where(on_platform, c.noise_shared_data, np.where(has_file, c.noise_file, c.noise_no_file))

    def screen(self, logit_pd: np.ndarray, on_platform: np.ndarray, has_file: np.ndarray, lgd: float,
               bank_share: float, scheme_open: bool, draws, rows: np.ndarray):
        """Return (direct, to_scheme) masks for the applicants (firm rows `rows`).

        `logit_pd` is logit(true PD) (FirmPopulation caches it). The bank's signal is
        logit_pd + noise x N(0,1); on the scheme route it is noisier the less the bank keeps.
        `draws` (sim.risk.streams) gives the normals, keyed by firm row and month.
        """
        eps = draws.normal(streams.BANK_SIGNAL, rows)
        base = self.noise(on_platform, has_file)
        lp = logit_pd
        est = expit(lp + base * eps)
        direct = (est <= self.cfg.max_pd) & (est * lgd <= self.appetite)
        if not scheme_open:
            return direct, np.zeros_like(direct)
        # Less effort = a noisier signal: extra independent noise so that the total sd is
        # base * (1 + moral_hazard * (1 - effort)), effort = min(1, share kept / full_effort_share).
        effort = min(1.0, bank_share / self.cfg.full_effort_share) if self.cfg.full_effort_share > 0 else 1.0
        k = 1.0 + self.cfg.moral_hazard * (1.0 - effort)
        # Only applicants the bank does not lend to directly go to the scheme. Keyed draws
        # give each row its own number, so drawing for those alone changes nothing; a
        # sequential generator (construction) still draws one per applicant.
        ask = np.flatnonzero(~direct)
        z = (draws.normal(streams.BANK_EXTRA, rows[ask]) if draws.keyed
             else draws.normal(streams.BANK_EXTRA, rows)[ask])
        extra = base[ask] * np.sqrt(k * k - 1.0) * z
        est_s = expit(lp[ask] + base[ask] * eps[ask] + extra)
        to_scheme = np.zeros_like(direct)
        to_scheme[ask] = (est_s <= self.cfg.max_pd) & (est_s * lgd * bank_share <= self.appetite)
        return direct, to_scheme


class GuaranteeAgency(Institution):
    """City/county government guarantor (政府性融资担保机构) for one region.

    Screens with its own signal; issues a guarantee only while outstanding guarantees
    stay within leverage_cap x net assets (放大倍数 cap); earns the guarantee fee up front
    and pays re-guarantee fees; pays claims (代偿) from net assets until they are gone;
    gets recoveries (追偿) later. Suspends new business when claims since its last
    capitalisation reach `suspend_claims_multiple` x capital, when its 12-month claim rate
    passes `suspend_claim_rate`, or when net assets fall below the floor; after
    `suspension_months` the government restores its capital if the rule says so.
    """

    payer = "guarantor"
    cash_attr, bounded = "net_assets", True

    def __init__(self, model, region: int, region_name: str, capital: float, cfg: GuarantorConfig):
        super().__init__(model, cfg)
        self.region = region
        self.region_name = region_name
        self.capital = capital  # capital at the last (re)capitalisation
        self.net_assets = capital
        self.outstanding = 0.0  # 在保余额, set by the model from the loan book
        self.issued_month = 0.0  # new guarantees issued this month
        self.claims_since_capital = 0.0
        self.fees_total = 0.0
        self.injected_total = 0.0
        self.suspended = False
        self.suspended_month: int | None = None
        self.suspensions = 0

    def pay(self, amount: float) -> None:
        super().pay(amount)
        self.claims_since_capital += amount

    def new_month(self) -> None:
        super().new_month()
        self.issued_month = 0.0

    def earn_fee(self, amount: float) -> None:
        self.fees_total += amount
        self.net_assets += amount

    def capacity(self) -> float:
        """Room for new guarantees: leverage_cap x net assets - outstanding, 0 if suspended."""
        if self.suspended:
            return 0.0
        return max(self.cfg.leverage_cap * self.net_assets - self.outstanding, 0.0)

    @staticmethod
    def estimate_pd_by_region(agencies: list["GuaranteeAgency"], logit_pd: np.ndarray,
                              region: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Each agency's noisy PD signal, expit(logit(pd) + noise x z), for the candidates of
        its own region, all at once; z: one standard normal per candidate."""
        noise = np.array([ag.cfg.noise for ag in agencies])[region]
        return expit(logit_pd + noise * z)

    @property
    def leverage(self) -> float:
        """放大倍数: outstanding guarantees / net assets (inf once net assets are gone)."""
        if self.net_assets <= 0:
            return math.inf if self.outstanding > 0 else 0.0
        return self.outstanding / self.net_assets

    def update(self) -> float:
        """Suspend or reinstate, by this agency's own 12-month claim rate; return any capital
        the government injects."""
        c, month = self.cfg, self.model.month
        claim_rate_12m = self.model.claim_rate_12m(self.region)
        if self.suspended:
            if c.recapitalise == "restore" and month - self.suspended_month >= c.suspension_months:
                injection = max(self.capital - self.net_assets, 0.0)
                self.net_assets += injection
                self.injected_total += injection
                self.claims_since_capital = 0.0
                self.suspended = False
                return injection
            return 0.0
        if (self.claims_since_capital >= c.suspend_claims_multiple * self.capital
                or claim_rate_12m > c.suspend_claim_rate
                or self.net_assets < c.net_asset_floor * self.capital
                or self.net_assets <= 0):
            self.suspended = True
            self.suspended_month = month
            self.suspensions += 1
        return 0.0


class Reguarantor(Institution):
    """Provincial re-guarantor (省再担保), or the National Financing Guarantee Fund
    (国家融资担保基金) when payer is "national_fund": earns a fee on its share of each
    guarantee, takes its share of each claim from its capital as long as capital lasts, and
    stops sharing while the scheme's 12-month claim rate is above its ceiling."""

    cash_attr, bounded = "capital", True

    def __init__(self, model, payer: str, cfg: ReguarantorConfig):
        super().__init__(model, cfg)
        self.payer = payer
        self.capital = cfg.capital
        self.fees_total = 0.0

    def fee_rates(self, amount: np.ndarray) -> np.ndarray:
        """Yearly fee rate on its share: lower for small loans."""
        return np.where(amount <= self.cfg.small_loan_limit, self.cfg.fee_rate_small, self.cfg.fee_rate)

    def earn_fee(self, amount: float) -> None:
        self.fees_total += amount
        self.capital += amount

    def shares_claims(self, claim_rate_12m: float) -> bool:
        return not claim_rate_12m > self.cfg.claim_rate_ceiling  # NaN (no history yet): shares


class CompensationPool(Institution):
    """Local-government risk compensation pool (风险补偿资金池).

    Pays its share of each loss from its balance and cannot go below zero. With a payout
    delay (or efficiency below 1) the claimant carries the pool's share first and the pool
    pays its share of the net loss later, only `payout_efficiency` of it arriving.
    Replenished at the start of each year by its rule; every yuan put in is fiscal money.
    """

    payer = "pool"
    cash_attr, bounded = "balance", True

    def __init__(self, model, cfg: PoolConfig):
        super().__init__(model, cfg)
        self.balance = cfg.size
        self.appropriated_total = 0.0

    @property
    def deferred(self) -> bool:
        return self.cfg.payout_delay > 0 or self.cfg.payout_efficiency < 1.0

    @property
    def empty(self) -> bool:
        return self.balance <= 0.0

    def replenish_for_new_year(self, last_year_claim_rate: float) -> float:
        """Apply the replenishment rule; return the fiscal money added."""
        rule = self.cfg.replenish
        if rule == "annual":
            add = self.cfg.annual_amount
        elif rule == "top_up":
            add = max(self.cfg.size - self.balance, 0.0)
        elif rule == "performance":
            ok = not (last_year_claim_rate > self.cfg.performance_claim_rate)
            add = self.cfg.annual_amount if ok else 0.0
        else:
            add = 0.0
        self.balance += add
        self.appropriated_total += add
        return add


class Government(Institution):
    """Local government: the fiscal ledger. Pays tranches assigned to "government" from a
    yearly budget (unspent budget does not carry over), funds the pool, pays fee and
    interest subsidies and recapitalises guarantors."""

    payer = "government"
    cash_attr, bounded = "budget_left", True

    def __init__(self, model, cfg: GovernmentConfig):
        super().__init__(model, cfg)
        self.budget_left = cfg.annual_budget
        self.fiscal_spent = 0.0  # every fiscal yuan spent, cumulative, net of recoveries
        self.subsidies_total = 0.0
        self.injections_total = 0.0

    def _cash(self, delta: float) -> None:
        super()._cash(delta)
        self.fiscal_spent -= delta  # every yuan out of the budget is fiscal money spent

    def spend(self, amount: float, kind: str) -> None:
        """Fiscal money outside the loss waterfall: pool money, subsidies, capital injections."""
        self.fiscal_spent += amount
        if kind == "subsidy":
            self.subsidies_total += amount
        elif kind == "injection":
            self.injections_total += amount

    def new_year(self) -> None:
        self.budget_left = self.cfg.annual_budget


class BorrowerRecourse(Account):
    """The firms' own pledged counter-guarantee (反担保) tranche, e.g. Jiangxi's 'firm 10%'.
    Pledged in advance, so it always pays. Not an institution, so not a Mesa agent."""

    payer = "borrower"

    def __init__(self):
        self._init_ledger()
