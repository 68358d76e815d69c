"""Configuration schema (Hydra structured config) and validation.

Every key a user can set is a field below, with its default. The defaults are the
"embedded defaults" the CLI runs on; the `scenario` group (``scenarios/*.yaml``)
only sets the risk-sharing scheme and whatever else a scenario needs to change.

Money is in yuan at **province scale**: the simulated firms are a representative
sample of ``province.firms_total`` firms, so balances given here (pool size,
guarantor capital) and amounts in the report are province-wide figures. The model
converts at its boundary (see ``GuaranteeModel.weight``).

Validation (:func:`validate`) runs before any work and raises :class:`ConfigError`
with one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

# Who can pay a tranche. A tranche's payer defaults to the tranche's own name when
# that name is one of these.
PAYERS = (
    "bank",  # the lending bank (Bank agent)
    "guarantor",  # city/county government guarantor of the firm's region (GuaranteeAgency)
    "reguarantor",  # provincial re-guarantor (Reguarantor)
    "national_fund",  # National Financing Guarantee Fund (a second Reguarantor)
    "pool",  # local-government risk compensation pool (CompensationPool)
    "government",  # fiscal budget paid directly, limited per year (Government)
    "borrower",  # the firm's own counter-guarantee / deposit, pledged, always paid
)

REPLENISH_RULES = ("none", "annual", "top_up")

# Where replications run (`mc.engine`): "local" = this process (n_jobs = 1) or a pool of
# n_jobs worker processes on this machine; "dask" = Dask distributed workers, either a
# running cluster (`mc.dask_address`) or, with no address, a LocalCluster of n_jobs workers
# on this machine, bound to 127.0.0.1.
ENGINES = ("local", "dask")


class ConfigError(ValueError):
    """A config value is not allowed. The message is one line for the user."""


@dataclass
class TrancheConfig:
    share: float = 0.0  # fraction of each post-recourse loss this payer takes, in [0, 1]
    payer: str = ""  # one of PAYERS; empty means "the tranche's name"
    cap_per_loan: Optional[float] = None  # yuan per loan; None = no cap
    cap_rate: Optional[float] = None  # at most this fraction of covered volume, over the run


@dataclass
class SchemeConfig:
    name: str = ""
    description: str = ""
    source: str = ""
    tranches: Dict[str, TrancheConfig] = field(default_factory=dict)
    guarantee_fee: float = 0.01  # yearly, on the guaranteed amount, paid up front to the guarantor
    max_loan: float = 10_000_000.0  # yuan; larger loans cannot enter the scheme
    shortfall_bearer: str = "bank"  # who absorbs what a payer cannot pay


@dataclass
class RegionConfig:
    name: str = ""
    firm_share: float = 0.0
    pd: float = 0.03  # mean annual PD of firms in this region before sector multipliers


@dataclass
class SectorConfig:
    name: str = ""
    firm_share: float = 0.0
    pd_multiplier: float = 1.0


@dataclass
class ProvinceConfig:
    name: str = "hunan"
    # H「縣域地區小微企業數量達186.4萬家」 (seed-notes-hunan-jiangxi.md §2.1): the county-level
    # small firms the sample stands for.
    firms_total: int = 1_864_000
    regions: List[RegionConfig] = field(
        default_factory=lambda: [
            # Shares of inclusive-loan balance and NPL by region from the Hunan report
            # (seed-notes-hunan-jiangxi.md §2.1): 「長株潭地區(長沙、株洲、湘潭)62.7」;
            # NPL 「長株潭地區銀行類金融機構2.9湘西地區銀行類金融機構7.8懷化地區銀行類金融機構7.6
            # 洞庭湖區(岳陽、常德)涉農小貸公司9.2全省平均政府性擔保合作貸款4.8」. Firm shares are
            # an assumption: balance shares tilted toward the periphery (firms there borrow less).
            # `pd` is for all firms *before* bank screening: the books' NPL x 1.5 (assumption:
            # banks lend to the safer part of each region), e.g. Chang-Zhu-Tan 2.9% -> 4.4%;
            # southwest uses H's 「>5.6」 for Huaihua/Shaoyang; central an assumed 4.0%.
            RegionConfig(name="changsha_zhuzhou_xiangtan", firm_share=0.45, pd=0.044),
            RegionConfig(name="dongting_lake", firm_share=0.20, pd=0.072),
            RegionConfig(name="southwest", firm_share=0.20, pd=0.084),
            RegionConfig(name="central", firm_share=0.10, pd=0.060),
            RegionConfig(name="xiangxi", firm_share=0.05, pd=0.117),
        ]
    )
    sectors: List[SectorConfig] = field(
        default_factory=lambda: [
            # Sector mix from the Jiangxi table (seed-notes §2.2, 「農業種養11.4」 row): trade,
            # catering, services 67.8%, manufacturing 18.2%, agriculture 9.4%, culture/tech 4.6%.
            # PD multipliers are an assumption (agriculture riskier, cf. Dongting farm lenders 9.2%).
            SectorConfig(name="trade_services", firm_share=0.678, pd_multiplier=1.0),
            SectorConfig(name="manufacturing", firm_share=0.182, pd_multiplier=0.9),
            SectorConfig(name="agriculture", firm_share=0.094, pd_multiplier=1.6),
            SectorConfig(name="tech", firm_share=0.046, pd_multiplier=0.8),
        ]
    )


@dataclass
class FirmsConfig:
    n: int = 20_000  # simulated firms (a sample of province.firms_total)
    pd_dispersion: float = 0.8  # sd of log PD around the region x sector mean (assumption)
    # J「單筆貸款金額多在5萬至50萬元之間,資金使用周期集中在3至12個月」
    loan_min: float = 50_000.0
    loan_max: float = 500_000.0
    term_min: int = 3
    term_max: int = 12
    apply_rate: float = 0.10  # monthly probability a firm without a loan applies (assumption)
    # H「約52%的小微主體因無信貸記錄而處于“征信白戶”狀態」: 48% have a credit file.
    credit_file_share: float = 0.48
    # J「代償回收率達68.4%」 and 「回收率提升至61.3%」: LGD 32-39%; mean 0.35.
    lgd_mean: float = 0.35
    lgd_dispersion: float = 0.15  # sd of firm LGD around the mean (collateral differences)
    recovery_lag: int = 6  # months from default to recovery (J: disposal 28 days to 11 months in H)


@dataclass
class CopulaConfig:
    # Monthly asset-correlation loadings (squared): macro, region, sector. Sum < 1.
    rho_macro: float = 0.04
    rho_region: float = 0.04
    rho_sector: float = 0.02
    ar1: float = 0.0  # persistence of the systematic factors from month to month, in [0, 1)


@dataclass
class BankConfig:
    capital: float = 150e9  # yuan; H: banks' SME books are ~1.87 tn at CAR 12.4% (assumption)
    signal_noise: float = 0.6  # sd of the bank's logit-PD signal for firms with a credit file
    signal_noise_no_file: float = 1.2  # the same for firms without a credit file
    # Bank lends on its own if its expected loss rate (PD x LGD x share it keeps) is below this.
    max_expected_loss: float = 0.012
    max_pd: float = 0.30  # never lends above this estimated PD, whatever the cover


@dataclass
class GuarantorConfig:
    # H「全省政府性融資擔保機構平均資本金規模僅為3.2億元」 x 37 guarantors on 湘融通
    # (H「37家政府性融資擔保機構」) = 11.8 bn, split over the regions by firm share.
    capital: float = 11.84e9
    leverage_cap: float = 10.0  # outstanding guarantees / net assets (regulation: 10x, 15x small-firm focus)
    signal_noise: float = 0.8  # sd of the guarantor's logit-PD signal
    max_pd: float = 0.15  # guarantees only firms it estimates below this annual PD (assumption)
    # H「因累計代償余額已達凈資產的180%,已暫停新增業務近一年」: suspend new guarantees when
    # cumulative claims reach this multiple of starting net assets.
    suspend_claims_multiple: float = 1.8


@dataclass
class ReguarantorConfig:
    # Hebei H「省級再擔保機構資本金增至50億元」 (seed-notes-hebei-anhui-digital.md §1.1); Hunan's is
    # not given, so Hebei's figure stands in (assumption).
    capital: float = 5e9


@dataclass
class NationalFundConfig:
    # The province's slice of the national fund: J「2024年累計獲得再擔保授信額度120億元」 is a
    # credit line; a 2 bn loss-absorbing slice is an assumption.
    capital: float = 2e9


@dataclass
class PoolConfig:
    # H「省級風險補償資金規模達12億元,累計撬動銀行信貸投放超380億元,財政資金杠桿效應達1:31.7」
    size: float = 1.2e9
    replenish: str = "annual"  # none | annual (fixed yearly appropriation) | top_up (back to size)
    annual_amount: float = 0.2e9  # yuan per year for "annual" (assumption)


@dataclass
class GovernmentConfig:
    annual_budget: float = 1e9  # yuan per year for tranches paid directly by "government"


@dataclass
class McConfig:
    replications: int = 50
    seed: int = 20260101
    n_jobs: int = 1  # worker processes for replications (local engine, or a local Dask cluster)
    engine: str = "local"  # local | dask (see ENGINES); results do not depend on it
    # Dask scheduler to connect to, e.g. "tcp://10.0.0.5:8786"; empty with engine=dask starts
    # a LocalCluster of n_jobs workers on 127.0.0.1 for this run.
    dask_address: str = ""


@dataclass
class SimConfig:
    horizon: int = 60  # months (2026-2030)
    start_year: int = 2026
    scheme: SchemeConfig = field(default_factory=SchemeConfig)
    province: ProvinceConfig = field(default_factory=ProvinceConfig)
    firms: FirmsConfig = field(default_factory=FirmsConfig)
    copula: CopulaConfig = field(default_factory=CopulaConfig)
    bank: BankConfig = field(default_factory=BankConfig)
    guarantor: GuarantorConfig = field(default_factory=GuarantorConfig)
    reguarantor: ReguarantorConfig = field(default_factory=ReguarantorConfig)
    national_fund: NationalFundConfig = field(default_factory=NationalFundConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    government: GovernmentConfig = field(default_factory=GovernmentConfig)
    mc: McConfig = field(default_factory=McConfig)
    quiet: bool = False  # no progress line


# --------------------------------------------------------------------------- validation


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{key} = {value!r}: {allowed}")


def _check(key: str, value: Any, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, hi_open: bool = False, integer: bool = False) -> None:
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = _num(value)
    if ok:
        if lo is not None and (value <= lo if lo_open else value < lo):
            ok = False
        if hi is not None and (value >= hi if hi_open else value > hi):
            ok = False
    if not ok:
        kind = "an integer" if integer else "a number"
        if lo is not None and hi is not None:
            rng = f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        elif lo is not None:
            rng = f" {'>' if lo_open else '>='} {lo:g}"
        elif hi is not None:
            rng = f" {'<' if hi_open else '<='} {hi:g}"
        else:
            rng = ""
        _fail(key, value, f"must be {kind}{rng}")


def tranche_payer(name: str, tranche: TrancheConfig) -> str:
    return tranche.payer or name


def validate(cfg: SimConfig) -> None:
    """Check every value; raise ConfigError on the first one that is not allowed."""
    _check("horizon", cfg.horizon, 1, 1200, integer=True)
    _check("start_year", cfg.start_year, 1900, 2200, integer=True)

    s = cfg.scheme
    if not s.tranches:
        _fail("scheme.tranches", {}, "must name at least one tranche (e.g. bank: {share: 1.0})")
    total = 0.0
    for name, t in s.tranches.items():
        key = f"scheme.tranches.{name}"
        _check(f"{key}.share", t.share, 0.0, 1.0)
        payer = tranche_payer(name, t)
        if payer not in PAYERS:
            _fail(f"{key}.payer", payer, f"must be one of {', '.join(PAYERS)}")
        if t.cap_per_loan is not None:
            _check(f"{key}.cap_per_loan", t.cap_per_loan, 0.0)
        if t.cap_rate is not None:
            _check(f"{key}.cap_rate", t.cap_rate, 0.0, 1.0)
        total += t.share
    if abs(total - 1.0) > 1e-9:
        _fail("scheme.tranches", {n: t.share for n, t in s.tranches.items()},
              f"shares must sum to 1 (they sum to {total:.6g})")
    payers = [tranche_payer(n, t) for n, t in s.tranches.items()]
    dup = sorted({p for p in payers if payers.count(p) > 1})
    if dup:
        _fail("scheme.tranches", payers, f"each payer may hold one tranche; repeated: {', '.join(dup)}")
    _check("scheme.guarantee_fee", s.guarantee_fee, 0.0, 0.2)
    _check("scheme.max_loan", s.max_loan, 0.0, lo_open=True)
    if s.shortfall_bearer not in PAYERS or s.shortfall_bearer == "borrower":
        _fail("scheme.shortfall_bearer", s.shortfall_bearer,
              f"must be one of {', '.join(p for p in PAYERS if p != 'borrower')}")

    p = cfg.province
    _check("province.firms_total", p.firms_total, 1, integer=True)
    if not p.regions:
        _fail("province.regions", [], "must list at least one region")
    if not p.sectors:
        _fail("province.sectors", [], "must list at least one sector")
    for kind, items in (("regions", p.regions), ("sectors", p.sectors)):
        names = [r.name for r in items]
        if len(set(names)) != len(names) or not all(names):
            _fail(f"province.{kind}", names, "names must be non-empty and distinct")
        for i, r in enumerate(items):
            _check(f"province.{kind}[{i}].firm_share", r.firm_share, 0.0, 1.0)
        tot = sum(r.firm_share for r in items)
        if abs(tot - 1.0) > 1e-6:
            _fail(f"province.{kind}", {r.name: r.firm_share for r in items},
                  f"firm_share must sum to 1 (they sum to {tot:.6g})")
    for i, r in enumerate(p.regions):
        _check(f"province.regions[{i}].pd", r.pd, 0.0, 1.0, lo_open=True, hi_open=True)
    for i, r in enumerate(p.sectors):
        _check(f"province.sectors[{i}].pd_multiplier", r.pd_multiplier, 0.0, lo_open=True)

    f = cfg.firms
    _check("firms.n", f.n, 1, 50_000_000, integer=True)
    if f.n > p.firms_total:
        _fail("firms.n", f.n, f"must be <= province.firms_total ({p.firms_total})")
    _check("firms.pd_dispersion", f.pd_dispersion, 0.0, 5.0)
    _check("firms.loan_min", f.loan_min, 0.0, lo_open=True)
    _check("firms.loan_max", f.loan_max, f.loan_min)
    _check("firms.term_min", f.term_min, 1, integer=True)
    _check("firms.term_max", f.term_max, f.term_min, integer=True)
    _check("firms.apply_rate", f.apply_rate, 0.0, 1.0)
    _check("firms.credit_file_share", f.credit_file_share, 0.0, 1.0)
    _check("firms.lgd_mean", f.lgd_mean, 0.0, 1.0)
    _check("firms.lgd_dispersion", f.lgd_dispersion, 0.0, 1.0)
    _check("firms.recovery_lag", f.recovery_lag, 0, integer=True)

    c = cfg.copula
    for k in ("rho_macro", "rho_region", "rho_sector"):
        _check(f"copula.{k}", getattr(c, k), 0.0, 1.0, hi_open=True)
    rsum = c.rho_macro + c.rho_region + c.rho_sector
    if rsum >= 1.0:
        _fail("copula", {"rho_macro": c.rho_macro, "rho_region": c.rho_region,
                         "rho_sector": c.rho_sector}, f"loadings must sum below 1 (sum {rsum:g})")
    _check("copula.ar1", c.ar1, 0.0, 1.0, hi_open=True)

    b = cfg.bank
    _check("bank.capital", b.capital, 0.0)
    _check("bank.signal_noise", b.signal_noise, 0.0)
    _check("bank.signal_noise_no_file", b.signal_noise_no_file, 0.0)
    _check("bank.max_expected_loss", b.max_expected_loss, 0.0, 1.0)
    _check("bank.max_pd", b.max_pd, 0.0, 1.0)

    g = cfg.guarantor
    _check("guarantor.capital", g.capital, 0.0)
    _check("guarantor.leverage_cap", g.leverage_cap, 0.0, lo_open=True)
    _check("guarantor.signal_noise", g.signal_noise, 0.0)
    _check("guarantor.max_pd", g.max_pd, 0.0, 1.0)
    _check("guarantor.suspend_claims_multiple", g.suspend_claims_multiple, 0.0, lo_open=True)
    _check("reguarantor.capital", cfg.reguarantor.capital, 0.0)
    _check("national_fund.capital", cfg.national_fund.capital, 0.0)

    pl = cfg.pool
    _check("pool.size", pl.size, 0.0)
    if pl.replenish not in REPLENISH_RULES:
        _fail("pool.replenish", pl.replenish, f"must be one of {', '.join(REPLENISH_RULES)}")
    _check("pool.annual_amount", pl.annual_amount, 0.0)
    _check("government.annual_budget", cfg.government.annual_budget, 0.0)

    m = cfg.mc
    _check("mc.replications", m.replications, 1, 100_000, integer=True)
    _check("mc.seed", m.seed, 0, integer=True)
    _check("mc.n_jobs", m.n_jobs, 1, 256, integer=True)
    if m.engine not in ENGINES:
        _fail("mc.engine", m.engine, f"must be one of {', '.join(ENGINES)}")
    if m.dask_address:
        if m.engine != "dask":
            _fail("mc.dask_address", m.dask_address, "is used only with mc.engine=dask")
        if not re.fullmatch(r"(tcp|tls|ucx|inproc|ws|wss)://\S+|[^\s:/]+:\d+", m.dask_address):
            _fail("mc.dask_address", m.dask_address,
                  "must be a scheduler address like tcp://HOST:8786 (or HOST:8786)")
    if m.engine == "dask" and importlib.util.find_spec("distributed") is None:
        _fail("mc.engine", m.engine,
              "needs the Dask distributed package: pip install 'zyd-sim[distributed]'")
