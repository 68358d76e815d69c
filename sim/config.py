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
    """A prefecture (地级市, or a county): firms, default risk, sector mix and flood exposure.

    Each region has its own government guarantor and its own copula factor.
    """

    name: str = ""
    firm_share: float = 0.0
    pd: float = 0.03  # mean annual PD of firms in this region before sector multipliers
    area: str = ""  # the seed report's grouping (e.g. dongting_lake); shocks may name it
    # Sector mix of this prefecture's firms {sector: share}; empty = the province's shares.
    sector_mix: Dict[str, float] = field(default_factory=dict)
    # Flood intensity here in the province's main basin flood, relative to the prefectures
    # hit in the reference flood (1.0), in [0, 1]. See docs/shocks.md.
    flood_exposure: float = 0.0


@dataclass
class SectorConfig:
    name: str = ""
    firm_share: float = 0.0
    pd_multiplier: float = 1.0


# Sector mixes of Hunan prefectures (trade_services, manufacturing, agriculture, tech).
# Assumption: the seed reports give only the province mix (Jiangxi table, see `sectors`)
# and say the Dongting Lake ring is the farm belt: H「岳陽、常德等環洞庭湖農業主產區雖擁有
# 大量家庭農場和合作社」; Zhuzhou is the manufacturing hub (H「株洲動力谷」). The mixes below
# tilt toward those facts and average to about the province's 9.4% farm share.
def _mix(trade: float, manufacturing: float, agriculture: float, tech: float) -> Dict[str, float]:
    return {"trade_services": trade, "manufacturing": manufacturing,
            "agriculture": agriculture, "tech": tech}


def hunan_regions() -> List[RegionConfig]:
    """Hunan's 14 prefectures (the embedded default province; conf/province/hunan.yaml
    selects these).

    Areas and their firm shares: the report's grouping, H「長株潭地區(長沙、株洲、湘潭)62.7
    湘西南五市(邵陽、永州、郴州、懷化、湘西州)13.9環洞庭湖地區(岳陽、常德、益陽)15.2湘中地區(婁底、
    衡陽)6.8其他地區(張家界、自治州部分等)1.4」 (shares of inclusive-loan *balance*,
    seed-notes-hunan-jiangxi.md §2.1). Firm shares are an assumption: balance shares tilted
    toward the periphery (firms there borrow less): Chang-Zhu-Tan 0.45, Dongting ring 0.20,
    south-west five 0.23, central 0.10, Zhangjiajie 0.02; within an area split by 2020
    census population (external, approximate).
    `pd` is for all firms *before* bank screening: the books' NPL x 1.5 (assumption: banks
    lend to the safer part of each region). NPLs: Changsha H「長沙地區不良率控制在2.1%」;
    Chang-Zhu-Tan 2.9, Xiangxi 7.8, Huaihua 7.6 and the province's guarantee-cooperation
    loans 4.8 from H「長株潭地區銀行類金融機構2.9湘西地區銀行類金融機構7.8懷化地區銀行類金融機構
    7.6洞庭湖區(岳陽、常德)涉農小貸公司9.2全省平均政府性擔保合作貸款4.8」 (the Dongting ring uses
    4.8; its farm firms get the agriculture multiplier); Shaoyang and the rest of the
    south-west H「懷化、邵陽等地則攀升至5.6%以上」; central and Zhangjiajie assumed 4.0% and 5.6%.
    `flood_exposure`: 1.0 for the Dongting Lake ring (H「2024年洞庭湖區洪災期間,岳陽、常德兩地
    涉農小微企業貸款逾期率在三個月內驟升4.7個百分點」; Yiyang is in the same ring by H's table);
    the lower Xiang River (Changsha 0.3, Xiangtan 0.2, Zhuzhou 0.2, Hengyang 0.1) is an
    assumption; 0 elsewhere (mountain flash floods are not modelled as basin floods).
    """
    R = RegionConfig
    other = _mix(0.72, 0.16, 0.10, 0.02)
    return [
        R("changsha", 0.2711, 0.032, "chang_zhu_tan", _mix(0.73, 0.18, 0.02, 0.07), 0.3),
        R("zhuzhou", 0.1052, 0.044, "chang_zhu_tan", _mix(0.62, 0.30, 0.05, 0.03), 0.2),
        R("xiangtan", 0.0737, 0.044, "chang_zhu_tan", _mix(0.66, 0.25, 0.06, 0.03), 0.2),
        R("yueyang", 0.0712, 0.072, "dongting_lake", _mix(0.58, 0.17, 0.22, 0.03), 1.0),
        R("changde", 0.0745, 0.072, "dongting_lake", _mix(0.56, 0.15, 0.26, 0.03), 1.0),
        R("yiyang", 0.0543, 0.072, "dongting_lake", _mix(0.58, 0.14, 0.25, 0.03), 1.0),
        R("shaoyang", 0.0639, 0.084, "southwest", dict(other), 0.0),
        R("yongzhou", 0.0516, 0.084, "southwest", dict(other), 0.0),
        R("chenzhou", 0.0455, 0.084, "southwest", dict(other), 0.0),
        R("huaihua", 0.0447, 0.114, "southwest", dict(other), 0.0),
        R("xiangxi", 0.0243, 0.117, "southwest", dict(other), 0.0),
        R("hengyang", 0.0635, 0.060, "central", dict(other), 0.1),
        R("loudi", 0.0365, 0.060, "central", dict(other), 0.0),
        R("zhangjiajie", 0.0200, 0.084, "other", dict(other), 0.0),
    ]


