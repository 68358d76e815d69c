"""Institutions as Mesa agents: few of them, each with its own balance sheet and rules.

Every institution that can pay a tranche is an *account* in the loss waterfall: it says
how much it can pay now (`budget`), pays (`pay`), receives recoveries (`recover`) and
compensation from the pool (`compensate`). Amounts are province-scale yuan.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from .config import GovernmentConfig, GuarantorConfig, PoolConfig, ReguarantorConfig
from .funds import CompensationFunds as CompensationFundsLedger


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


class BankLedger(Account):
    """The banks' money, summed over banks: their retained losses, recoveries and capital.
    The banks decide one by one (`Bank`); their capital is pooled because it never binds a
    decision here (it may go negative: that is recorded, not prevented)."""

    payer = "bank"
    cash_attr = "capital"  # may go negative: the banks always pay

    def __init__(self, capital: float):
        self._init_ledger()
        self.capital = capital
        self.interest_total = 0.0  # interest earned on loans (yuan)


class Bank(mesa.Agent):
    """One lending bank (Hunan: 89 on the platform), with its own appetite and its own choice
    of whether to use the scheme.

    Screening: the bank reads a noisy signal of each applicant's PD, sharp for firms on the
    data-sharing platform, blunt with only a credit file, bluntest without one. It lends
    directly when its expected loss is within its appetite; otherwise, if it has joined the
    scheme, it asks for cover when its expected loss on the share it *effectively* keeps is
    within appetite. The less it keeps the less carefully it screens (moral hazard). The rule
    runs for all of a month's applicants at once, compiled (`sim.kernel.screen`), with the
    limits the model computes from each bank's appetite and kept share.

    Participation: it joins the scheme while the share it effectively keeps (its tranche,
    plus the funds' share it fronts times what it expects not to receive or to wait for) is
    within its tolerance; banks differ in tolerance and appetite.
    """

    def __init__(self, model, index: int, appetite: float, tolerance: float):
        super().__init__(model)
        self.index = index
        self.appetite = appetite  # expected-loss rate it accepts
        self.tolerance = tolerance  # largest kept share at which it uses the scheme
        self.in_scheme = False

    def decide_participation(self, kept_share: float, scheme_active: bool) -> None:
        self.in_scheme = scheme_active and kept_share <= self.tolerance


class GuaranteeAgency(Institution):
    """A government guarantor (政府性融资担保机构) serving part of one prefecture.

    Decides on each candidate from its own incentives: it accepts a firm while its expected
    yearly loss on the share it effectively keeps (its tranche, plus what it pays the bank
    first and expects not to get back from re-guarantors and funds) is covered by the fee it
    keeps and its tolerated loss, and while its capacity (leverage_cap x net assets - liability
    balance) allows. Earns the fee up front and pays re-guarantee fees; earns a return on net
    assets and pays operating costs. When a guaranteed loan defaults it pays the bank the
    guaranteed loss (代偿) within the month, books receivables from the re-guarantors and the
    funds, and recovers (追偿) later. Suspends new business when its outstanding claims
    (代偿余额: paid, not yet recovered or reimbursed) reach `suspend_claims_multiple` x net
    assets, when its 12-month claim rate passes `suspend_claim_rate`, or when net assets fall
    below the floor; after `suspension_months` the government restores its capital if the
    rule says so. Net assets count receivables at nothing until they arrive (prudent: about
    half of due compensation never does, H).
    """

    payer = "guarantor"
    cash_attr, bounded = "net_assets", True

    def __init__(self, model, index: int, region: int, name: str, capital: float,
                 cfg: GuarantorConfig):
        super().__init__(model, cfg)
        self.index = index
        self.region = region
        self.name = name
        self.capital = capital  # capital at the last (re)capitalisation
        self.net_assets = capital
        self.outstanding = 0.0  # 在保余额, set by the model from the loan book
        self.liability = 0.0  # 责任余额: outstanding x the share not ceded to re-guarantors
        self.issued_month = 0.0  # new guarantees issued this month
        self.claims_pending = 0.0  # claims paid whose recovery is not yet in (own share included)
        self.receivable = 0.0  # reimbursements owed to it by re-guarantors and funds
        self.fees_total = 0.0
        self.income_total = 0.0  # investment income
        self.costs_total = 0.0  # operating costs
        self.injected_total = 0.0
        self.rewards_total = 0.0
        self.suspended = False
        self.suspended_month: int | None = None
        self.suspensions = 0

    @property
    def claims_outstanding(self) -> float:
        """代偿余额: claims paid and not yet recovered or reimbursed."""
        return self.claims_pending + self.receivable

    def new_month(self) -> None:
        super().new_month()
        self.issued_month = 0.0

    def earn_fee(self, amount: float) -> None:
        self.fees_total += amount
        self.net_assets += amount

    def receive_reward(self, amount: float) -> None:
        """A performance reward from the government (pool.priority.reward): fiscal money into
        net assets, outside the loss waterfall."""
        self.rewards_total += amount
        self.net_assets += amount

    def capacity(self) -> float:
        """Room for new liability: leverage_cap x net assets - liability balance, 0 if suspended."""
        if self.suspended:
            return 0.0
        return max(self.cfg.leverage_cap * self.net_assets - self.liability, 0.0)

    @staticmethod
    def max_acceptable_pd(cfg: GuarantorConfig, kept_share: np.ndarray, net_fee: float,
                          lgd: float) -> np.ndarray:
        """Largest estimated annual PD each guarantor accepts, from the share it effectively
        keeps: PD x LGD x kept share <= net fee + tolerance, and never above max_pd."""
        with np.errstate(divide="ignore"):
            pd = (net_fee + cfg.loss_tolerance) / (lgd * np.asarray(kept_share, float))
        return np.minimum(np.where(np.asarray(kept_share) > 0, pd, cfg.max_pd), cfg.max_pd)

    @property
    def leverage(self) -> float:
        """放大倍数 on the liability balance: liability / net assets (inf once net assets are gone)."""
        if self.net_assets <= 0:
            return math.inf if self.liability > 0 else 0.0
        return self.liability / self.net_assets

    def accrue(self) -> tuple[float, float]:
        """A month's investment income on net assets and operating cost on the liability
        balance; returns (income, cost)."""
        income = max(self.net_assets, 0.0) * self.cfg.investment_return / 12.0
        cost = self.liability * self.cfg.operating_cost / 12.0
        self.net_assets += income - cost
        self.income_total += income
        self.costs_total += cost
        return income, cost

    def update(self, claim_rate_12m: float) -> float:
        """Suspend or reinstate by this guarantor's own claims and 12-month claim rate; return
        any capital the government injects."""
        c, month = self.cfg, self.model.month
        if self.suspended:
            if c.recapitalise == "restore" and month - self.suspended_month >= c.suspension_months:
                injection = max(self.capital - self.net_assets, 0.0)
                self.net_assets += injection
                self.injected_total += injection
                self.suspended = False
                return injection
            return 0.0
        if (self.claims_outstanding >= c.suspend_claims_multiple * max(self.net_assets, 0.0)
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
    guarantee and reimburses its share of each claim to the guarantor that paid it,
    `payout_delay` months later and as long as its capital lasts; it refuses a partner
    guarantor's claims while that guarantor's own 12-month claim rate is above its ceiling."""

    cash_attr, bounded = "capital", True

    def __init__(self, model, payer: str, cfg: ReguarantorConfig):
        super().__init__(model, cfg)
        self.payer = payer
        self.capital = cfg.capital
        self.fees_total = 0.0
        self.reimbursed_total = 0.0

    def fee_rates(self, amount: np.ndarray) -> np.ndarray:
        """Yearly fee rate on its share: lower for small loans."""
        return np.where(amount <= self.cfg.small_loan_limit, self.cfg.fee_rate_small, self.cfg.fee_rate)

    def earn_fee(self, amount: float) -> None:
        self.fees_total += amount
        self.capital += amount

    def reimburse(self, amount: float) -> None:
        """Pay a claimant its share of a claim (the claimant is credited by the model)."""
        self.reimbursed_total += amount
        self.compensate(-amount)

    def shares_claims(self, claim_rate_12m: np.ndarray | float) -> np.ndarray | bool:
        """Whether it reimburses a partner with this 12-month claim rate (NaN, no history: yes)."""
        return ~(np.asarray(claim_rate_12m) > self.cfg.claim_rate_ceiling)


class CompensationFunds(Institution):
    """Local-government risk-compensation funds (风险补偿资金) in two layers: the provincial
    pool (fund 0) and one fund per prefecture (funds 1..R), plus an optional special pool
    (fund R + 1) that compensates banks on direct loans to firms on the data platform.

    They pay the scheme's `pool` tranche, but not at default: the claimant (the guarantor
    that paid the bank, or the bank when no guarantor is in the scheme) files a claim for the
    funds' share of the net loss, at most `max_share` of it and only on loans up to
    `max_loan`; `payout_efficiency` of it passes review. Each fund pays its queue oldest
    first as cash allows, after `payout_delay` months (sim/funds.py); claims wait, roll over
    into the next year, and are abandoned as the expected wait grows. The provincial pool is
    replenished each year by its rule, the prefecture funds by appropriations that may fail
    to arrive; unspent prefecture money carries over or lapses. Every yuan put in is fiscal.
    """

    payer = "pool"

    def __init__(self, model, cfg: PoolConfig, region_shares: np.ndarray, n_claimants: int,
                 span: int):
        super().__init__(model, cfg)
        self.n_regions = region_shares.shape[0]
        self.region_shares = region_shares
        self.special = 1 + self.n_regions  # the special pool's fund index
        self.scheme_funds = np.arange(self.special)  # the funds that pay the scheme's tranche
        self.ledger = CompensationFundsLedger(2 + self.n_regions, n_claimants, span)
        self.ledger.endow(np.concatenate(([cfg.size], cfg.city_size * region_shares,
                                          [cfg.special_size])))
        self.appropriated_total = 0.0  # fiscal money put in after the start
        self.lapsed_total = 0.0
        # Claimants with priority in the provincial pool's queue this year (Jiangxi's
        # performance-linked payouts, pool.priority; set by the model): none unless it is on.
        self.priority = np.zeros(n_claimants, bool)

    def priority_mask(self) -> np.ndarray | None:
        """(funds, claimants) priority for the ledger's pay and abandon: the provincial pool
        (fund 0) only; None when no claimant has it (the plain queue)."""
        if not self.priority.any():
            return None
        mask = np.zeros((self.ledger.n_funds, self.ledger.n_claimants), bool)
        mask[0] = self.priority
        return mask

    @property
    def balance(self) -> float:
        """The provincial pool's cash."""
        return float(self.ledger.balance[0])

    @property
    def city_balance(self) -> np.ndarray:
        return self.ledger.balance[1:self.special]

    @property
    def empty(self) -> bool:
        return self.balance <= 0.0

    def inflow_per_month(self) -> np.ndarray:
        """Each fund's expected new cash a month: its yearly appropriation / 12."""
        c = self.cfg
        prov = c.annual_amount if c.replenish in ("annual", "performance") else (
            c.size / 12.0 if c.replenish == "top_up" else 0.0)
        city = c.city_annual_amount * c.city_reliability * self.region_shares
        return np.concatenate(([prov], city, [0.0])) / 12.0

    def expected_recovery(self, discount_rate: float, special: bool = False,
                          priority: bool = False) -> float:
        """Share of a new claim a claimant expects to get, in present value: what passes
        review x what survives its own abandonment over the expected wait x a discount for
        that wait. The wait is the review delay plus the queue ahead beyond the funds' cash,
        over their monthly inflow; abandonment follows the funds' rule, a fraction
        1 - exp(-(remaining wait - patience) / abandon_scale) a month. `special`: the special
        pool's claims instead of the scheme's funds. `priority`: for a claimant with priority
        in the provincial pool, whose queue ahead there holds only priority claims."""
        c, led = self.cfg, self.ledger
        funds = [self.special] if special else self.scheme_funds
        inflow = self.inflow_per_month()[funds].sum()
        queued = led.queued_amount()[funds].sum()
        if priority and not special:
            queued -= led.queued_by_claimant()[0, ~self.priority].sum()
        short = max(queued - np.maximum(led.balance[funds], 0.0).sum(), 0.0)
        queue_wait = min(short / inflow, 120.0) if inflow > 0 else (120.0 if short > 0 else 0.0)
        wait = c.payout_delay + queue_wait
        excess = np.maximum(wait - np.arange(int(math.ceil(wait)) + 1) - c.patience, 0.0).sum()
        survive = math.exp(-excess / c.abandon_scale)
        return (1.0 if special else c.payout_efficiency) * survive * (1.0 + discount_rate) ** (-wait / 12.0)

    def new_year(self, last_year_claim_rate: float, arrives: np.ndarray) -> float:
        """Year-end: lapse or carry, then appropriations (the provincial pool by its rule, each
        prefecture fund if its appropriation `arrives`); return the net fiscal money added."""
        c = self.cfg
        before = self.ledger.lapsed.sum()
        lapse = np.zeros(2 + self.n_regions, bool)
        lapse[1:self.special] = c.carry_over == "lapse"
        self.ledger.close_year(self.model.month, lapse)
        lapsed = self.ledger.lapsed.sum() - before
        rule = c.replenish
        if rule == "annual":
            prov = c.annual_amount
        elif rule == "top_up":
            prov = max(c.size - self.balance, 0.0)
        elif rule == "performance":
            prov = c.annual_amount if not (last_year_claim_rate > c.performance_claim_rate) else 0.0
        else:
            prov = 0.0
        add = np.concatenate(([prov], c.city_annual_amount * self.region_shares * arrives, [0.0]))
        self.ledger.appropriate(add)
        self.appropriated_total += add.sum()
        self.lapsed_total += lapsed
        return add.sum() - lapsed


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
        self.rewards_total = 0.0  # performance rewards (pool.priority.reward)

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
        elif kind == "reward":
            self.rewards_total += amount

    def new_year(self) -> None:
        self.budget_left = self.cfg.annual_budget


class BorrowerRecourse(Account):
    """The firms' own pledged counter-guarantee (反担保) tranche, e.g. Jiangxi's 'firm 10%'.
    Pledged in advance, so it always pays. Not an institution, so not a Mesa agent."""

    payer = "borrower"

    def __init__(self):
        self._init_ledger()
