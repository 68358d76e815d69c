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

REPLENISH_RULES = ("none", "annual", "top_up", "performance")
WHEN_EMPTY = ("continue", "stop")
RECAPITALISE = ("none", "restore")
PUBLIC_PAYERS = ("pool", "government")  # whose share the dynamic-sharing rule raises

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
class DynamicSharingConfig:
    """Anhui 2025 rule (seed-notes-hebei-anhui-digital.md §1.2): 「自動提高財政風險補償比例從30%升至45%」
    when a firm's operating-health index falls two periods running. Here the health index is
    the firm's latent asset value in the copula; on a loan whose index fell `periods` months
    running before default, the public payers' (pool, government) shares are multiplied by
    `public_multiplier` (30% -> 45% is 1.5) and the other tranches shrink pro rata."""

    enabled: bool = False
    periods: int = 2
    public_multiplier: float = 1.5


@dataclass
class SchemeConfig:
    name: str = ""
    description: str = ""
    source: str = ""
    tranches: Dict[str, TrancheConfig] = field(default_factory=dict)
    guarantee_fee: float = 0.01  # yearly, on the guaranteed amount, paid up front to the guarantor
    max_loan: float = 10_000_000.0  # yuan; larger loans cannot enter the scheme
    shortfall_bearer: str = "bank"  # who absorbs what a payer cannot pay
    # Set the bank's share and rescale every other tranche pro rata to fill the rest: the
    # one key a sweep needs for the moral-hazard frontier (`scheme.bank_share=0,0.1,0.2`).
    bank_share: Optional[float] = None
    dynamic: DynamicSharingConfig = field(default_factory=DynamicSharingConfig)


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
    # sd of log PD around the region x sector mean. 1.5 is what makes the Hunan report's AUCs
    # reachable: with perfect information the AUC over this population is 0.87 (assumption).
    pd_dispersion: float = 1.5
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
    # Rationed firms borrow informally: H「年化利率超過24%的占比達61.7%」 (24-36% a year).
    informal_rate: float = 0.30
    # Three-year survival: H「獲得信貸支持的小微企業三年存活率平均為68.4%,而未獲貸企業僅為41.7%」.
    # Applied as a monthly exit hazard to firms without a running loan: "without" to firms whose
    # last application was refused, "with" to the others. Exiting firms are replaced by entrants.
    survival_with_credit: float = 0.684
    survival_without_credit: float = 0.417
    # Relative rise in the application rate per percentage point of borrowing cost removed by
    # subsidies (government.fee_subsidy, government.interest_subsidy) (assumption).
    cost_elasticity: float = 0.10


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
    # The bank's risk signal is logit(PD) + noise * N(0,1). Noise levels are calibrated to the
    # AUCs of H「頭部數字平臺小微企業違約預測AUC值達0.86,而本地銀行同類模型平均僅為0.74」 over
    # the default firm population (tests/test_behaviour.py measures them):
    noise_shared_data: float = 0.55  # firms whose data the bank sees through the platform: AUC 0.86
    noise_file: float = 2.45  # firms with a credit file only: AUC 0.74
    noise_no_file: float = 3.0  # first-time borrowers without a credit file: AUC 0.71 (assumption)
    # Share of firms on the provincial credit-data platform:
    # H「全省接入省級征信平臺的小微企業僅占注冊總數的38.6%」.
    data_coverage: float = 0.386
    # Bank lends on its own if its expected loss rate (PD x LGD x share it keeps) is below this.
    max_expected_loss: float = 0.012  # assumption
    # Supervisory NPL tolerance (不良容忍度): extra expected-loss rate accepted on small-firm loans.
    # Hebei widened tolerance by 2 points: H「從不高于各項貸款不良率3個百分點放寬至5個百分點」.
    npl_tolerance: float = 0.0
    max_pd: float = 0.30  # never lends above this estimated PD, whatever the cover (assumption)
    # Screening effort falls with the share of loss the bank keeps (moral hazard): on loans it
    # sends to the scheme its noise is multiplied by 1 + moral_hazard * (1 - effort), with
    # effort = min(1, bank share / full_effort_share). Direction from Saito & Tsuruta (2014,
    # Japan: claim rates rose more under 100% than under 80% cover) and H's guarantees treated
    # as 「增信裝飾」; full effort at 50% (H: the national 「五五分擔」); sizes are assumptions.
    moral_hazard: float = 2.0
    full_effort_share: float = 0.5