@dataclass
class ProvinceConfig:
    name: str = "hunan"
    basin: str = "Dongting Lake (Yangtze)"  # the main flood basin, for reports
    # H「縣域地區小微企業數量達186.4萬家」 (seed-notes-hunan-jiangxi.md §2.1): the county-level
    # small firms the sample stands for.
    firms_total: int = 1_864_000
    regions: List[RegionConfig] = field(default_factory=hunan_regions)
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
    # Overdue (逾期) state between performing and default. A loan that misses a payment is
    # overdue for `overdue_months`, then either cures (back to performing) or defaults and
    # the scheme pays. 3 months = the 90-days-past-due line at which banks classify a loan
    # as non-performing and claim on the guarantee (assumption; the reports give no rule).
    overdue_months: int = 3
    # Loans that fall overdue and cure, per loan that falls overdue and defaults (assumption).
    # J「92.7%的主體能按時還款,逾期30天以上比例僅為1.8%」 next to an NPL of 1.5-1.9%: most
    # late payers catch up. 1.5 means 60% of overdue loans cure.
    overdue_cure_ratio: float = 1.5
    # Business-interruption insurance take-up by sector {sector: share}; others get
    # `bi_insurance_other`. Assumption: the reports give no take-up; H says the insurance
    # layer is thin (H「小微企業貸款保證保險保費收入僅為1.3億元,覆蓋率不足1.2%」) but names
    # farm firms insured against business interruption (H「業經營中斷險”的企業」, garbled
    # before 業). 15% of farm firms is also shock.flood.calibration_take_up, so the flood
    # calibration holds as is.
    bi_insurance: Dict[str, float] = field(default_factory=lambda: {"agriculture": 0.15})
    bi_insurance_other: float = 0.05


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


# ----------------------------------------------------------------------------- shocks
SHOCK_KINDS = ("none", "flood", "drought", "pandemic", "sector_crash", "downturn")
SHOCK_TIMINGS = ("scheduled", "drawn")


