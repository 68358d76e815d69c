"""Firms as a vectorised population: one NumPy array per attribute, one row per firm.

Each firm has its own state (risk, credit file, current loan) and its own decisions
(apply, repay, default), but they are evaluated for all firms at once, as Covasim and
Starsim do with people. A firm that defaults leaves and is replaced by a new entrant,
so the population keeps its size and new entrants have no credit history.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit, ndtri

from .config import FirmsConfig, ProvinceConfig
from .risk.copula import monthly_pd

NO_LOAN, DIRECT, SCHEME = 0, 1, 2


class FirmPopulation:
    def __init__(self, n: int, province: ProvinceConfig, cfg: FirmsConfig, data_coverage: float,
                 rng: np.random.Generator):
        self.n = n
        self.cfg = cfg
        self.data_coverage = data_coverage
        self._region_p = np.array([r.firm_share for r in province.regions], float)
        self._region_pd = np.array([r.pd for r in province.regions], float)
        self._sector_p = np.array([s.firm_share for s in province.sectors], float)
        self._sector_mult = np.array([s.pd_multiplier for s in province.sectors], float)
        self.n_sectors = self._sector_p.shape[0]
        # Cumulative shares for drawing regions and sectors: what Generator.choice(k, p=p)
        # computes on every call, computed once (the same draws and results).
        self._region_cdf = self._region_p.cumsum()
        self._region_cdf /= self._region_cdf[-1]
        self._sector_cdf = self._sector_p.cumsum()
        self._sector_cdf /= self._sector_cdf[-1]
        self.region = np.zeros(n, np.int16)
        self.sector = np.zeros(n, np.int16)
        self.group = np.zeros(n, np.int16)  # region x n_sectors + sector: one copula lookup
        self.pd = np.zeros(n)  # true annual PD
        self.logit_pd = np.zeros(n)  # logit(pd), cached for the screening signals
        self.threshold = np.zeros(n)  # PhiInv(monthly PD), cached for the copula
        self.lgd = np.zeros(n)  # loss given default on this firm's loan (collateral)
        self.has_file = np.zeros(n, bool)  # has a credit file (not 征信白户)
        self.on_platform = np.zeros(n, bool)  # data visible on the credit-data sharing platform
        self.refused = np.zeros(n, bool)  # last application refused: borrows informally
        self.health = np.zeros(n)  # operating-health index (latent asset value), last month
        self.health_falls = np.zeros(n, np.int16)  # consecutive months the index fell
        self.loans_taken = np.zeros(n, np.int32)  # credit history: loans repaid or running
        # current loan
        self.channel = np.zeros(n, np.int8)  # NO_LOAN, DIRECT, SCHEME
        self.amount = np.zeros(n)  # principal, yuan (real firm scale)
        self.term = np.zeros(n, np.int16)  # months
        self.age = np.zeros(n, np.int16)  # months since origination
        # Guarantor index of a scheme loan (= region); n_regions marks a direct loan, so one
        # bincount over `agency` weighted by `amount` splits the whole loan book (firms
        # without a loan have amount 0 and add nothing).
        self.agency = np.zeros(n, np.int16)
        self.respawn(np.arange(n), rng)

    def respawn(self, idx: np.ndarray, rng: np.random.Generator) -> None:
        """Fill rows `idx` with new firms (initial population, or entrants replacing exits)."""
        m = idx.shape[0]
        if m == 0:
            return
        c = self.cfg
        # = rng.choice(n_regions, size=m, p=region shares), without re-checking p each time
        region = self._region_cdf.searchsorted(rng.random(m), side="right")
        sector = self._sector_cdf.searchsorted(rng.random(m), side="right")
        mean_pd = self._region_pd[region] * self._sector_mult[sector]
        # Lognormal spread with mean equal to the region x sector mean.
        s = c.pd_dispersion
        pd = mean_pd * np.exp(s * rng.standard_normal(m) - 0.5 * s * s)
        self.region[idx] = region
        self.sector[idx] = sector
        self.group[idx] = region * self.n_sectors + sector
        pd = np.clip(pd, 1e-5, 0.95)
        self.pd[idx] = pd
        self.logit_pd[idx] = logit(pd)
        self.threshold[idx] = ndtri(monthly_pd(pd))
        self.lgd[idx] = np.clip(c.lgd_mean + c.lgd_dispersion * rng.standard_normal(m), 0.0, 1.0)
        self.has_file[idx] = rng.random(m) < c.credit_file_share
        self.on_platform[idx] = rng.random(m) < self.data_coverage
        self.refused[idx] = False
        self.health[idx] = 0.0
        self.health_falls[idx] = 0
        self.loans_taken[idx] = 0
        self.channel[idx] = NO_LOAN
        self.amount[idx] = 0.0
        self.term[idx] = 0
        self.age[idx] = 0

    def draw_requests(self, idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Loan size (log-uniform between loan_min and loan_max) and term for applicants."""
        c = self.cfg
        m = idx.shape[0]
        amount = np.exp(rng.uniform(np.log(c.loan_min), np.log(c.loan_max), m))
        term = rng.integers(c.term_min, c.term_max + 1, m).astype(np.int16)
        return amount, term

    @property
    def active(self) -> np.ndarray:
        return self.channel != NO_LOAN
