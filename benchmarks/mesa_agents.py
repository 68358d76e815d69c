"""The engine's per-firm monthly work written the conventional Mesa way: one `mesa.Agent` per firm.

Used by `benchmarks/run.py` (case c) only, to measure what the engine's compiled, vectorised
firm kernel (`sim.firms.FirmPopulation` driven by `sim.model.GuaranteeModel`) gains over the
textbook way of writing an agent-based model in Mesa. Each firm is one Python object, stepped
in random order through the model's AgentSet (`self.agents.shuffle_do("step")`), and does in
plain Python, every month, the same per-firm work as the engine does per firm-month:

- maturity: a running loan ages one month; at term, if performing, it is repaid and its
  guarantor's outstanding guarantees and released amount are updated;
- arrears (an ordered probit on the copula's latent value): a performing loan draws its
  idiosyncratic normal e and forms
  X = sqrt(r_m) macro + sqrt(r_r) region + sqrt(r_s) sector + sqrt(1 - r_m - r_r - r_s) e,
  the three factors drawn once a month for the model (AR(1), `copula.ar1`);
  X < PhiInv(p) falls overdue and will default, PhiInv(p) <= X < PhiInv(q) falls overdue
  and will cure (q = p (1 + `firms.overdue_cure_ratio`), capped), else it stays performing.
  An overdue loan is not drawn again; after `firms.overdue_months` it cures (back to
  performing) or defaults: the default (EAD, the guarantor's claim and loss) is recorded
  per guarantor, or against the bank for a direct loan, and an entrant takes the firm's place;
- exit: a firm without a loan closes with the monthly hazard 1 - survival^(1/36) ("without
  credit" if its last application was refused, else "with credit"); an entrant takes its place;
- application: a firm without a loan applies with probability
  apply_rate x exp(-cost_elasticity x 100 x (its loan rate by credit file + expected fee -
  reference_cost)), by (has a credit file, first loan) as the engine does; an applicant draws
  its loan size (log-uniform, loan_min..loan_max) and term (term_min..term_max); its bank
  reads a noisy logit-PD signal (noise by platform / credit file, as `sim.agents.Bank.noise`)
  and lends directly if est <= bank.max_pd and est x lgd_mean <= that bank's appetite; else
  the firm's guarantor reads its own signal and guarantees if est <= its largest acceptable PD
  (fixed per guarantor: `GuaranteeAgency.max_acceptable_pd` at the model's starting values)
  and its remaining capacity (leverage cap x capital - liability balance, used up loan by
  loan in the agents' random order) allows;
- entry: an entrant draws 7 numbers: region, sector, lognormal PD, LGD, credit file,
  platform, business-interruption insurance; its guarantor and bank come from the region's
  number, as in `FirmPopulation.respawn`.

Random numbers are keyed like the engine's (`sim.risk.streams`): each is a SplitMix64
counter hash of (replication key, month, purpose, firm row), computed per agent with Python
ints through the engine's own `_base` / `_mix_int`, i.e. `counter_bits53` one row at a time;
uniforms are its 53 bits x 2^-53 and normals the inverse normal CDF of the uniform moved to
the middle of its cell. (The engine draws the copula normals and the application and exit
uniforms from per-month NumPy streams instead; the per-firm work is the same.) The initial
population and the starting loan book (firms that would have a loan running apply once, ages
spread over the terms, as `GuaranteeModel._seed_loan_book` does) are built before the clock
starts. A DataCollector records the month's totals.

Left out, as not per-firm work: the institutions' bookkeeping (the loss waterfall, the
guarantors' fees, income, costs and suspension, receivables and re-guarantors, the
compensation funds' queues, recoveries, the banks' yearly choice to join the scheme and
their scheme-route re-screening with moral hazard), shocks, the dynamic-sharing health
index (off by default), and the engine's full metrics row.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from statistics import NormalDist

import mesa

from sim.agents import GuaranteeAgency
from sim.config import SimConfig, tranche_payer
from sim.config.rules import guarantors
from sim.risk import streams as st
from sim.risk.streams import _base, _mix_int

_PHI_INV = NormalDist().inv_cdf
_HALF_CELL = 2.0**-52  # normals: the top 52 bits, in the middle of their cell (as the engine)
_GAMMA, _MASK = 0x9E3779B97F4A7C15, (1 << 64) - 1  # as sim.risk.streams (SplitMix64)
_UNIT = 2.0 ** -53
_MAX_MONTHLY = 0.999  # cap on a monthly probability (sim.shocks.MAX_MONTHLY)

# Purposes the engine draws from NumPy streams rather than the counter hash; any number no
# engine purpose uses.
SITE_INITIAL = st.RESPAWN_INIT  # entrants of the initial population (month -1 in the engine)
N_ENTRANT = st.ENTRANT_INSURED + 1  # numbers per entrant (7)

NO_LOAN, DIRECT, SCHEME = 0, 1, 2
PERFORMING, OVERDUE = 0, 1


class Firm(mesa.Agent):
    """One firm: its risk, credit file, bank and guarantor, and its current loan."""

    def __init__(self, model: "FirmLoopModel", row: int):
        super().__init__(model)
        self.row = row
        self.key_step = ((row + 1) * _GAMMA) & _MASK  # the row's counter step
        self.enter(model.b_entrant[SITE_INITIAL])

    def bits(self, base: int) -> int:
        """This row's 53 keyed bits for the month and purpose of `base`
        (= streams.counter_bits53(key, month, purpose, [row])[0])."""
        return _mix_int(base + self.key_step) >> 11

    def enter(self, bases: list[int]) -> None:
        """Become a new firm (7 keyed numbers); no loan, no credit history."""
        m, k = self.model, self.key_step
        u_region = (_mix_int(bases[st.ENTRANT_REGION] + k) >> 11) * _UNIT
        region = min(bisect_right(m.region_cdf, u_region), m.n_regions - 1)
        u_sector = (_mix_int(bases[st.ENTRANT_SECTOR] + k) >> 11) * _UNIT
        sector = min(bisect_right(m.sector_cum[region], u_sector), m.n_sectors - 1)
        s = m.pd_dispersion
        z = _PHI_INV(((_mix_int(bases[st.ENTRANT_PD] + k) >> 12) + 0.5) * _HALF_CELL)
        pd = m.region_pd[region] * m.sector_mult[sector] * math.exp(s * z - 0.5 * s * s)
        pd = min(max(pd, 1e-5), 0.95)
        p_month = -math.expm1(math.log1p(-pd) / 12.0)
        self.region, self.sector, self.pd = region, sector, pd
        self.logit_pd = math.log(pd / (1.0 - pd))
        self.t_default = _PHI_INV(p_month)
        self.t_overdue = _PHI_INV(min(p_month * m.overdue_factor, _MAX_MONTHLY))
        z = _PHI_INV(((_mix_int(bases[st.ENTRANT_LGD] + k) >> 12) + 0.5) * _HALF_CELL)
        self.lgd = min(max(m.lgd_mean + m.lgd_dispersion * z, 0.0), 1.0)
        self.has_file = (_mix_int(bases[st.ENTRANT_FILE] + k) >> 11) * _UNIT < m.credit_file_share
        self.on_platform = (_mix_int(bases[st.ENTRANT_PLATFORM] + k) >> 11) * _UNIT < m.data_coverage
        self.insured = (_mix_int(bases[st.ENTRANT_INSURED] + k) >> 11) * _UNIT < m.insured_p[sector]
        # the guarantor (one of the region's) and the bank from the region's number
        lo = m.region_lo[region]
        v = min(max((u_region - lo) / (m.region_cdf[region] - lo), 0.0), 1.0)
        n_g = m.guarantor_count[region]
        g = min(int(v * n_g), n_g - 1)
        self.guarantor = m.guarantor_first[region] + g
        self.bank = min(int(min(max(v * n_g - g, 0.0), 1.0) * m.n_banks), m.n_banks - 1)
        self.refused = False
        self.loans_taken = 0
        self.channel = NO_LOAN
        self.agency = -1  # guarantor of a running scheme loan
        self.amount = 0.0
        self.term = 0
        self.age = 0
        self.status = PERFORMING
        self.overdue_start = -1
        self.will_default = False

    def step(self) -> None:
        m, k = self.model, self.key_step
        if self.channel != NO_LOAN:
            self.age += 1
            if self.status == PERFORMING:
                if self.age >= self.term:  # maturity: repaid, the guarantee released
                    m.repaid += self.amount
                    if self.channel == SCHEME:
                        m.outstanding_g[self.agency] -= self.amount
                        m.released_g[self.agency] += self.amount
                    else:
                        m.outstanding_direct -= self.amount
                    self.close_loan()
                else:  # the copula draw: stays performing, or falls overdue (cure / default)
                    eps = _PHI_INV(((_mix_int(m.b_eps + k) >> 12) + 0.5) * _HALF_CELL)
                    x = m.systematic[self.region][self.sector] + m.idio * eps
                    if x < self.t_overdue:
                        self.status = OVERDUE
                        self.overdue_start = m.month
                        self.will_default = x < self.t_default
                        m.overdue_new += 1
            elif m.month - self.overdue_start >= m.overdue_months:  # the spell ends
                if self.will_default:
                    self.default()
                    self.enter(m.b_entrant[st.RESPAWN_DEFAULT])
                else:
                    self.status = PERFORMING
                    self.overdue_start = -1
                    m.cured += 1
        if self.channel == NO_LOAN:
            # exit: the monthly hazard of closing, by access to credit
            # one hash: high 32 bits the exit test, low 32 bits the application test
            bits = _mix_int(m.b_free + k)
            u = (bits >> 32) * 2.0**-32
            if u < (m.hazard_refused if self.refused else m.hazard_other):
                m.exits += 1
                self.enter(m.b_entrant[st.RESPAWN_EXIT])
            # application
            u = (bits & 0xFFFFFFFF) * 2.0**-32
            if u < m.p_apply[self.has_file][self.loans_taken == 0]:
                self.apply()

    def apply(self) -> None:
        """Request a loan; the bank, then the guarantor, screen it."""
        m, k = self.model, self.key_step
        m.applicants += 1
        amount = math.exp(m.log_loan_min + m.log_loan_span * ((_mix_int(m.b_amount + k) >> 11) * _UNIT))
        span = m.term_span
        term = m.term_min + min(int((_mix_int(m.b_term + k) >> 11) * _UNIT * span), span - 1)
        noise = m.noise_platform if self.on_platform else (m.noise_file if self.has_file else m.noise_no_file)
        z = _PHI_INV(((_mix_int(m.b_bank + k) >> 12) + 0.5) * _HALF_CELL)
        est = 1.0 / (1.0 + math.exp(-(self.logit_pd + noise * z)))
        if est <= m.bank_max_pd and est * m.lgd_mean <= m.appetite[self.bank]:
            self.originate(amount, term, DIRECT)
            return
        g = self.guarantor
        z = _PHI_INV(((_mix_int(m.b_guarantor + k) >> 12) + 0.5) * _HALF_CELL)
        est = 1.0 / (1.0 + math.exp(-(self.logit_pd + m.noise_g * z)))
        need = amount * m.liability_weight  # liability balance the guarantee adds (province yuan)
        if est <= m.max_pd_g[g] and need <= m.room_g[g]:
            m.room_g[g] -= need
            self.originate(amount, term, SCHEME)
        else:
            self.refused = True
            m.rationed += 1

    def originate(self, amount: float, term: int, channel: int) -> None:
        m = self.model
        m.first_time += self.loans_taken == 0
        self.loans_taken += 1
        self.refused = False
        self.channel, self.amount, self.term, self.age = channel, amount, term, 0
        self.status = PERFORMING
        m.firms_with_loan += 1
        if channel == SCHEME:
            self.agency = self.guarantor
            m.outstanding_g[self.agency] += amount
            m.new_scheme += amount
        else:
            m.outstanding_direct += amount
            m.new_direct += amount

    def default(self) -> None:
        """The overdue spell ends in default: EAD, claim and loss by guarantor (or the bank's)."""
        m, ead = self.model, self.amount
        m.defaults += 1
        m.default_ead += ead
        if self.channel == SCHEME:
            g = self.agency
            m.outstanding_g[g] -= ead
            m.released_g[g] += ead
            m.claims_g[g] += ead * m.claim_share  # what the guarantor pays the bank
            m.loss_g[g] += ead * m.claim_share * self.lgd  # of which not recovered
        else:
            m.outstanding_direct -= ead
            m.loss_direct += ead * self.lgd
        self.close_loan()

    def close_loan(self) -> None:
        self.channel = NO_LOAN
        self.agency = -1
        self.amount = 0.0
        self.status = PERFORMING
        self.overdue_start = -1
        self.will_default = False
        self.model.firms_with_loan -= 1


class FirmLoopModel(mesa.Model):
    """`cfg.firms.n` Firm agents; `step()` runs one month (see the module docstring)."""

    def __init__(self, cfg: SimConfig, seed: int = 0):
        super().__init__(seed=seed)
        self.cfg = cfg
        self.key = self.random.getrandbits(63)  # the replication's key for keyed draws
        p, f, c, b, gc = cfg.province, cfg.firms, cfg.copula, cfg.bank, cfg.guarantor
        self.n_regions, self.n_sectors = len(p.regions), len(p.sectors)
        total = sum(r.firm_share for r in p.regions)
        self.region_cdf = [x / total for x in accumulate(r.firm_share for r in p.regions)]
        self.region_cdf[-1] = 1.0
        self.region_lo = [0.0] + self.region_cdf[:-1]
        sectors = [s.name for s in p.sectors]
        self.sector_cum = []
        for r in p.regions:
            mix = [r.sector_mix.get(x, 0.0) for x in sectors] if r.sector_mix else [s.firm_share for s in p.sectors]
            t = sum(mix)
            self.sector_cum.append([x / t for x in accumulate(mix)])
        self.region_pd = [r.pd * p.pd_scale for r in p.regions]  # as sim/firms.py
        self.sector_mult = [s.pd_multiplier for s in p.sectors]
        self.insured_p = [f.bi_insurance.get(x, f.bi_insurance_other) for x in sectors]
        self.guarantor_count = [r.guarantors for r in p.regions]
        self.guarantor_first = [0, *accumulate(self.guarantor_count)][:-1]
        self.n_banks = b.count
        self.pd_dispersion, self.lgd_mean, self.lgd_dispersion = f.pd_dispersion, f.lgd_mean, f.lgd_dispersion
        self.credit_file_share, self.data_coverage = f.credit_file_share, b.data_coverage
        self.overdue_factor = 1.0 + f.overdue_cure_ratio
        self.overdue_months = f.overdue_months
        self.hazard_refused = 1.0 - f.survival_without_credit ** (1.0 / 36.0)
        self.hazard_other = 1.0 - f.survival_with_credit ** (1.0 / 36.0)
        self.log_loan_min = math.log(f.loan_min)
        self.log_loan_span = math.log(f.loan_max) - self.log_loan_min
        self.term_min, self.term_span = f.term_min, f.term_max - f.term_min + 1
        # the banks: appetites are lognormal quantiles around max_expected_loss (as the engine)
        s = b.appetite_dispersion
        self.appetite = [(b.max_expected_loss + b.npl_tolerance)
                         * math.exp(s * _PHI_INV((i + 0.5) / b.count) - 0.5 * s * s)
                         for i in range(b.count)]
        self.noise_platform, self.noise_file, self.noise_no_file = b.noise_shared_data, b.noise_file, b.noise_no_file
        self.bank_max_pd = b.max_pd
        # the guarantors: capital, and the largest PD each accepts at the model's start (the
        # share it keeps: its tranche plus the funds' share beyond what they pay back in full;
        # the fee net of re-guarantee fees)
        sh = {}
        for name, t in cfg.scheme.tranches.items():
            sh[tranche_payer(name, t)] = sh.get(tranche_payer(name, t), 0.0) + t.share
        pool = sh.get("pool", 0.0)
        kept = sh.get("guarantor", 0.0) + pool - min(pool, cfg.pool.max_share)
        net_fee = cfg.scheme.guarantee_fee
        for payer, rc in (("reguarantor", cfg.reguarantor), ("national_fund", cfg.national_fund)):
            net_fee -= sh.get(payer, 0.0) * (rc.fee_rate_small if f.loan_max <= rc.small_loan_limit
                                             else rc.fee_rate)
        _, _, capital = guarantors(cfg)
        self.n_guarantors = len(capital)
        self.capital_g = [float(x) for x in capital]
        self.max_pd_g = [float(GuaranteeAgency.max_acceptable_pd(gc, kept, net_fee, f.lgd_mean))] * self.n_guarantors
        self.noise_g, self.leverage_cap = gc.noise, gc.leverage_cap
        self.claim_share = 1.0 - sh.get("bank", 0.0)  # what the guarantor pays the bank first
        # a simulated loan stands for `weight` real ones; capacity is in province yuan
        self.liability_weight = (p.firms_total / f.n) * (sh.get("guarantor", 0.0) + pool)
        self.ar1 = c.ar1
        self.loadings = (math.sqrt(c.rho_macro), math.sqrt(c.rho_region), math.sqrt(c.rho_sector))
        self.idio = math.sqrt(1.0 - c.rho_macro - c.rho_region - c.rho_sector)
        self.factors = None
        self.systematic = [[0.0] * self.n_sectors for _ in range(self.n_regions)]
        # books: outstanding by guarantor and the direct book (the month's released amounts,
        # claims and losses by guarantor: _new_tallies)
        self.outstanding_g = [0.0] * self.n_guarantors
        self.outstanding_direct = 0.0
        self.firms_with_loan = 0
        self.scheme_share_of_new = 0.5  # firms' expectation of being guaranteed (the fee)
        self.month = -1  # construction: keyed draws of "month -1"
        self._month_keys()
        self._new_tallies()
        for row in range(f.n):
            Firm(self, row)
        # Mesa 3.3 keeps every model alive through Agent._ids (mesa/mesa#3179); as the engine
        # does, drop this model's counter once every agent exists.
        getattr(mesa.Agent, "_ids", {}).pop(self, None)
        self._seed_loan_book()
        self.month = 0
        self.datacollector = mesa.DataCollector(model_reporters={
            "outstanding": lambda m: m.outstanding_direct + sum(m.outstanding_g),
            "firms_with_loan": "firms_with_loan", "applicants": "applicants",
            "new_direct": "new_direct", "new_scheme": "new_scheme", "rationed": "rationed",
            "first_time": "first_time", "repaid": "repaid", "overdue_new": "overdue_new",
            "cured": "cured", "defaults": "defaults", "default_ead": "default_ead",
            "exits": "exits",
            "released_scheme": lambda m: sum(m.released_g),
            "claims": lambda m: sum(m.claims_g),
            "guarantor_loss": lambda m: sum(m.loss_g), "direct_loss": "loss_direct",
        })

    def _apply_table(self, rate: float) -> list[list[float]]:
        """P(apply) by [has credit file][first loan], from the all-in cost (as the engine)."""
        c = self.cfg
        gov, f = c.government, c.firms
        fee = c.scheme.guarantee_fee * (1.0 - gov.fee_subsidy) * self.scheme_share_of_new
        table = []
        for loan_rate in (c.bank.rate_no_file, c.bank.rate_file):
            row = []
            for first in (False, True):
                cost = loan_rate + fee - f.reference_cost - (gov.interest_subsidy / 100.0 if first else 0.0)
                row.append(min(rate * math.exp(-f.cost_elasticity * 100.0 * cost), 1.0))
            table.append(row)
        return table

    def _month_keys(self) -> None:
        """This month's hash bases, one per purpose (streams._base)."""
        key, t = self.key, self.month
        self.b_eps = _base(key, t, st.LATENT)
        self.b_free = _base(key, t, st.NO_LOAN_TESTS)
        self.b_amount, self.b_term = _base(key, t, st.LOAN_AMOUNT), _base(key, t, st.LOAN_TERM)
        self.b_bank, self.b_guarantor = _base(key, t, st.BANK_SIGNAL), _base(key, t, st.GUARANTOR_SIGNAL)
        self.b_entrant = {site: [_base(key, t, site + j) for j in range(N_ENTRANT)]
                          for site in (SITE_INITIAL, st.RESPAWN_DEFAULT, st.RESPAWN_EXIT)}

    def _new_tallies(self) -> None:
        self.applicants = self.rationed = self.first_time = 0
        self.overdue_new = self.cured = self.defaults = self.exits = 0
        self.new_direct = self.new_scheme = self.repaid = self.default_ead = self.loss_direct = 0.0
        G = self.n_guarantors
        self.released_g, self.claims_g, self.loss_g = [0.0] * G, [0.0] * G, [0.0] * G
        self.room_g = [max(self.leverage_cap * cap - self.liability_weight * out, 0.0)
                       for cap, out in zip(self.capital_g, self.outstanding_g)]

    def _seed_loan_book(self) -> None:
        """Start near the steady state (as the engine): firms that would have a loan running
        apply once through the normal screening; loan ages spread over their terms."""
        f = self.cfg.firms
        mean_term = 0.5 * (f.term_min + f.term_max)
        self.p_apply = self._apply_table(f.apply_rate * mean_term / (1.0 + f.apply_rate * mean_term))
        r = self.random
        for a in self.agents:
            if r.random() < self.p_apply[a.has_file][a.loans_taken == 0]:
                a.apply()
        for a in self.agents:
            if a.channel != NO_LOAN:
                a.age = int(r.random() * a.term)
        if self.new_direct + self.new_scheme > 0:
            self.scheme_share_of_new = self.new_scheme / (self.new_direct + self.new_scheme)

    def step(self) -> None:
        self._month_keys()
        self._new_tallies()
        # the month's systematic factors, AR(1) with unit stationary variance
        r = self.random
        eta = [r.gauss(0.0, 1.0) for _ in range(1 + self.n_regions + self.n_sectors)]
        if self.factors is not None and self.ar1 > 0.0:
            k = math.sqrt(1.0 - self.ar1 * self.ar1)
            eta = [self.ar1 * prev + k * e for prev, e in zip(self.factors, eta)]
        self.factors = eta
        lm, lr, ls = self.loadings
        macro, zr, zs = eta[0], eta[1:1 + self.n_regions], eta[1 + self.n_regions:]
        for i in range(self.n_regions):
            for j in range(self.n_sectors):
                self.systematic[i][j] = lm * macro + lr * zr[i] + ls * zs[j]
        self.p_apply = self._apply_table(self.cfg.firms.apply_rate)
        self.agents.shuffle_do("step")
        if self.new_direct + self.new_scheme > 0:
            self.scheme_share_of_new = self.new_scheme / (self.new_direct + self.new_scheme)
        self.datacollector.collect(self)
        self.month += 1