@dataclass
class ShockEventConfig:
    """One shock event: what, when, where, how bad. Its effects per unit of intensity are
    the kind's `HazardConfig` (shock.flood, shock.pandemic, ...). See docs/shocks.md."""

    kind: str = "none"  # one of SHOCK_KINDS
    # scheduled: strikes in `month` (1-based month of the horizon; 19 = July 2027).
    # drawn: strikes in calendar month `season` of each year with probability 1/return_period.
    timing: str = "scheduled"
    month: int = 19
    season: int = 7  # calendar month (1-12) of drawn events; July = the flood season
    duration: int = 3  # months the event's effects last (the window)
    # Where: prefecture or area names. Empty: floods hit every prefecture with
    # flood_exposure > 0, each at its exposure; a sector crash hits the prefecture where its
    # first sector is most concentrated; other kinds hit the whole province. A named
    # prefecture is hit at full intensity.
    prefectures: List[str] = field(default_factory=list)
    sectors: List[str] = field(default_factory=list)  # empty: all sectors (by the kind's weights)
    severity: float = 1.0  # 1 = the reference event the kind's parameters describe; >= 0
    # Magnitude of a 1-in-T-year event: severity x (Gumbel reduced variate of T / that of the
    # kind's reference_return_period). Required for timing=drawn; optional when scheduled.
    return_period: Optional[float] = None


@dataclass
class HazardConfig:
    """Effects of one kind of shock on an affected firm, per unit of intensity.

    Intensity of a firm = event magnitude x where-weight (prefecture) x sector weight.
    """

    # Extra probability that a loan falls overdue because of the event, over the event, for
    # a firm of intensity 1 (sector weight 1, exposure 1, severity 1), averaged over insured
    # and uninsured firms at `calibration_take_up`. An additive uplift on the monthly
    # overdue-entry probability; marginals stay exact (thresholds PhiInv(p') in the copula).
    overdue_uplift: float = 0.0
    # The same for firms with business-interruption insurance; None: insurance does not help.
    insured_overdue_uplift: Optional[float] = None
    # Share of insured firms among those the two uplifts were measured on; the uninsured
    # uplift is derived from it: (overdue_uplift - take_up x insured) / (1 - take_up).
    calibration_take_up: float = 0.0
    # Share of the event's extra overdue loans that end in default (the rest cure).
    default_share: float = 0.4
    # Share of the uplift that lands in the event's first month; null = spread evenly
    # over `duration` months.
    onset_share: Optional[float] = None
    sector_weight: Dict[str, float] = field(default_factory=dict)  # relative uplift by sector
    other_sector_weight: float = 1.0  # weight of sectors not in sector_weight
    pd_multiplier: float = 1.0  # monthly PD and overdue probability x this (at intensity 1)
    demand_multiplier: float = 1.0  # loan applications x this (at intensity 1) in the window
    collateral_loss: float = 0.0  # share of collateral value lost at onset (raises LGD)
    recovery_delay: int = 0  # months added to recoveries on affected firms' defaults
    reference_return_period: float = 20.0  # return period of the event the numbers describe


def flood_hazard() -> HazardConfig:
    """The flood, calibrated on the 2024 Dongting Lake flood in Hunan.

    H「2024年洞庭湖區洪災期間,岳陽、常德兩地涉農小微企業貸款逾期率在三個月內驟升4.7個百分點,
    而同期投」…「業經營中斷險”的企業逾期率僅上升0.9%」 (seed-notes-hunan-jiangxi.md §3; the
    source garbles 保“農 between the two parts: "…firms that took out farm business-interruption
    insurance"). 4.7 pp: all farm loans in Yueyang and Changde; 0.9 (stated as %, read as pp):
    farm firms with business-interruption insurance. Everything else here is an assumption,
    as marked.
    """
    return HazardConfig(
        overdue_uplift=0.047,
        insured_overdue_uplift=0.009,
        # Assumption: share of Yueyang/Changde farm firms insured in 2024 (not in the reports).
        calibration_take_up=0.15,
        # Assumption: like ordinary arrears (firms.overdue_cure_ratio 1.5 -> 40% default).
        default_share=0.4,
        # The flood strikes at once; the loans it hits stay overdue for the 3 months after,
        # which is when the report measured the rise.
        onset_share=1.0,
        # Assumption: "farm firms most"; others lose premises, stock and customers.
        sector_weight={"agriculture": 1.0, "trade_services": 0.4, "manufacturing": 0.4,
                       "tech": 0.2},
        other_sector_weight=0.4,
        # Assumption: emergency credit demand; cf. Anhui's emergency lending after a shock,
        # A「投放應急貸款47.8億元」 (seed-notes-hebei-anhui-digital.md §3).
        demand_multiplier=1.5,
        collateral_loss=0.25,  # assumption: farmland, stock and equipment under water
        # Assumption: courts and appraisal slow after a disaster; H gives 11 months for
        # recover-first claims (H「司法程序平均耗時長達11個月」), 6 months is added here.
        recovery_delay=6,
        # Assumption: the reports give no return period for the 2024 flood; taken as 1-in-20.
        reference_return_period=20.0,
    )


