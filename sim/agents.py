"""Institutions as Mesa agents: few of them, each with its own balance sheet and rules.

Every institution that can pay a tranche is an *account* in the loss waterfall: it says
how much it can pay now (`budget`), pays (`pay`) and receives recoveries (`recover`).
Amounts are province-scale yuan.
"""

from __future__ import annotations

import math

import mesa
import numpy as np
from scipy.special import expit, logit


class Account:
    """Ledger shared by every payer: what it paid, recovered and can still pay."""

    payer = ""

    def _init_ledger(self) -> None:
        self.paid_total = 0.0  # gross claims paid
        self.recovered_total = 0.0
        self.paid_month = 0.0
        self.recovered_month = 0.0

    def budget(self) -> float:
        return math.inf

    def pay(self, amount: float) -> None:
        self.paid_total += amount
        self.paid_month += amount

    def recover(self, amount: float) -> None:
        self.recovered_total += amount
        self.recovered_month += amount

    def new_month(self) -> None:
        self.paid_month = 0.0
        self.recovered_month = 0.0


class Bank(mesa.Agent, Account):
    """A representative lending bank.

    Screens each applicant with a noisy signal of its PD (noisier without a credit file),
    lends directly when its own expected loss is acceptable, asks the scheme for cover
    when the loss it would keep under the scheme is acceptable, and rejects otherwise.
    It keeps every loss on direct loans, its tranche on scheme loans, and usually any
    shortfall. Its capital may go negative: that is recorded, not prevented.
    """

    payer = "bank"

    def __init__(self, model, capital: float, signal_noise: float, signal_noise_no_file: float,
                 max_expected_loss: float, max_pd: float):
        super().__init__(model)
        self._init_ledger()
        self.capital = capital
        self.signal_noise = signal_noise
        self.signal_noise_no_file = signal_noise_no_file
        self.max_expected_loss = max_expected_loss
        self.max_pd = max_pd

    def estimate_pd(self, pd: np.ndarray, has_file: np.ndarray, rng: np.random.Generator,
                    logit_pd: np.ndarray | None = None) -> np.ndarray:
        """Noisy PD signal: expit(logit(pd) + noise x N(0,1)); logit_pd = logit(pd) if cached."""
        return self.estimate_pd_from_logit(logit(pd) if logit_pd is None else logit_pd, has_file, rng)

    def estimate_pd_from_logit(self, logit_pd: np.ndarray, has_file: np.ndarray,
                               rng: np.random.Generator) -> np.ndarray:
        """`estimate_pd` given logit(pd) (FirmPopulation caches it)."""
        noise = np.where(has_file, self.signal_noise, self.signal_noise_no_file)
        return expit(logit_pd + noise * rng.standard_normal(logit_pd.shape[0]))

    def accepts(self, est_pd: np.ndarray, lgd: float, retained_share: float) -> np.ndarray:
        """Lend if estimated PD x LGD x the share of loss the bank keeps is within appetite."""
        return (est_pd <= self.max_pd) & (est_pd * lgd * retained_share <= self.max_expected_loss)

    def pay(self, amount: float) -> None:
        super().pay(amount)
        self.capital -= amount

    def recover(self, amount: float) -> None:
        super().recover(amount)
        self.capital += amount


