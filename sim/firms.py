"""Firms as a vectorised population: one NumPy array per attribute, one row per firm.

Each firm has its own state (risk, credit file, current loan) and its own decisions
(apply, repay, default), held as arrays as Covasim and Starsim hold people; the month's
per-firm work runs over the rows in one compiled loop (sim/kernel.py). A firm that defaults
or closes leaves and is replaced by a new entrant, so the population keeps its size and new
entrants have no credit history.

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
from . import kernel
from .config import FirmsConfig, ProvinceConfig
from .risk import streams as st
from .shocks import MAX_MONTHLY  # the one cap on a monthly probability (default or overdue)

# channel of the current loan; state of a running loan (DEFAULTED: this month)
from .kernel import DEFAULTED, DIRECT, NO_LOAN, OVERDUE, PERFORMING, SCHEME  # noqa: E402,F401  (re-exported)


class FirmPopulation:
    def __init__(self, n: int, province: ProvinceConfig, cfg: FirmsConfig, data_coverage: float,
                 key: "int | np.random.Generator", n_banks: int = 1):
        # Every number a firm draws is keyed by this replication key (sim/risk/streams.py).
        self.key = int(key.integers(0, 2**63 - 1)) if isinstance(key, np.random.Generator) else int(key)
        self.n = n
        self.n_banks = n_banks
        # Each prefecture's guarantors are numbered consecutively: region r has
        # _guarantor_count[r] of them from _guarantor_first[r]; a firm is served by one of them.
        self._guarantor_count = np.array([r.guarantors for r in province.regions], np.int64)
        self._guarantor_first = np.concatenate(([0], np.cumsum(self._guarantor_count)[:-1]))
        self.cfg = cfg
        self.data_coverage = data_coverage
        self._region_p = np.array([r.firm_share for r in province.regions], float)
        self._region_pd = np.array([r.pd for r in province.regions], float) * province.pd_scale
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
        # Attributes read every month (in the firm kernel's loop) are arrays of their own; those
        # set when a firm enters and read only now and then (its identity, risk, collateral,
        # shock marks) share one record per firm, so an entrant is written to one or two cache
        # lines, not a dozen. The attributes below are views into the records: NumPy code reads
        # and writes them as arrays.
        self._records = np.zeros(n, np.dtype([
            ("pd", "f8"),  # true annual PD
            ("logit_pd", "f8"),  # logit(pd), cached for the screening signals
            ("lgd", "f8"),  # loss given default on this firm's loan (collateral)
            ("health", "f8"),  # operating-health index the platform keeps on a scheme loan
            ("state", "f8"),  # the loan's latent value last drawn (held through arrears)
            # Set by shocks at an event's onset, for defaults recognised before `shock_until`:
            ("collateral_loss", "f8"),  # share of collateral value lost (LGD up)
            ("shock_until", "i4"),  # first month (0-based) they no longer apply
            ("recovery_delay", "i2"),  # extra months before recoveries
            ("health_falls", "i2"),  # consecutive months the index fell
            ("flagged", "?"),  # the operating-health rule fired on this loan (public share raised)
            ("region", "i2"),
            ("sector", "i2"),
            ("guarantor", "i2"),  # the government guarantor serving the firm's county
            ("bank", "i2"),  # the bank it applies to
            ("on_platform", "?"),  # data visible on the credit-data sharing platform
            ("insured", "?"),  # has business-interruption insurance
        ], align=True))
        for name in self._records.dtype.names:
            setattr(self, name, self._records[name])
        self.group = np.zeros(n, np.int16)  # region x n_sectors + sector: one copula lookup
        self.threshold = np.zeros(n)  # PhiInv(monthly PD), cached for the copula
        self.threshold_overdue = np.zeros(n)  # PhiInv(monthly probability of falling overdue)
        self.has_file = np.zeros(n, bool)  # has a credit file (not 征信白户)
        self.refused = np.zeros(n, bool)  # last application refused: borrows informally
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
        # What an entrant's draws need, in the order the kernel unpacks it.
        self.ent = (self._region_cdf, self._region_lo, np.ascontiguousarray(self._sector_cum),
                    self._region_pd, self._sector_mult, float(cfg.pd_dispersion),
                    float(self._cure_ratio), float(MAX_MONTHLY), float(cfg.lgd_mean),
                    float(cfg.lgd_dispersion), float(cfg.credit_file_share), float(data_coverage),
                    np.asarray(self._insured_p, float), self._guarantor_count, self._guarantor_first,
                    int(n_banks))
        self.respawn(np.arange(n), -1, st.RESPAWN_INIT)  # month -1: the initial population

    @property
    def pop(self) -> tuple:
        """The firm arrays in the order the compiled kernel (sim/kernel.py) unpacks them."""
        return (self.region, self.sector, self.group, self.guarantor, self.bank, self.pd,
                self.logit_pd, self.threshold, self.threshold_overdue, self.lgd, self.has_file,
                self.on_platform, self.refused, self.health, self.health_falls, self.insured,
                self.collateral_loss, self.recovery_delay, self.shock_until, self.loans_taken,
                self.channel, self.amount, self.term, self.age, self.agency, self.status,
                self.overdue_start, self.will_default, self.state, self.flagged)

    def entrant_bases(self, month: int, site: int) -> np.ndarray:
        """The seven keyed bases of entrants at call site `site` of `month` (streams.ENTRANT_*)."""
        return st.bases(self.key, month, [site + p for p in range(st.ENTRANT_INSURED + 1)])

    def respawn(self, idx: np.ndarray, month: int, site: int) -> None:
        """Fill rows `idx` with new firms (the initial population at month -1, or entrants
        replacing exits and defaults). Every number is keyed by (row, month, site), so the
        entrant in a given row and month is the same firm in a shocked run and its
        counterfactual; `site` (streams.RESPAWN_*) tells apart the call sites of a month."""
        if idx.shape[0]:
            kernel.respawn_rows(np.ascontiguousarray(idx, np.int64), self.entrant_bases(month, site),
                                self.pop, self.ent)

    def loss_terms(self, idx: np.ndarray, month: int) -> tuple[np.ndarray, np.ndarray]:
        """(LGD, extra recovery months) of loans idx defaulting in `month`: a shock's
        collateral loss raises LGD to 1 - (1 - lgd)(1 - loss) inside its window."""
        on = month < self.shock_until[idx]
        loss = np.where(on, self.collateral_loss[idx], 0.0)
        lgd = self.lgd[idx]
        return (np.where(loss > 0, 1.0 - (1.0 - lgd) * (1.0 - loss), lgd),
                np.where(on, self.recovery_delay[idx], 0))