def drought_hazard() -> HazardConfig:
    """Drought: farm firms, a season long. The Hunan/Jiangxi reports have no drought figure
    (only Colombia's drought-index insurance, J「當區域降雨量低于閾值時自動觸發貸款展期或利息減免」):
    every number is an assumption, scaled from the flood."""
    return HazardConfig(
        overdue_uplift=0.03, insured_overdue_uplift=0.006, calibration_take_up=0.15,
        default_share=0.4, onset_share=None,
        sector_weight={"agriculture": 1.0}, other_sector_weight=0.1,
        demand_multiplier=1.2,  # working capital for irrigation and feed
        reference_return_period=20.0,
    )


def pandemic_hazard() -> HazardConfig:
    """Pandemic: province-wide, several months, demand falls. No figure in the reports beyond
    the recovery products (J「疫情后復蘇階段」, 稳岗贷 / 纾困快贷): assumptions."""
    return HazardConfig(
        overdue_uplift=0.04, insured_overdue_uplift=None,  # pandemics are excluded from BI cover
        # Assumption: forbearance and force-majeure credit repair let most catch up, cf.
        # A「對因不可抗力導致的逾期記錄,在完成經營改善承諾后可申請快速清除」.
        default_share=0.3, onset_share=None,
        sector_weight={"trade_services": 1.0, "manufacturing": 0.6, "agriculture": 0.3,
                       "tech": 0.3},
        other_sector_weight=0.5,
        demand_multiplier=0.6,
        recovery_delay=3,  # courts closed
        reference_return_period=50.0,
    )


def sector_crash_hazard() -> HazardConfig:
    """A price crash in one sector, concentrated in one place: the Jiangxi solar case,
    J「某縣級市因光伏組件價格暴跌引發的區域性信貸風險,促使當」…「提前壓降相關敞口15億元」 (banks cut
    1.5 bn of exposure). The report gives no overdue figure: the numbers are assumptions."""
    return HazardConfig(
        overdue_uplift=0.08, insured_overdue_uplift=None, default_share=0.5,
        onset_share=None, other_sector_weight=1.0,  # the event's `sectors` pick who is hit
        demand_multiplier=0.5,  # banks cut exposure to the sector (the 1.5 bn above)
        collateral_loss=0.2,  # inventory and equipment lose value with prices
        reference_return_period=20.0,
    )


def downturn_hazard() -> HazardConfig:
    """A macro downturn: every firm's PD x pd_multiplier for `duration` months. Assumption,
    cf. A「在2025年三季度制造業PMI回落至48.3時」 (a manufacturing slowdown) in the Anhui report."""
    return HazardConfig(pd_multiplier=1.5, demand_multiplier=0.85, other_sector_weight=1.0,
                        reference_return_period=10.0)


