"""Firms as a vectorised population: one NumPy array per attribute, one row per firm.

Each firm has its own state (risk, credit file, current loan) and its own decisions
(apply, repay, default), but they are evaluated for all firms at once, as Covasim and
Starsim do with people. A firm that defaults leaves and is replaced by a new entrant,
so the population keeps its size and new entrants have no credit history.

A running loan is PERFORMING or OVERDUE (逾期). Each month the copula's latent value X
of a performing loan decides, with two thresholds (an ordered probit):

    X < PhiInv(p)              falls overdue and will default          (probability p)
    PhiInv(p) <= X < PhiInv(q) falls overdue and will cure             (probability q - p)
    otherwise                  stays performing

where p is the monthly PD and q = p (1 + overdue_cure_ratio) the monthly probability of
falling overdue, both possibly moved by shocks. An overdue loan is not drawn again and does
not mature; after `overdue_months` it either cures (back to PERFORMING; if past term it
repays at the next maturity step) or DEFAULTS (the scheme pays, the firm exits). So the
default events are exactly those of the one-threshold copula with marginal p (Vasicek),
recognised `overdue_months` later.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit, ndtri

from .config import FirmsConfig, ProvinceConfig
from .risk import streams as st
from .risk.copula import monthly_pd
from .shocks import MAX_MONTHLY  # the one cap on a monthly probability (default or overdue)

NO_LOAN, DIRECT, SCHEME = 0, 1, 2
PERFORMING, OVERDUE, DEFAULTED = 0, 1, 2  # state of a running loan (DEFAULTED: this month)


class FirmPopulation:
    def __init__(self, n: int, province: ProvinceConfig, cfg: FirmsConfig, data_coverage: float,
                 rng: np.random.Generator, n_banks: int = 1):
        self.n = n
        self.n_banks = n_banks
        # Each prefecture's guarantors are numbered consecutively: region r has
        # _guarantor_count[r] of them from _guarantor_first[r]; a firm is served by one of them.
        self._guarantor_count = np.array([r.guarantors for r in province.regions], np.int64)
        self._guarantor_first = np.concatenate(([0], np.cumsum(self._guarantor_count)[:-1]))
        self.cfg = cfg
        self.data_coverage = data_coverage
        self._region_p = np.array([r.firm_share for r in province.regions], float)
        self._region_pd = np.array([r.pd for r in province.regions], float)
        self._sector_p = np.array([s.firm_share for s in province.sectors], float)
        self._sector_mult = np.array([s.pd_multiplier for s in province.sectors], float)
        self.n_sectors = self._sector_p.shape[0]
        # Cumulative region shares for drawing regions: what Generator.choice(k, p=p)
        # computes on every call, computed once.
        self._region_cdf = self._region_p.cumsum()
        self._region_cdf /= self._region_cdf[-1]
        self._region_lo = np.concatenate(([0.0], self._region_cdf[:-1]))
        sectors = [s.name for s in province.sectors]
        # Cumulative sector mix of each region, (R, S): a prefecture's own mix, or the province's.
        mix = np.array([[r.sector_mix.get(x, 0.0) for x in sectors] if r.sector_mix else self._sector_p
                        for r in province.regions], float)
        self._sector_cum = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
        self._insured_p = np.array([cfg.bi_insurance.get(x, cfg.bi_insurance_other) for x in sectors])
        self._cure_ratio = cfg.overdue_cure_ratio
        self.region = np.zeros(n, np.int16)
        self.guarantor = np.zeros(n, np.int16)  # the government guarantor serving the firm's county
        self.bank = np.zeros(n, np.int16)  # the bank it applies to
        self.sector = np.zeros(n, np.int16)
        self.group = np.zeros(n, np.int16)  # region x n_sectors + sector: one copula lookup
        self.pd = np.zeros(n)  # true annual PD
        self.logit_pd = np.zeros(n)  # logit(pd), cached for the screening signals
        self.threshold = np.zeros(n)  # PhiInv(monthly PD), cached for the copula
        self.threshold_overdue = np.zeros(n)  # PhiInv(monthly probability of falling overdue)
        self.lgd = np.zeros(n)  # loss given default on this firm's loan (collateral)
        self.has_file = np.zeros(n, bool)  # has a credit file (not 征信白户)
        self.on_platform = np.zeros(n, bool)  # data visible on the credit-data sharing platform
        self.refused = np.zeros(n, bool)  # last application refused: borrows informally
        self.health = np.zeros(n)  # operating-health index (latent asset value), last month
        self.health_falls = np.zeros(n, np.int16)  # consecutive months the index fell
        self.insured = np.zeros(n, bool)  # has business-interruption insurance
        # Set by shocks at an event's onset, for defaults recognised before `shock_until`:
        self.collateral_loss = np.zeros(n)  # share of collateral value lost (LGD up)
        self.recovery_delay = np.zeros(n, np.int16)  # extra months before recoveries
        self.shock_until = np.zeros(n, np.int32)  # first month (0-based) they no longer apply
        self.loans_taken = np.zeros(n, np.int32)  # credit history: loans repaid or running
        # current loan
        self.channel = np.zeros(n, np.int8)  # NO_LOAN, DIRECT, SCHEME
        self.amount = np.zeros(n)  # principal, yuan (real firm scale)
        self.term = np.zeros(n, np.int16)  # months
        self.age = np.zeros(n, np.int16)  # months since origination
        # Guarantor index of a scheme loan; the number of guarantors marks a direct loan, so one
        # bincount over `agency` weighted by `amount` splits the whole loan book (firms
        # without a loan have amount 0 and add nothing).
        self.agency = np.zeros(n, np.int16)
        self.status = np.zeros(n, np.int8)  # PERFORMING, OVERDUE, DEFAULTED
        self.overdue_start = np.full(n, -1, np.int32)  # month the current overdue spell began
        self.will_default = np.zeros(n, bool)  # how the current overdue spell ends
        self.respawn(np.arange(n), rng)

    def respawn(self, idx: np.ndarray, rng: "np.random.Generator | st.KeyedDraws | st.RngDraws",
                site: int = 0) -> None:
        """Fill rows `idx` with new firms (initial population, or entrants replacing exits).

        `rng`: a Generator (the initial population: draws in sequence) or the month's keyed
        draws, so an entrant in a given row and month is the same firm in a shocked run and
        its counterfactual; `site` (streams.RESPAWN_*) tells apart the call sites of a month.
        """
        m = idx.shape[0]
        if m == 0:
            return
        c = self.cfg
        if not getattr(rng, "keyed", False):  # in sequence: region, sector, pd, lgd, ...
            d = rng if isinstance(rng, st.RngDraws) else st.RngDraws(rng)
            u = lambda p: d.uniform(p, idx)  # noqa: E731
            z = lambda p: d.normal(p, idx)  # noqa: E731
        else:  # keyed: the seven numbers of each entrant in one pass
            bits = rng.bits53_block([site + p for p in range(st.ENTRANT_INSURED + 1)], idx)
            u = lambda p: bits[p - site] * 2.0**-53  # noqa: E731  (= st.counter_uniform)
            z = lambda p: ndtri((bits[p - site] + 0.5) * 2.0**-53)  # noqa: E731  (= st.counter_normal)
        # = rng.choice(n_regions, size=m, p=region shares), without re-checking p each time
        u_region = u(site + st.ENTRANT_REGION)
        region = self._region_cdf.searchsorted(u_region, side="right")
        cum = self._sector_cum[region]
        sector = np.minimum((u(site + st.ENTRANT_SECTOR)[:, None] >= cum).sum(axis=1),
                            cum.shape[1] - 1)
        mean_pd = self._region_pd[region] * self._sector_mult[sector]
        # Lognormal spread with mean equal to the region x sector mean.
        s = c.pd_dispersion
        pd = mean_pd * np.exp(s * z(site + st.ENTRANT_PD) - 0.5 * s * s)
        self.region[idx] = region
        self.sector[idx] = sector
        self.group[idx] = region * self.n_sectors + sector
        pd = np.clip(pd, 1e-5, 0.95)
        self.pd[idx] = pd
        self.logit_pd[idx] = logit(pd)
        p_month = monthly_pd(pd)
        self.threshold[idx] = ndtri(p_month)
        self.threshold_overdue[idx] = ndtri(np.minimum(p_month * (1.0 + self._cure_ratio), MAX_MONTHLY))
        self.lgd[idx] = np.clip(c.lgd_mean + c.lgd_dispersion * z(site + st.ENTRANT_LGD),
                                0.0, 1.0)
        self.has_file[idx] = u(site + st.ENTRANT_FILE) < c.credit_file_share
        self.on_platform[idx] = u(site + st.ENTRANT_PLATFORM) < self.data_coverage
        self.refused[idx] = False
        self.health[idx] = 0.0
        self.health_falls[idx] = 0
        self.insured[idx] = u(site + st.ENTRANT_INSURED) < self._insured_p[sector]
        # The guarantor (one of the region's, equal shares) and the bank (equal shares) come
        # from the same uniform as the region: its position within the region's interval is
        # itself uniform, and so is what is left of it after picking the guarantor.
        lo = self._region_lo[region]
        v = np.clip((u_region - lo) / (self._region_cdf[region] - lo), 0.0, 1.0)
        k = self._guarantor_count[region]
        g = np.minimum((v * k).astype(np.int64), k - 1)
        self.guarantor[idx] = self._guarantor_first[region] + g
        rest = np.clip(v * k - g, 0.0, 1.0)
        self.bank[idx] = np.minimum((rest * self.n_banks).astype(np.int64), self.n_banks - 1)
        self.collateral_loss[idx] = 0.0
        self.recovery_delay[idx] = 0
        self.shock_until[idx] = 0
        self.status[idx] = PERFORMING
        self.overdue_start[idx] = -1
        self.will_default[idx] = False
        self.loans_taken[idx] = 0
        self.channel[idx] = NO_LOAN
        self.amount[idx] = 0.0
        self.term[idx] = 0
        self.age[idx] = 0

    def draw_requests(self, idx: np.ndarray, draws: "st.KeyedDraws | st.RngDraws") -> tuple[np.ndarray, np.ndarray]:
        """Loan size (log-uniform between loan_min and loan_max) and term for applicants."""
        c = self.cfg
        amount = np.exp(draws.uniform(st.LOAN_AMOUNT, idx, np.log(c.loan_min), np.log(c.loan_max)))
        term = draws.integers(st.LOAN_TERM, idx, c.term_min, c.term_max + 1).astype(np.int16)
        return amount, term

    def update_arrears(self, month: int, at_risk: np.ndarray, x: np.ndarray, t_default: np.ndarray,
                       t_overdue: np.ndarray, months: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One month of the overdue state machine (see the module docstring).

        at_risk: performing loans drawn this month; x: their latent values; t_default <=
        t_overdue: their thresholds. First overdue spells that have lasted `months` end
        (cure or default), then new spells start. Returns (defaulted, new_overdue, cured)
        firm indices; defaulted loans are marked DEFAULTED (the claims step removes them).
        """
        od = np.flatnonzero(self.status == OVERDUE)
        ending = od[month - self.overdue_start[od] >= months]
        defaulted = ending[self.will_default[ending]]
        cured = ending[~self.will_default[ending]]
        self.status[cured] = PERFORMING
        self.overdue_start[cured] = -1
        self.status[defaulted] = DEFAULTED
        enter = x < t_overdue
        new = at_risk[enter]
        self.status[new] = OVERDUE
        self.overdue_start[new] = month
        self.will_default[new] = x[enter] < t_default[enter]
        return defaulted, new, cured

    def loss_terms(self, idx: np.ndarray, month: int) -> tuple[np.ndarray, np.ndarray]:
        """(LGD, extra recovery months) of loans idx defaulting in `month`: a shock's
        collateral loss raises LGD to 1 - (1 - lgd)(1 - loss) inside its window."""
        on = month < self.shock_until[idx]
        loss = np.where(on, self.collateral_loss[idx], 0.0)
        lgd = self.lgd[idx]
        return (np.where(loss > 0, 1.0 - (1.0 - lgd) * (1.0 - loss), lgd),
                np.where(on, self.recovery_delay[idx], 0))

    @property
    def active(self) -> np.ndarray:
        return self.channel != NO_LOAN