class GuaranteeAgency(mesa.Agent, Account):
    """City/county government guarantor (政府性融资担保机构) for one region.

    Screens with its own signal; issues a guarantee only while outstanding guarantees
    stay within leverage_cap x net assets (放大倍数 cap); earns the guarantee fee up front;
    pays claims (代偿) from net assets until they are gone; gets recoveries (追偿) later.
    Suspends new business once cumulative claims reach `suspend_claims_multiple` x its
    starting net assets, or when net assets are gone.
    """

    payer = "guarantor"

    def __init__(self, model, region: int, region_name: str, net_assets: float,
                 leverage_cap: float, signal_noise: float, max_pd: float,
                 suspend_claims_multiple: float):
        super().__init__(model)
        self._init_ledger()
        self.region = region
        self.region_name = region_name
        self.net_assets = net_assets
        self.initial_net_assets = net_assets
        self.leverage_cap = leverage_cap
        self.signal_noise = signal_noise
        self.max_pd = max_pd
        self.suspend_claims_multiple = suspend_claims_multiple
        self.outstanding = 0.0  # 在保余额, set by the model from the loan book
        self.fees_total = 0.0
        self.suspended = False
        self.suspended_month: int | None = None

    def budget(self) -> float:
        return max(self.net_assets, 0.0)

    def pay(self, amount: float) -> None:
        super().pay(amount)
        self.net_assets -= amount

    def recover(self, amount: float) -> None:
        super().recover(amount)
        self.net_assets += amount

    def earn_fee(self, amount: float) -> None:
        self.fees_total += amount
        self.net_assets += amount

    def capacity(self) -> float:
        """Room for new guarantees: leverage_cap x net assets - outstanding, 0 if suspended."""
        if self.suspended:
            return 0.0
        return max(self.leverage_cap * self.net_assets - self.outstanding, 0.0)

    def estimate_pd(self, pd: np.ndarray, rng: np.random.Generator,
                    logit_pd: np.ndarray | None = None) -> np.ndarray:
        """Noisy PD signal: expit(logit(pd) + noise x N(0,1)); logit_pd = logit(pd) if cached."""
        lp = logit(pd) if logit_pd is None else logit_pd
        return expit(lp + self.signal_noise * rng.standard_normal(pd.shape[0]))

    @staticmethod
    def estimate_pd_by_region(agencies: list["GuaranteeAgency"], logit_pd: np.ndarray,
                              region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Each agency's `estimate_pd` for the candidates of its own region, all at once.

        The same draws as calling agencies[0].estimate_pd, agencies[1].estimate_pd, ... in
        turn on their regions' candidates: the normal draws are taken in (agency, candidate)
        order, in one call instead of one per agency.
        """
        by_agency = np.argsort(region, kind="stable")
        noise = np.array([ag.signal_noise for ag in agencies])[region[by_agency]]
        est = np.empty(region.shape[0])
        est[by_agency] = expit(logit_pd[by_agency] + noise * rng.standard_normal(region.shape[0]))
        return est

    @property
    def leverage(self) -> float:
        """放大倍数: outstanding guarantees / net assets (inf once net assets are gone)."""
        if self.net_assets <= 0:
            return math.inf if self.outstanding > 0 else 0.0
        return self.outstanding / self.net_assets

    def update(self) -> None:
        if self.suspended:
            return
        if (self.paid_total >= self.suspend_claims_multiple * self.initial_net_assets
                or self.net_assets <= 0):
            self.suspended = True
            self.suspended_month = self.model.month


class Reguarantor(mesa.Agent, Account):
    """Provincial re-guarantor (省再担保), or the National Financing Guarantee Fund
    (国家融资担保基金) when payer is "national_fund": takes its share of each claim from
    its capital, as long as capital lasts."""

    def __init__(self, model, payer: str, capital: float):
        super().__init__(model)
        self._init_ledger()
        self.payer = payer
        self.capital = capital
        self.initial_capital = capital

    def budget(self) -> float:
        return max(self.capital, 0.0)

    def pay(self, amount: float) -> None:
        super().pay(amount)
        self.capital -= amount

    def recover(self, amount: float) -> None:
        super().recover(amount)
        self.capital += amount


class CompensationPool(mesa.Agent, Account):
    """Local-government risk compensation pool (风险补偿资金池).

    Pays its share of each loss from its balance and cannot go below zero: what it cannot
    pay becomes shortfall. Replenished at the start of each year by its rule: `none`,
    `annual` (a fixed appropriation) or `top_up` (back to its initial size). Every yuan put
    in is fiscal money, booked with the Government.
    """

    payer = "pool"

    def __init__(self, model, size: float, replenish: str, annual_amount: float):
        super().__init__(model)
        self._init_ledger()
        self.balance = size
        self.size = size
        self.replenish = replenish
        self.annual_amount = annual_amount
        self.appropriated_total = 0.0

    def budget(self) -> float:
        return max(self.balance, 0.0)

    def pay(self, amount: float) -> None:
        super().pay(amount)
        self.balance -= amount

    def recover(self, amount: float) -> None:
        super().recover(amount)
        self.balance += amount

    def replenish_for_new_year(self) -> float:
        """Apply the replenishment rule; return the fiscal money added."""
        if self.replenish == "annual":
            add = self.annual_amount
        elif self.replenish == "top_up":
            add = max(self.size - self.balance, 0.0)
        else:
            add = 0.0
        self.balance += add
        self.appropriated_total += add
        return add


class Government(mesa.Agent, Account):
    """Local government: the fiscal ledger. Pays tranches assigned to "government" from a
    yearly budget (unspent budget does not carry over) and funds the pool."""

    payer = "government"

    def __init__(self, model, annual_budget: float):
        super().__init__(model)
        self._init_ledger()
        self.annual_budget = annual_budget
        self.budget_left = annual_budget
        self.fiscal_spent = 0.0  # pool money and tranche payments, cumulative

    def budget(self) -> float:
        return max(self.budget_left, 0.0)

    def pay(self, amount: float) -> None:
        super().pay(amount)
        self.budget_left -= amount
        self.fiscal_spent += amount

    def recover(self, amount: float) -> None:
        super().recover(amount)
        self.fiscal_spent -= amount

    def new_year(self) -> None:
        self.budget_left = self.annual_budget


class BorrowerRecourse(Account):
    """The firms' own pledged counter-guarantee (反担保) tranche, e.g. Jiangxi's 'firm 10%'.
    Pledged in advance, so it always pays. Not an institution, so not a Mesa agent."""

    payer = "borrower"

    def __init__(self):
        self._init_ledger()