@dataclass
class ShockConfig(ShockEventConfig):
    """The `shock` group (conf/shock/*.yaml). The top-level event fields describe the main
    event; `also` adds more events that compose with it (e.g. a flood in a downturn)."""

    name: str = "none"
    description: str = ""
    also: Dict[str, ShockEventConfig] = field(default_factory=dict)
    # Also run the same seeds without any shock (common random numbers) and report the
    # difference: window metrics and depletion with vs without.
    counterfactual: bool = True
    flood: HazardConfig = field(default_factory=flood_hazard)
    drought: HazardConfig = field(default_factory=drought_hazard)
    pandemic: HazardConfig = field(default_factory=pandemic_hazard)
    sector_crash: HazardConfig = field(default_factory=sector_crash_hazard)
    downturn: HazardConfig = field(default_factory=downturn_hazard)


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
    shock: ShockConfig = field(default_factory=ShockConfig)
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
    # One account bears every shortfall: not the firms, and not "guarantor", which is one
    # account per prefecture.
    bearers = [p for p in PAYERS if p not in ("borrower", "guarantor")]
    if s.shortfall_bearer not in bearers:
        _fail("scheme.shortfall_bearer", s.shortfall_bearer, f"must be one of {', '.join(bearers)}")

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
    sector_names = [x.name for x in p.sectors]
    region_names = {r.name for r in p.regions}
    for i, r in enumerate(p.regions):
        key = f"province.regions[{i}]"
        if r.area in region_names and r.area != r.name:
            _fail(f"{key}.area", r.area, "must not be the name of another prefecture")
        _check(f"{key}.flood_exposure", r.flood_exposure, 0.0, 1.0)
        if r.sector_mix:
            _check_shares(f"{key}.sector_mix", r.sector_mix, sector_names, must_sum_to_one=True)

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
    _check("firms.overdue_months", f.overdue_months, 1, 24, integer=True)
    _check("firms.overdue_cure_ratio", f.overdue_cure_ratio, 0.0, 100.0)
    _check_shares("firms.bi_insurance", f.bi_insurance, sector_names, must_sum_to_one=False)
    _check("firms.bi_insurance_other", f.bi_insurance_other, 0.0, 1.0)

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

    validate_shock(cfg)

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


def _check_shares(key: str, shares: Dict[str, float], known: List[str], must_sum_to_one: bool) -> None:
    for name, v in shares.items():
        if name not in known:
            _fail(key, dict(shares), f"unknown sector {name!r}; known: {', '.join(known)}")
        _check(f"{key}.{name}", v, 0.0, 1.0)
    if must_sum_to_one and abs(sum(shares.values()) - 1.0) > 1e-6:
        _fail(key, dict(shares), f"shares must sum to 1 (they sum to {sum(shares.values()):.6g})")


def _place_names(p: ProvinceConfig) -> tuple[list[str], list[str]]:
    names = [r.name for r in p.regions]
    areas = sorted({r.area for r in p.regions if r.area and r.area not in names})
    return names, areas


def uninsured_uplift(h: HazardConfig) -> float:
    """Overdue uplift of uninsured firms, from the average and the insured one:
    u_all = q u_ins + (1 - q) u_unins  =>  u_unins = (u_all - q u_ins) / (1 - q)."""
    if h.insured_overdue_uplift is None:
        return h.overdue_uplift
    q = h.calibration_take_up
    return (h.overdue_uplift - q * h.insured_overdue_uplift) / (1.0 - q)