@dataclass
class GuarantorConfig:
    # H「全省政府性融資擔保機構平均資本金規模僅為3.2億元」 x 37 guarantors on 湘融通
    # (H「37家政府性融資擔保機構」) = 11.8 bn, split over the regions by firm share.
    capital: float = 11.84e9
    leverage_cap: float = 10.0  # outstanding guarantees / net assets (regulation: 10x, 15x small-firm focus)
    noise: float = 1.4  # sd of the guarantor's logit-PD signal: AUC 0.81 (assumption)
    max_pd: float = 0.25  # guarantees only firms it estimates below this annual PD (assumption)
    # H「因累計代償余額已達凈資產的180%,已暫停新增業務近一年」: suspend new guarantees when
    # cumulative claims since the last (re)capitalisation reach this multiple of its capital.
    suspend_claims_multiple: float = 1.8
    # Also suspend when its 12-month claim rate (代偿率) exceeds this (assumption; H reports 6.5%)
    suspend_claim_rate: float = 0.15
    # ... or when net assets fall below this fraction of its capital (assumption).
    net_asset_floor: float = 0.2
    suspension_months: int = 12  # H: 「已暫停新增業務近一年」
    # After a suspension: "restore" = the government tops net assets back up to the original
    # capital (fiscal cost) and business resumes; "none" = it stays suspended (assumption).
    recapitalise: str = "restore"


@dataclass
class ReguarantorConfig:
    # Hebei H「省級再擔保機構資本金增至50億元」 (seed-notes-hebei-anhui-digital.md §1.1); Hunan's is
    # not given, so Hebei's figure stands in (assumption).
    capital: float = 5e9
    # National fund rules (seed-notes-hebei-anhui-digital.md §1.4, external): fee 0.5% a year of
    # its risk share, 0.3% for single loans up to 5 m; paid by the guarantor at origination.
    fee_rate: float = 0.005
    fee_rate_small: float = 0.003
    small_loan_limit: float = 5e6
    # Stops sharing new claims while the scheme's 12-month claim rate is above this; the
    # guarantor then pays its tranche. 4% (5% for sci-tech loans) per issue 5 (assumption).
    claim_rate_ceiling: float = 0.04


@dataclass
class PoolConfig:
    # H「省級風險補償資金規模達12億元,累計撬動銀行信貸投放超380億元,財政資金杠桿效應達1:31.7」
    size: float = 1.2e9
    # none | annual (fixed yearly appropriation) | top_up (back to size) | performance (the
    # yearly appropriation only after a year whose claim rate was at most performance_claim_rate;
    # cf. J's priority payouts for banks with NPL < 1%)
    replenish: str = "annual"
    annual_amount: float = 0.2e9  # yuan per year for "annual" and "performance" (assumption)
    performance_claim_rate: float = 0.03  # assumption
    # Months from default to the pool's payment; until then the claimant (the shortfall bearer,
    # usually the bank) carries the pool's share. 0 = pay first, as on H's platform
    # (「代償響應時間壓縮至7個工作日內」); 11 under recover-first (「司法程序平均耗時長達11個月」).
    payout_delay: int = 0
    # Share of what is due that arrives; the rest stays with the claimant.
    # H: 「46.3%」 of compensation arrives on average (2025); 1.0 = as designed.
    payout_efficiency: float = 1.0
    # When the pool is empty: "continue" lending with a shortfall, or "stop" new scheme loans.
    when_empty: str = "continue"


@dataclass
class GovernmentConfig:
    annual_budget: float = 1e9  # yuan per year for tranches paid directly by "government" (assumption)
    # Share of the guarantee fee paid by the government: J「擔保費率減免50%」 for eligible firms.
    fee_subsidy: float = 0.0
    # Interest subsidy, percentage points, on first loans: Hebei H「給予最高1.5個百分點的貼息支持」.
    interest_subsidy: float = 0.0


