"""The simulator's core firm loop written the conventional Mesa way: one `mesa.Agent` per firm.

Used by `benchmarks/run.py` (case c) only, to measure what the vectorised population
(`sim.firms.FirmPopulation` driven by `sim.model.GuaranteeModel`) gains over the textbook
way of writing an agent-based model in Mesa. Each firm does, every month, the work the
engine does for it:

- maturity: a running loan ages one month; at term it is repaid;
- default: a running loan defaults when the firm's latent value, macro + region + sector
  factors (one draw each per month for the model) plus its own normal draw, falls below
  the firm's copula threshold PhiInv(monthly PD); the firm leaves and a new entrant with
  fresh region, sector, PD, LGD and credit file takes its place;
- application: a firm without a loan applies with probability `apply_rate`, draws a loan
  size and term, and the bank screens it with a noisy logit-PD signal (noisier without a
  credit file), lending directly if its expected loss is within appetite, else asking for
  the scheme's cover when the part it keeps is; the guarantor then screens with its own
  signal.

It leaves out what the engine does on top (the guarantor's capacity, the loss waterfall,
recoveries, institutions, the full metrics row), so the per-agent loop does *less* work per
firm-month than the engine it is compared with: the measured speed ratio is a lower bound.
Firms are stepped in random order (`shuffle_do`), random numbers come from the model's
`random.Random` as Mesa examples do, and a DataCollector records the month's totals.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from statistics import NormalDist

import mesa

from sim.config import SimConfig

_PHI_INV = NormalDist().inv_cdf


class Firm(mesa.Agent):
    def __init__(self, model: "FirmLoopModel"):
        super().__init__(model)
        self.loans_taken = 0
        self.enter()

    def enter(self) -> None:
        """Become a new firm: region, sector, PD, copula threshold, LGD, credit file; no loan."""
        m, r = self.model, self.random
        self.region = bisect_right(m.region_cdf, r.random())
        self.sector = bisect_right(m.sector_cdf, r.random())
        s = m.pd_dispersion
        mean_pd = m.region_pd[self.region] * m.sector_mult[self.sector]
        self.pd = min(max(mean_pd * math.exp(s * r.gauss(0.0, 1.0) - 0.5 * s * s), 1e-5), 0.95)
        self.threshold = _PHI_INV(1.0 - (1.0 - self.pd) ** (1.0 / 12.0))
        self.logit_pd = math.log(self.pd / (1.0 - self.pd))
        self.lgd = min(max(m.lgd_mean + m.lgd_dispersion * r.gauss(0.0, 1.0), 0.0), 1.0)
        self.has_file = r.random() < m.credit_file_share
        self.loans_taken = 0
        self.loan = 0.0
        self.term = 0
        self.age = 0

    def step(self) -> None:
        m, r = self.model, self.random
        if self.loan > 0.0:
            self.age += 1
            if self.age >= self.term:  # maturity: repaid
                m.repaid += self.loan
                self.loan = 0.0
            else:  # default draw against the copula threshold
                x = m.systematic[self.region][self.sector] + m.idio * r.gauss(0.0, 1.0)
                if x < self.threshold:
                    m.defaults += 1
                    m.default_ead += self.loan
                    m.recovery_due += (1.0 - self.lgd) * self.loan
                    self.enter()
        if self.loan == 0.0 and r.random() < m.apply_rate:  # application
            m.applicants += 1
            amount = math.exp(r.uniform(m.log_loan_min, m.log_loan_max))
            term = r.randint(m.term_min, m.term_max)
            noise = m.noise_file if self.has_file else m.noise_no_file
            est = 1.0 / (1.0 + math.exp(-(self.logit_pd + noise * r.gauss(0.0, 1.0))))
            lend = est <= m.max_pd and est * m.lgd_mean <= m.max_expected_loss
            if lend:
                m.new_direct += amount
            elif (est <= m.max_pd and est * m.lgd_mean * m.bank_share <= m.max_expected_loss
                  and amount <= m.max_loan):
                # the scheme's cover: the guarantor screens with its own signal
                est_g = 1.0 / (1.0 + math.exp(-(self.logit_pd + m.noise_g * r.gauss(0.0, 1.0))))
                lend = est_g <= m.max_pd_g
                if lend:
                    m.new_scheme += amount
            if lend:
                m.first_time += self.loans_taken == 0
                self.loan, self.term, self.age = amount, term, 0
                self.loans_taken += 1
            else:
                m.rationed += 1


class FirmLoopModel(mesa.Model):
    def __init__(self, cfg: SimConfig, seed: int = 0):
        super().__init__(seed=seed)
        p, f, c, b = cfg.province, cfg.firms, cfg.copula, cfg.bank
        self.region_cdf = list(accumulate(r.firm_share for r in p.regions))[:-1]
        self.sector_cdf = list(accumulate(s.firm_share for s in p.sectors))[:-1]
        self.region_pd = [r.pd for r in p.regions]
        self.sector_mult = [s.pd_multiplier for s in p.sectors]
        self.pd_dispersion, self.lgd_mean, self.lgd_dispersion = f.pd_dispersion, f.lgd_mean, f.lgd_dispersion
        self.credit_file_share, self.apply_rate = f.credit_file_share, f.apply_rate
        self.log_loan_min, self.log_loan_max = math.log(f.loan_min), math.log(f.loan_max)
        self.term_min, self.term_max = f.term_min, f.term_max
        self.noise_file, self.noise_no_file = b.noise_file, b.noise_no_file
        self.max_pd, self.max_expected_loss = b.max_pd, b.max_expected_loss
        self.bank_share = sum(t.share for name, t in cfg.scheme.tranches.items()
                              if (t.payer or name) == "bank")
        self.max_loan = cfg.scheme.max_loan
        self.noise_g, self.max_pd_g = cfg.guarantor.noise, cfg.guarantor.max_pd
        self.rho = (c.rho_macro, c.rho_region, c.rho_sector)
        self.idio = math.sqrt(1.0 - sum(self.rho))
        self.n_regions, self.n_sectors = len(p.regions), len(p.sectors)
        self.systematic = [[0.0] * self.n_sectors for _ in range(self.n_regions)]
        for _ in range(f.n):
            Firm(self)
        self.datacollector = mesa.DataCollector(model_reporters={
            "outstanding": lambda m: sum(a.loan for a in m.agents),
            "firms_with_loan": lambda m: sum(1 for a in m.agents if a.loan > 0.0),
            "defaults": "defaults", "new_direct": "new_direct", "new_scheme": "new_scheme",
            "applicants": "applicants",
        })

    def step(self) -> None:
        r = self.random
        self.repaid = self.default_ead = self.recovery_due = self.new_direct = self.new_scheme = 0.0
        self.defaults = self.applicants = self.rationed = self.first_time = 0
        rm, rr, rs = (math.sqrt(x) for x in self.rho)
        macro = r.gauss(0.0, 1.0)
        zr = [r.gauss(0.0, 1.0) for _ in range(self.n_regions)]
        zs = [r.gauss(0.0, 1.0) for _ in range(self.n_sectors)]
        for i in range(self.n_regions):
            for j in range(self.n_sectors):
                self.systematic[i][j] = rm * macro + rr * zr[i] + rs * zs[j]
        self.agents.shuffle_do("step")
        self.datacollector.collect(self)