def _validate_hazard(key: str, h: HazardConfig, sectors: List[str]) -> None:
    _check(f"{key}.overdue_uplift", h.overdue_uplift, 0.0, 1.0)
    if h.insured_overdue_uplift is not None:
        _check(f"{key}.insured_overdue_uplift", h.insured_overdue_uplift, 0.0, 1.0)
    _check(f"{key}.calibration_take_up", h.calibration_take_up, 0.0, 1.0, hi_open=True)
    u = uninsured_uplift(h)
    if not 0.0 <= u <= 1.0:
        _fail(f"{key}.overdue_uplift", h.overdue_uplift,
              f"with insured_overdue_uplift {h.insured_overdue_uplift} and calibration_take_up "
              f"{h.calibration_take_up} the uninsured uplift would be {u:.4g}; it must be in [0, 1]")
    _check(f"{key}.default_share", h.default_share, 0.0, 1.0)
    if h.onset_share is not None:
        _check(f"{key}.onset_share", h.onset_share, 0.0, 1.0)
    for name, w in h.sector_weight.items():
        if name not in sectors:
            _fail(f"{key}.sector_weight", dict(h.sector_weight),
                  f"unknown sector {name!r}; known: {', '.join(sectors)}")
        _check(f"{key}.sector_weight.{name}", w, 0.0, 10.0)
    _check(f"{key}.other_sector_weight", h.other_sector_weight, 0.0, 10.0)
    _check(f"{key}.pd_multiplier", h.pd_multiplier, 0.0, 100.0, lo_open=True)
    _check(f"{key}.demand_multiplier", h.demand_multiplier, 0.0, 100.0)
    _check(f"{key}.collateral_loss", h.collateral_loss, 0.0, 1.0)
    _check(f"{key}.recovery_delay", h.recovery_delay, 0, 120, integer=True)
    _check(f"{key}.reference_return_period", h.reference_return_period, 1.0, lo_open=True)


def _validate_event(key: str, ev: ShockEventConfig, cfg: SimConfig) -> None:
    """Check one event; `key` is its prefix ("shock" or "shock.also.NAME")."""
    if ev.kind not in SHOCK_KINDS:
        _fail(f"{key}.kind", ev.kind, f"must be one of {', '.join(SHOCK_KINDS)}")
    if ev.timing not in SHOCK_TIMINGS:
        _fail(f"{key}.timing", ev.timing, f"must be one of {', '.join(SHOCK_TIMINGS)}")
    if ev.kind == "none":
        return
    if ev.timing == "scheduled":
        if not (isinstance(ev.month, int) and not isinstance(ev.month, bool)
                and 1 <= ev.month <= cfg.horizon):
            _fail(f"{key}.month", ev.month,
                  f"must be an integer in [1, {cfg.horizon}] (a month of the horizon, 1 = "
                  f"January {cfg.start_year})")
    else:
        _check(f"{key}.season", ev.season, 1, 12, integer=True)
        if ev.return_period is None:
            _fail(f"{key}.return_period", None, "timing=drawn needs a return period in years (> 1)")
    if ev.return_period is not None:
        _check(f"{key}.return_period", ev.return_period, 1.0, 1e6, lo_open=True)
    _check(f"{key}.duration", ev.duration, 1, 120, integer=True)
    _check(f"{key}.severity", ev.severity, 0.0, 100.0)
    names, areas = _place_names(cfg.province)
    bad = [x for x in ev.prefectures if x not in names and x not in areas]
    if bad:
        known = ", ".join(names) + (f"; areas: {', '.join(areas)}" if areas else "")
        _fail(f"{key}.prefectures", list(ev.prefectures),
              f"unknown prefecture{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}; "
              f"known ({cfg.province.name}): {known}")
    sectors = [x.name for x in cfg.province.sectors]
    bad = [x for x in ev.sectors if x not in sectors]
    if bad:
        _fail(f"{key}.sectors", list(ev.sectors),
              f"unknown sector {', '.join(map(repr, bad))}; known: {', '.join(sectors)}")
    if ev.kind == "sector_crash" and not ev.sectors:
        _fail(f"{key}.sectors", [], f"a sector crash needs a sector; known: {', '.join(sectors)}")
    _validate_hazard(f"shock.{ev.kind}", getattr(cfg.shock, ev.kind), sectors)


def shock_events(shock: ShockConfig) -> list[tuple[str, ShockEventConfig]]:
    """(key, event) for every event that is not 'none': the main one, then `also`."""
    out = [("shock", shock)] if shock.kind != "none" else []
    out += [(f"shock.also.{n}", e) for n, e in shock.also.items() if e.kind != "none"]
    return out


def validate_shock(cfg: SimConfig) -> None:
    sh = cfg.shock
    _validate_event("shock", sh, cfg)
    for name, ev in sh.also.items():
        _validate_event(f"shock.also.{name}", ev, cfg)