@dataclass
class McConfig:
    replications: int = 200
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
    # The province's slice of the national fund: J「2024年累計獲得再擔保授信額度120億元」 is a
    # credit line; a 2 bn loss-absorbing slice is an assumption. Fees and ceiling as above.
    national_fund: ReguarantorConfig = field(default_factory=lambda: ReguarantorConfig(capital=2e9))
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
    if s.bank_share is not None:
        _check("scheme.bank_share", s.bank_share, 0.0, 1.0)
    d = s.dynamic
    _check("scheme.dynamic.periods", d.periods, 1, 24, integer=True)
    _check("scheme.dynamic.public_multiplier", d.public_multiplier, 1.0, 10.0)
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
    _check("firms.recovery_lag", f.recovery_lag, 0, 120, integer=True)
    _check("firms.informal_rate", f.informal_rate, 0.0, 5.0)
    _check("firms.survival_with_credit", f.survival_with_credit, 0.0, 1.0, lo_open=True)
    _check("firms.survival_without_credit", f.survival_without_credit, 0.0, 1.0, lo_open=True)
    _check("firms.cost_elasticity", f.cost_elasticity, 0.0, 10.0)

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
    for k in ("noise_shared_data", "noise_file", "noise_no_file"):
        _check(f"bank.{k}", getattr(b, k), 0.0, 20.0)
    _check("bank.data_coverage", b.data_coverage, 0.0, 1.0)
    _check("bank.max_expected_loss", b.max_expected_loss, 0.0, 1.0)
    _check("bank.npl_tolerance", b.npl_tolerance, 0.0, 1.0)
    _check("bank.max_pd", b.max_pd, 0.0, 1.0)
    _check("bank.moral_hazard", b.moral_hazard, 0.0, 10.0)
    _check("bank.full_effort_share", b.full_effort_share, 0.0, 1.0)

    g = cfg.guarantor
    _check("guarantor.capital", g.capital, 0.0)
    _check("guarantor.leverage_cap", g.leverage_cap, 0.0, lo_open=True)
    _check("guarantor.noise", g.noise, 0.0, 20.0)
    _check("guarantor.max_pd", g.max_pd, 0.0, 1.0)
    _check("guarantor.suspend_claims_multiple", g.suspend_claims_multiple, 0.0, lo_open=True)
    _check("guarantor.suspend_claim_rate", g.suspend_claim_rate, 0.0, 1.0, lo_open=True)
    _check("guarantor.net_asset_floor", g.net_asset_floor, 0.0, 1.0)
    _check("guarantor.suspension_months", g.suspension_months, 1, 1200, integer=True)
    if g.recapitalise not in RECAPITALISE:
        _fail("guarantor.recapitalise", g.recapitalise, f"must be one of {', '.join(RECAPITALISE)}")
    for name in ("reguarantor", "national_fund"):
        r = getattr(cfg, name)
        _check(f"{name}.capital", r.capital, 0.0)
        _check(f"{name}.fee_rate", r.fee_rate, 0.0, 0.2)
        _check(f"{name}.fee_rate_small", r.fee_rate_small, 0.0, 0.2)
        _check(f"{name}.small_loan_limit", r.small_loan_limit, 0.0)
        _check(f"{name}.claim_rate_ceiling", r.claim_rate_ceiling, 0.0, 1.0, lo_open=True)

    pl = cfg.pool
    _check("pool.size", pl.size, 0.0)
    if pl.replenish not in REPLENISH_RULES:
        _fail("pool.replenish", pl.replenish, f"must be one of {', '.join(REPLENISH_RULES)}")
    _check("pool.annual_amount", pl.annual_amount, 0.0)
    _check("pool.performance_claim_rate", pl.performance_claim_rate, 0.0, 1.0)
    _check("pool.payout_delay", pl.payout_delay, 0, 120, integer=True)
    _check("pool.payout_efficiency", pl.payout_efficiency, 0.0, 1.0)
    if pl.when_empty not in WHEN_EMPTY:
        _fail("pool.when_empty", pl.when_empty, f"must be one of {', '.join(WHEN_EMPTY)}")
    gv = cfg.government
    _check("government.annual_budget", gv.annual_budget, 0.0)
    _check("government.fee_subsidy", gv.fee_subsidy, 0.0, 1.0)
    _check("government.interest_subsidy", gv.interest_subsidy, 0.0, 20.0)

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


def prepare(cfg: SimConfig) -> SimConfig:
    """Apply derived settings (scheme.bank_share), then validate. Idempotent."""
    s = cfg.scheme
    if s.bank_share is not None:
        _check("scheme.bank_share", s.bank_share, 0.0, 1.0)
        bank = [n for n, t in s.tranches.items() if tranche_payer(n, t) == "bank"]
        others = [n for n in s.tranches if n not in bank]
        rest = sum(s.tranches[n].share for n in others)
        if s.bank_share < 1.0 and rest <= 0.0:
            _fail("scheme.bank_share", s.bank_share,
                  "the scheme has no other tranche to take the rest (bank_only?)")
        if not bank:
            s.tranches["bank"] = TrancheConfig(share=0.0)
            bank = ["bank"]
        s.tranches[bank[0]].share = s.bank_share
        for n in others:
            s.tranches[n].share = s.tranches[n].share * (1.0 - s.bank_share) / rest if rest else 0.0
    validate(cfg)
    return cfg
