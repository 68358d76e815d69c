"""The configuration schema: every key a user can set, its default, and what it allows.

Hydra composes these dataclasses (a structured config) with the YAML files of `conf/` and
`scenarios/` and the command line; OmegaConf checks types and refuses unknown keys while it
merges. What a value may be is declared on its field (`num`, `whole`, `one_of`, `count`): the
rule sits beside the default and the source, so adding a key is one edit. Rules that tie several fields
together (shares that sum to 1, known prefectures) are in `sim.config.rules`.

Money is in yuan at **province scale**: the simulated firms are a representative sample of
``province.firms_total`` firms, so balances given here (pool size, guarantor capital) and
amounts in the report are province-wide figures. The model converts at its boundary (see
``GuaranteeModel.weight``). Sources: `docs/sources.md`; "H" and "J" in comments quote the
Hunan and Jiangxi reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

RULE = "rule"  # dataclass field metadata key holding the field's Range or OneOf


class ConfigError(ValueError):
    """A config value is not allowed. The message is one line for the user."""


def fail(key: str, value: Any, allowed: str) -> None:
    """Refuse a value: one line naming the key, the value and what is allowed."""
    raise ConfigError(f"{key} = {value!r}: {allowed}")


@dataclass(frozen=True)
class Range:
    """A number (or an integer) within optional bounds; open bounds exclude the end."""

    lo: Optional[float] = None
    hi: Optional[float] = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def check(self, key: str, value: Any) -> None:
        if self.integer:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            ok = False
        if ok and self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            ok = False
        if not ok:
            fail(key, value, f"must be {self.describe()}")

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None:
            return f"{kind} in {'(' if self.lo_open else '['}{lo:g}, {hi:g}{')' if self.hi_open else ']'}"
        if lo is not None:
            return f"{kind} {'>' if self.lo_open else '>='} {lo:g}"
        if hi is not None:
            return f"{kind} {'<' if self.hi_open else '<='} {hi:g}"
        return kind


@dataclass(frozen=True)
class OneOf:
    """One of a fixed list of names."""

    options: tuple

    def check(self, key: str, value: Any) -> None:
        if value not in self.options:
            fail(key, value, f"must be one of {', '.join(self.options)}")


def num(default=None, lo=None, hi=None, *, lo_open=False, hi_open=False, default_factory=None):
    """A number field with its range (for a dict field: the range of each value)."""
    rule = {RULE: Range(lo, hi, lo_open, hi_open)}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=rule)
    return field(default=default, metadata=rule)


def whole(default, lo=None, hi=None):
    """An integer field with its range."""
    return field(default=default, metadata={RULE: Range(lo, hi, integer=True)})


def one_of(default: str, options: tuple):
    """A field that takes one of `options`."""
    return field(default=default, metadata={RULE: OneOf(tuple(options))})


@dataclass(frozen=True)
class Count:
    """A word the program resolves (`auto`, `all`) or a whole number within [lo, hi]. Such a
    field is typed Any so that OmegaConf lets the word through; `sim.config.rules.prepare`
    replaces the word by the number it stands for before anything runs."""

    words: tuple
    lo: int
    hi: int

    def check(self, key: str, value: Any) -> None:
        if isinstance(value, str) and value in self.words:
            return
        if isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi:
            return
        fail(key, value, f"must be {self.describe()}")

    def describe(self) -> str:
        return f"{', '.join(self.words)} or an integer in [{self.lo}, {self.hi}]"


def count(default: Any, words: tuple, lo: int, hi: int):
    """A field that takes one of `words` (resolved by the program) or an integer in [lo, hi]."""
    return field(default=default, metadata={RULE: Count(tuple(words), lo, hi)})


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
CARRY_OVER = ("carry", "lapse")
PUBLIC_PAYERS = ("pool", "government")  # whose share the dynamic-sharing rule raises
# One account bears every shortfall: not the firms, and not "guarantor", which is one account
# per guarantor.
SHORTFALL_BEARERS = tuple(p for p in PAYERS if p not in ("borrower", "guarantor"))

# Where replications run (`mc.engine`): "local" = this process (n_jobs = 1) or a pool of
# n_jobs worker processes on this machine; "dask" = Dask distributed workers, either a
# running cluster (`mc.dask_address`) or, with no address, a LocalCluster of n_jobs workers
# on this machine, bound to 127.0.0.1.
ENGINES = ("local", "dask")


@dataclass
class TrancheConfig:
    share: float = num(0.0, 0, 1)  # fraction of each post-recourse loss this payer takes, in [0, 1]
    payer: str = ""  # one of PAYERS; empty means "the tranche's name"
    cap_per_loan: Optional[float] = num(None, 0)  # yuan per loan; None = no cap
    cap_rate: Optional[float] = num(None, 0, 1)  # at most this fraction of covered volume, over the run


@dataclass
class DynamicSharingConfig:
    """Anhui's dynamic risk-sharing platform (动态风险分担, 2025; docs/sources.md#anhui-report-a):
    A「當某筆貸款的“經營健康度指數”連續兩周下滑且現金流預測缺口擴大,系統會自動提高財政風險補償比例從30%升至45%」.

    The platform keeps an operating-health index on each scheme loan: an exponentially
    weighted mean (weight `persistence` on last month's index) of its monthly readings of the
    firm's state (the latent value of the default copula, held through an arrears spell),
    each reading off by a normal error of sd `noise`. The forecast cash-flow gap is how far the
    index is below the firm's arrears line. The rule fires on a loan when the index has
    fallen `periods` months running and the gap widened; from then on the loan's public
    payers (pool, government) take `public_share` of its loss together (the funds' per-loss
    cap, pool.max_share, rises to it for that loan) and the other tranches shrink pro rata.
    "Two weeks in a row" is one monthly step: a fortnight's fall fits within a month, and the
    model has no finer step. See docs/instruments.md."""

    enabled: bool = False
    persistence: float = num(0.5, 0, 1, hi_open=True)  # assumption
    noise: float = num(0.5, 0, 10)  # sd of a reading, in sd of the latent value (assumption)
    periods: int = whole(1, 1, 24)
    public_share: float = num(0.45, 0, 1)  # A: 30% -> 45%


@dataclass
class PerformanceSplitConfig:
    """Hunan's dynamic split (风险分担比例动态调整, the Chang-Zhu-Tan pilot;
    docs/sources.md#hunan-report-h): H「根據銀行歷史不良率、首貸戶占比、信用貸款比例等指標,自動調節財政與擔保機構的分險比例,對表現優異機構給予更高風險容忍度與更低代償門檻」.
    The report gives the inputs, not the formula; the one chosen (docs/instruments.md): once a
    year each bank gets a score in [-1, 1], the weighted relative gaps of its NPL ratio (below
    the province's is good), its share of first-time borrowers and its share of credit
    (unsecured) loans (above the province's is good), among its loans running. On its scheme
    loans the public payers' share moves by `step` x score x that share and the guarantor's
    the other way; the funds' per-loss cap rises with a raised share (a lower compensation
    threshold); a bank with a positive score accepts `tolerance` x score more expected loss on
    scheme loans (more tolerance).

    Where: `places`, prefecture or area names (an area stands for its prefectures, as a
    shock's `prefectures`); empty = every prefecture. A scheme loan is in the pilot when its
    firm's prefecture (= its guarantor's) is named: there it takes its bank's shares, its
    guarantor's limit depends on the bank asking, and the bank screens it with its extra
    tolerance; elsewhere it takes the scheme's own shares, the guarantor keeps the scheme's
    share whichever bank asks and the bank screens it without extra tolerance. A bank's score
    is computed on its whole loan book, in the pilot and outside (a bank's historical NPL is a
    bank-level figure in the report)."""

    enabled: bool = False
    # Where the split applies: prefecture or area names (Hunan: chang_zhu_tan); empty = the
    # whole province.
    places: List[str] = field(default_factory=list)
    step: float = num(0.25, 0, 1)  # assumption
    npl_weight: float = num(1.0, 0, 10)  # assumption
    first_loan_weight: float = num(0.5, 0, 10)  # assumption
    credit_loan_weight: float = num(0.5, 0, 10)  # assumption
    tolerance: float = num(0.005, 0, 1)  # assumption (cf. A: NPL tolerance 1.5% -> 3.0%)
    # A loan to a firm whose LGD is at least this counts as a credit (unsecured) loan: the
    # model has LGD (collateral) per firm, not a loan type (assumption).
    credit_loan_lgd: float = num(0.5, 0, 1)


@dataclass
class SchemeConfig:
    name: str = ""
    description: str = ""
    description_zh: str = ""  # the same in Chinese, for report.lang zh or both
    source: str = ""
    tranches: Dict[str, TrancheConfig] = field(default_factory=dict)
    guarantee_fee: float = num(0.01, 0, 0.2)  # yearly, on the guaranteed amount, paid up front to the guarantor
    max_loan: float = num(10_000_000.0, 0, lo_open=True)  # yuan; larger loans cannot enter the scheme
    shortfall_bearer: str = one_of("bank", SHORTFALL_BEARERS)  # who absorbs what a payer cannot pay
    # Set the bank's share and rescale every other tranche pro rata to fill the rest: the
    # one key a sweep needs for the moral-hazard frontier (`scheme.bank_share=0,0.1,0.2`).
    bank_share: Optional[float] = num(None, 0, 1)
    dynamic: DynamicSharingConfig = field(default_factory=DynamicSharingConfig)
    performance_split: PerformanceSplitConfig = field(default_factory=PerformanceSplitConfig)


@dataclass
class RegionConfig:
    """A prefecture (地级市, or a county): firms, default risk, sector mix and flood exposure.

    Each region has its own copula factor and `guarantors` government guarantors.
    """

    name: str = ""
    firm_share: float = num(0.0, 0, 1)
    pd: float = num(0.03, 0, 1, lo_open=True, hi_open=True)  # mean annual PD of firms in this region before sector multipliers
    area: str = ""  # the seed report's grouping (e.g. dongting_lake); shocks may name it
    # Sector mix of this prefecture's firms {sector: share}; empty = the province's shares.
    sector_mix: Dict[str, float] = num(None, 0, 1, default_factory=dict)
    # Flood intensity here in the province's main basin flood, relative to the prefectures
    # hit in the reference flood (1.0), in [0, 1]. See docs/shocks.md.
    flood_exposure: float = num(0.0, 0, 1)
    # Government guarantors (政府性融资担保机构) serving this prefecture's counties. Each serves
    # an equal part of the prefecture's firms (assumption: the sources give no county lists).
    guarantors: int = whole(1, 1, 10000)


@dataclass
class SectorConfig:
    name: str = ""
    firm_share: float = num(0.0, 0, 1)
    pd_multiplier: float = num(1.0, 0, lo_open=True)


@dataclass
class CalibrationConfig:
    """Values fitted to a province report's figures by `python -m sim.calibrate` (and written
    here by it): which province was fitted, when, by what command, and the values, as nested
    {section: {key: value}} config keys. A province whose report is not fitted names the
    fitted one in `province.calibration_from` instead."""

    fitted_on: str = ""
    date: str = ""
    command: str = ""
    values: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ProvinceConfig:
    """The `province` group (conf/province/*.yaml: hunan, the default, jiangxi, anhui, hebei):
    its prefectures with their sources, the institutions' sizes the province's report gives
    (`settings`), and the values fitted by `python -m sim.calibrate` (`calibration`). Every
    province, the default included, is a YAML file.

    `settings` and the calibration values are config keys of other sections ({pool: {size:
    5e9}}); they apply below the command line: a key the user types wins."""

    name: str = ""
    basin: str = ""  # the main flood basin, for reports
    firms_total: int = whole(0, 1)  # real small firms the simulated sample stands for
    # The scheme this province runs, a scenario file (python -m sim.calibrate uses it; the
    # command line's scenario= stays the user's choice).
    scenario: str = ""
    # Every prefecture's PD times this: the ratio of firms' PD before screening to the books'
    # NPL the regional PDs are written from (set by the calibration).
    pd_scale: float = num(1.0, 0, 100, lo_open=True)
    settings: Dict[str, Any] = field(default_factory=dict)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    calibration_from: str = ""  # another province whose calibration applies here (out of sample)
    regions: List[RegionConfig] = field(default_factory=list)
    sectors: List[SectorConfig] = field(
        default_factory=lambda: [
            # Sector mix from the Jiangxi table (docs/sources.md#jiangxi-report-j, 「農業種養11.4」 row): trade,
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
    # Simulated firms (a sample of province.firms_total): `auto`, the fewest that keep a
    # simulated loan within firms.max_grain of the smallest guarantor's capacity
    # (min(province.firms_total, rules.needed_n); Hunan 49,601); `all`, every firm of the
    # province (calibration, fund sizing); or a number (quick looks; the CLI notes a number
    # too coarse for the grain). `prepare` turns the word into the number before anything
    # runs, so the model always reads an integer here.
    n: Any = count("auto", ("auto", "all"), 1, 50_000_000)
    # Set by the program, not by users: the word firms.n was resolved from (auto or all),
    # empty when firms.n was given as a number. Recorded in config.yaml; the report's header
    # names it.
    n_from: str = one_of("", ("", "auto", "all"))
    # sd of log PD around the region x sector mean. 1.5 is what makes the Hunan report's AUCs
    # reachable: with perfect information the AUC over this population is 0.87 (assumption).
    pd_dispersion: float = num(1.5, 0, 5)
    # J「單筆貸款金額多在5萬至50萬元之間,資金使用周期集中在3至12個月」
    loan_min: float = num(50_000.0, 0, lo_open=True)
    loan_max: float = 500_000.0
    term_min: int = whole(3, 1)
    term_max: int = 12
    apply_rate: float = num(0.10, 0, 1)  # monthly probability a firm without a loan applies (assumption)
    # H「約52%的小微主體因無信貸記錄而處于“征信白戶”狀態」: 48% have a credit file.
    credit_file_share: float = num(0.48, 0, 1)
    # J「代償回收率達68.4%」 and 「回收率提升至61.3%」: LGD 32-39%; mean 0.35.
    lgd_mean: float = num(0.35, 0, 1)
    lgd_dispersion: float = num(0.15, 0, 1)  # sd of firm LGD around the mean (collateral differences)
    recovery_lag: int = whole(6, 0, 120)  # months from default to recovery (J: disposal 28 days to 11 months in H)
    # Rationed firms borrow informally: H「年化利率超過24%的占比達61.7%」 (24-36% a year).
    informal_rate: float = num(0.30, 0, 5)
    # Three-year survival: H「獲得信貸支持的小微企業三年存活率平均為68.4%,而未獲貸企業僅為41.7%」.
    # Applied as a monthly exit hazard to firms without a running loan: "without" to firms whose
    # last application was refused, "with" to the others. Exiting firms are replaced by entrants.
    survival_with_credit: float = num(0.684, 0, 1, lo_open=True)
    survival_without_credit: float = num(0.417, 0, 1, lo_open=True)
    # Demand and the all-in cost of borrowing (interest by credit file + the guarantee fee a firm
    # expects + fee subsidy - interest subsidy): each percentage point of all-in cost above
    # `reference_cost` multiplies the application rate by exp(-cost_elasticity), each point
    # below divides it (assumption).
    cost_elasticity: float = num(0.10, 0, 10)
    # The all-in cost at which a firm applies at `apply_rate`: a firm with a credit file at H's
    # 5.23%, before any guarantee fee. A firm without a file (7.85%) applies about a quarter
    # less; the expected fee (the fee x the scheme's share of new loans) lowers demand a little.
    reference_cost: float = num(0.0523, 0, 1)
    # Grain: the largest simulated loan (weight x loan_max) as a share of the smallest
    # guarantor's capacity (leverage_cap x capital). Above `max_grain` a guarantor's failure can
    # be a sampling artefact: firms.n=auto fits it; a number that does not, the run notes.
    max_grain: float = num(0.02, 0, 1, lo_open=True)
    # Overdue (逾期) state between performing and default. A loan that misses a payment is
    # overdue for `overdue_months`, then either cures (back to performing) or defaults and
    # the scheme pays. 3 months = the 90-days-past-due line at which banks classify a loan
    # as non-performing and claim on the guarantee (assumption; the reports give no rule).
    overdue_months: int = whole(3, 1, 24)
    # Loans that fall overdue and cure, per loan that falls overdue and defaults (assumption).
    # J「92.7%的主體能按時還款,逾期30天以上比例僅為1.8%」 next to an NPL of 1.5-1.9%: most
    # late payers catch up. 1.5 means 60% of overdue loans cure.
    overdue_cure_ratio: float = num(1.5, 0, 100)
    # Business-interruption insurance take-up by sector {sector: share}; others get
    # `bi_insurance_other`. Assumption: the reports give no take-up; H says the insurance
    # layer is thin (H「小微企業貸款保證保險保費收入僅為1.3億元,覆蓋率不足1.2%」) but names
    # farm firms insured against business interruption (H「業經營中斷險”的企業」, garbled
    # before 業). 15% of farm firms is also shock.flood.calibration_take_up, so the flood
    # calibration holds as is.
    bi_insurance: Dict[str, float] = num(None, 0, 1, default_factory=lambda: {"agriculture": 0.15})
    bi_insurance_other: float = num(0.05, 0, 1)


@dataclass
class CopulaConfig:
    # Monthly asset-correlation loadings (squared): macro, region, sector. Sum < 1.
    rho_macro: float = num(0.04, 0, 1, hi_open=True)
    rho_region: float = num(0.04, 0, 1, hi_open=True)
    rho_sector: float = num(0.02, 0, 1, hi_open=True)
    # Persistence of the systematic factors from month to month, in [0, 1): each factor is
    # AR(1) with unit stationary variance, so monthly PDs stay exact; only clustering changes.
    # Defaults are drawn monthly, so with ar1 = 0 a year averages twelve independent factor
    # draws and the implied ANNUAL asset correlation of two firms in one region and sector is
    # only ~0.02 (cross-region ~0.007). With persistence a bad month is followed by bad months
    # and its defaults add up over the year. Calibrated, not measured: 0.95 (half-life 13.5
    # months) puts that annual correlation at 0.145 / 0.159 / 0.172 for annual PDs of
    # 2% / 5% / 10% (cross-region, macro only: 0.056 / 0.062 / 0.067), inside the 0.12-0.24 of
    # the Basel II IRB corporate correlation (BCBS 2006, paras 272-273; the SME size adjustment
    # lowers it by up to 0.04). The Basel R falls with PD (0.16 at 2%, 0.12 at 10%); this
    # copula's rises slightly with PD; only the range is matched. Side effects (not
    # calibrated): the factors of consecutive years correlate at 0.95^12 = 0.54; and a firm's
    # monthly draws now correlate in time, so its one-year PD is a little below
    # 1 - (1 - p_m)^12: 1.98% / 4.89% / 9.67% for nominal 2% / 5% / 10%. Measure:
    # sim.risk.copula.implied_annual_correlation; tests/test_copula.py; docs/correlation.md.
    ar1: float = num(0.95, 0, 1, hi_open=True)


@dataclass
class CircuitBreakerConfig:
    """Anhui's model circuit-breaker (熔断—回滚—补偿; docs/sources.md#anhui-report-a):
    A「當某類AI模型不良率連續兩月超過閾值,系統自動暫停該模型授信權限,啟動人工復核,并由風險補償基金先行墊付潛在損失,待模型優化驗證后再恢復運行」.
    When the NPL ratio of the loans one scoring model approved (bank.scoring_models) is above
    `npl_multiple` times the NPL ratio of all loans for `months` month-ends running, the model loses its lending authority for
    `suspension_months`: its banks' applicants are refused. The provincial pool advances the
    model's expected losses to the banks (its NPL ratio x its loans outstanding x the mean
    LGD, as far as the pool's cash goes), a payable of the banks: the banks' losses on that
    model's loans that default while it is suspended are set against it, and the rest goes
    back to the pool when the suspension ends. See docs/instruments.md."""

    enabled: bool = False
    # The threshold, relative so that it holds whatever the level of NPL: assumption, from the
    # NPL tolerance Anhui doubles for loans its compensation fund covers,
    # A「將不良容忍度從1.5%提升至3.0%」: a model is out of tolerance at twice the usual NPL.
    npl_multiple: float = num(2.0, 1, 100)
    months: int = whole(2, 1, 24)  # A「連續兩月」
    # Until the model is re-validated (A「待模型優化驗證后再恢復運行」): the report gives no time;
    # half a year is an assumption.
    suspension_months: int = whole(6, 1, 120)


@dataclass
class BankConfig:
    capital: float = num(150e9, 0)  # yuan; H: banks' SME books are ~1.87 tn at CAR 12.4% (assumption)
    # The bank's risk signal is logit(PD) + noise * N(0,1). Noise levels are calibrated to the
    # AUCs of H「頭部數字平臺小微企業違約預測AUC值達0.86,而本地銀行同類模型平均僅為0.74」 over
    # the default firm population (tests/test_behaviour.py measures them):
    noise_shared_data: float = num(0.55, 0, 20)  # firms whose data the bank sees through the platform: AUC 0.86
    noise_file: float = num(2.45, 0, 20)  # firms with a credit file only: AUC 0.74
    noise_no_file: float = num(3.0, 0, 20)  # first-time borrowers without a credit file: AUC 0.71 (assumption)
    # Share of firms on the provincial credit-data platform:
    # H「全省接入省級征信平臺的小微企業僅占注冊總數的38.6%」.
    data_coverage: float = num(0.386, 0, 1)
    # H「已接入全省14個市州、89家銀行」: the banks on the Hunan platform. Firms bank with one of
    # them, equal market shares (assumption).
    count: int = whole(89, 1, 10000)
    # Banks differ in appetite: each bank's expected-loss limit is max_expected_loss x a
    # lognormal factor with this sd of its log (spread over banks by quantiles; assumption).
    appetite_dispersion: float = num(0.3, 0, 3)
    # A bank joins the scheme (signs a risk-sharing agreement) while the share of each loss it
    # effectively keeps on covered loans is within its tolerance. Tolerances are spread evenly
    # over [0, share_tolerance_max] across banks; 0.36 is set so that 31% of banks join at a
    # kept share of 25% (H「全省僅有31%的銀行與政府性擔保機構簽訂風險分擔協議」 under 2:8 or
    # 3:7): calibration to one figure, not validation.
    share_tolerance_max: float = num(0.36, 0, 1)
    # Loan rates by credit file: H「無征信記錄小微企業的平均貸款利率為7.85%,而擁有完整信用檔案的企業僅為5.23%」.
    rate_file: float = num(0.0523, 0, 1)
    rate_no_file: float = num(0.0785, 0, 1)
    # Bank lends on its own if its expected loss rate (PD x LGD x share it keeps) is below this.
    max_expected_loss: float = num(0.012, 0, 1)  # assumption
    # Supervisory NPL tolerance (不良容忍度): extra expected-loss rate accepted on small-firm loans.
    # Hebei widened tolerance by 2 points: H「從不高于各項貸款不良率3個百分點放寬至5個百分點」.
    npl_tolerance: float = num(0.0, 0, 1)
    max_pd: float = num(0.30, 0, 1)  # never lends above this estimated PD, whatever the cover (assumption)
    # Screening effort falls with the share of loss the bank keeps (moral hazard): on loans it
    # sends to the scheme its noise is multiplied by 1 + moral_hazard * (1 - effort), with
    # effort = min(1, bank share / full_effort_share). Direction from Saito & Tsuruta (2014,
    # Japan: claim rates rose more under 100% than under 80% cover) and H's guarantees treated
    # as 「增信裝飾」; full effort at 50% (H: the national 「五五分擔」); sizes are assumptions.
    moral_hazard: float = num(2.0, 0, 10)
    full_effort_share: float = num(0.5, 0, 1)
    # Named scoring models (评分模型, e.g. vendors' AI models): bank k scores every applicant
    # with model k mod scoring_models, so a loan's model is its bank's. Models differ in
    # quality: model m multiplies its banks' signal noise by exp(dispersion x z_m), z_m the
    # normal quantiles (m + 0.5) / scoring_models in a fixed shuffled order; dispersion 0 =
    # every model as good as the noise settings above (assumption: the reports name models'
    # AUCs, 0.74 to 0.89, not how many a province runs).
    scoring_models: int = whole(6, 1, 10000)
    scoring_model_dispersion: float = num(0.0, 0, 3)
    circuit_breaker: CircuitBreakerConfig = field(default_factory=CircuitBreakerConfig)


@dataclass
class GuarantorConfig:
    # Mean capital per guarantor: H「全省政府性融資擔保機構平均資本金規模僅為3.2億元」; the
    # number of guarantors is each region's `guarantors` (Hunan: H「37家政府性融資擔保機構」).
    capital_mean: float = num(0.32e9, 0, lo_open=True)
    # sd of log capital across guarantors (assumption: the sources give only the mean). The
    # capitals are lognormal quantiles with this spread and mean capital_mean, the larger ones
    # to the guarantors serving more firms; see docs/levers.md for a sensitivity.
    capital_dispersion: float = num(0.5, 0, 3)
    # Liability balance (融资担保责任余额: outstanding x the share guaranteed and not ceded to
    # re-guarantors) / net assets (regulation: 10x, 15x for small-firm focused guarantors).
    leverage_cap: float = num(10.0, 0, lo_open=True)
    noise: float = num(1.4, 0, 20)  # sd of the guarantor's logit-PD signal: AUC 0.81 (assumption)
    max_pd: float = num(0.25, 0, 1)  # guarantees only firms it estimates below this annual PD (assumption)
    # Policy guarantors run at "break-even, small profit" with a tolerated loss: a guarantor
    # accepts a firm while its expected yearly loss on the share it effectively keeps
    # (estimated PD x LGD x kept share) is at most the fee it keeps after re-guarantee fees
    # plus this tolerance (assumption; Hunan's 6.5% claim rate says tolerance is wide).
    loss_tolerance: float = num(0.02, 0, 1)
    # Yearly return on net assets (deposits, bonds) and operating cost per yuan of liability
    # balance (assumptions), so a guarantor's sustainability can be read.
    investment_return: float = num(0.025, 0, 1)
    operating_cost: float = num(0.004, 0, 1)
    # H「因累計代償余額已達凈資產的180%,已暫停新增業務近一年」: suspend new guarantees when
    # outstanding claims (代偿余额: paid and not yet recovered or reimbursed) reach this
    # multiple of net assets.
    suspend_claims_multiple: float = num(1.8, 0, lo_open=True)
    # Also suspend when its 12-month claim rate (代偿率) exceeds this. Off by default (1.0): the
    # Hunan rule is the 180% above, and a guarantor with a small book has a volatile 12-month
    # claim rate, more so in a sample than in the province (at 0.15 it suspended 40-90% of runs'
    # guarantors on claim-rate spikes alone). H reports a 6.5% claim rate.
    suspend_claim_rate: float = num(1.0, 0, 1, lo_open=True)
    # ... or when net assets fall below this fraction of its capital (assumption).
    net_asset_floor: float = num(0.2, 0, 1)
    suspension_months: int = whole(12, 1, 1200)  # H: 「已暫停新增業務近一年」
    # After a suspension: "restore" = the government tops net assets back up to the original
    # capital (fiscal cost) and business resumes; "none" = it stays suspended (assumption).
    recapitalise: str = one_of("restore", RECAPITALISE)


@dataclass
class ReguarantorConfig:
    # Hebei H「省級再擔保機構資本金增至50億元」 (Hebei report); Hunan's is
    # not given, so Hebei's figure stands in (assumption).
    capital: float = num(5e9, 0)
    # National fund rules (external, docs/sources.md#external-context): fee 0.5% a year of
    # its risk share, 0.3% for single loans up to 5 m; paid by the guarantor at origination.
    fee_rate: float = num(0.005, 0, 0.2)
    fee_rate_small: float = num(0.003, 0, 0.2)
    small_loan_limit: float = num(5e6, 0)
    # Refuses a partner guarantor's claims while that guarantor's own 12-month claim rate is
    # above this; the guarantor then keeps the share. 4% (5% for sci-tech loans), assumption.
    claim_rate_ceiling: float = num(0.04, 0, 1, lo_open=True)
    # Months from a guarantor's claim payment to this reimbursement (assumption).
    payout_delay: int = whole(1, 0, 120)


@dataclass
class PriorityConfig:
    """Performance-linked payouts (绩效挂钩的优先兑付), Jiangxi (docs/sources.md#jiangxi-report-j):
    J「九江銀行因在“政銀擔”合作中不良率控制在1%以內且服務覆蓋面廣,2024年獲得省級財政風險補償優先兌付資格及2000萬元專項獎勵資金」,
    and for data contributors J「對連續兩年提供高價值經營行為數據的銀行,在省級風險補償資金兌付時給予優先級提升」.

    Once a year each claimant of the funds (a guarantor that pays first, or the banks where no
    guarantor fronts) whose scheme NPL ratio is below `npl_threshold` and whose scheme book is
    at least the median claimant's (「服務覆蓋面廣」, wide reach), or who contributes data, gets
    priority in the provincial pool's queue for the coming year: the pool pays priority claims
    first (oldest first among them), then the others. The claimants that qualify on their NPL
    share `reward` from the government (fiscal money), in proportion to their books. The
    report names a bank; the model's claimants are those that pay first and claim (J rewards
    「表現優異的銀行與擔保機構」)."""

    enabled: bool = False
    npl_threshold: float = num(0.01, 0, 1)  # J: NPL within 1%
    reward: float = num(2e7, 0)  # yuan a year, shared by the qualifying claimants: J 20 m (to one bank)
    # Share of claimants that contribute data (a fixed set, the same in every replication);
    # 0 by default: the report gives no share (assumption).
    data_contributors: float = num(0.0, 0, 1)


@dataclass
class PoolConfig:
    """Risk-compensation funds (风险补偿资金) in two layers: the provincial pool and one fund per
    prefecture. A claim on the scheme's `pool` tranche goes `provincial_share` to the
    provincial pool and the rest to the fund of the loan's prefecture; each fund pays its
    queue oldest first as cash allows (sim/funds.py)."""

    # H「省級風險補償資金規模達12億元,累計撬動銀行信貸投放超380億元,財政資金杠桿效應達1:31.7」
    size: float = num(1.2e9, 0)
    # none | annual (fixed yearly appropriation) | top_up (back to size) | performance (the
    # yearly appropriation only after a year whose claim rate was at most performance_claim_rate;
    # cf. J's priority payouts for banks with NPL < 1%)
    replenish: str = one_of("annual", REPLENISH_RULES)
    annual_amount: float = num(0.2e9, 0)  # yuan per year for "annual" and "performance" (assumption)
    performance_claim_rate: float = num(0.03, 0, 1)  # assumption
    # Months from a claim to the earliest payment by the funds (review); until paid the
    # claimant (the guarantor that paid the bank, or the bank when no guarantor is in the
    # scheme) carries the pool's share as a receivable. 0 = pay first, as on H's platform
    # (「代償響應時間壓縮至7個工作日內」); 11 under recover-first (「司法程序平均耗時長達11個月」).
    payout_delay: int = whole(0, 0, 120)
    # Share of claims found eligible at review; the rest stays with the claimant. The funds'
    # arrival rate (到位率) also falls with queues and abandonment: H reports 「46.3%」 arriving
    # on average (2025) in all; 1.0 = every claim eligible.
    payout_efficiency: float = num(1.0, 0, 1)
    # When the provincial pool is empty: "continue" lending, or "stop" new scheme loans.
    when_empty: str = one_of("continue", WHEN_EMPTY)
    # Prefecture funds: H「全省設立各級政府性融資擔保風險補償資金達38.7億元」 across all levels, less
    # the 1.2 bn provincial pool = 2.67 bn, split over prefectures by firm share (assumption).
    city_size: float = num(2.67e9, 0)
    # Yearly appropriations to all prefecture funds together (assumption), each arriving in a
    # given year with probability city_reliability (assumption: H「部分縣市甚至連續兩年未撥付補償資金」).
    city_annual_amount: float = num(0.3e9, 0)
    city_reliability: float = num(0.8, 0, 1)
    # Unspent prefecture money at year end: "carry" over, or "lapse" back to the budget.
    carry_over: str = one_of("carry", CARRY_OVER)
    # Share of each pool claim filed with the provincial pool: its size among the layers,
    # 1.2 / 3.87 (assumption).
    provincial_share: float = num(0.31, 0, 1)
    # H「對單戶授信1000萬元以下的小微企業貸款代償損失給予最高40%的財政補償」: the funds pay at most
    # max_share of a loss, and only on loans up to max_loan.
    max_share: float = num(0.40, 0, 1)
    max_loan: float = num(10e6, 0, lo_open=True)
    # Claimants give up a queued claim as its expected remaining wait (what is left of the
    # review delay, plus the queue ahead beyond the funds' cash / their monthly inflow) passes
    # `patience` months: a fraction 1 - exp(-(wait - patience) / abandon_scale) a month
    # (assumption: half a year, so that claims are given up under recover-first, H「司法程序
    # 平均耗時長達11個月」, and not on the platform's 7 working days).
    patience: float = num(6.0, 0)
    # An optional special pool for bank loans made with e-commerce data (taken here: direct
    # loans to firms on the data platform): H「省級財政設立5億元風險補償資金池,對銀行因采用電商數據
    # 發放的小微貸款損失給予最高40%的補償」. 0 = none (the default); 5e8 = Hunan's. The bank
    # claims special_share of the net loss; no yearly top-up (assumption).
    special_size: float = num(0.0, 0)
    special_share: float = num(0.40, 0, 1)
    abandon_scale: float = num(12.0, 0, lo_open=True)
    # Jiangxi's performance-linked payouts (off by default; on in conf/province/jiangxi.yaml).
    priority: PriorityConfig = field(default_factory=PriorityConfig)


@dataclass
class GovernmentConfig:
    annual_budget: float = num(1e9, 0)  # yuan per year for tranches paid directly by "government" (assumption)
    # Share of the guarantee fee paid by the government: J「擔保費率減免50%」 for eligible firms.
    fee_subsidy: float = num(0.0, 0, 1)
    # Interest subsidy, percentage points, on first loans: Hebei H「給予最高1.5個百分點的貼息支持」.
    interest_subsidy: float = num(0.0, 0, 20)


@dataclass
class FirstLoanConfig:
    """First-loan programme (首贷培植), Hunan 2024 (docs/sources.md#hunan-report-h):
    H「通過建立“無貸戶”名單推送機制,要求銀行對連續兩年無貸款記錄但納稅信用B級以上的企業開展主動對接,當年促成首貸戶新增4.7萬戶,首貸金額達192億元」.

    A firm is listed while it has had no loan for `months_without_loan` months and its
    tax-credit grade (纳税信用等级) is B or better; banks reach out to listed firms, which then
    apply `outreach` times as often (the bank's screening is unchanged). The grade is a noisy
    signal of the firm's PD: logit(PD) + `grade_noise` x N(0, 1), B or better for the
    `grade_b_share` of firms with the lowest signal (assumptions: the report gives neither)."""

    enabled: bool = False
    months_without_loan: int = whole(24, 1, 600)  # H: 連續兩年無貸款記錄
    grade_b_share: float = num(0.7, 0, 1, lo_open=True)  # share of firms graded B or better (assumption)
    grade_noise: float = num(2.0, 0, 20)  # sd on the logit-PD scale (assumption: AUC about 0.76)
    outreach: float = num(2.0, 1, 20)  # application rate multiplier of listed firms (assumption)
    # Months without a loan of the firms that have none when the run starts: uniform over
    # [0, this) (assumption: the sources give no age or credit history of the firms).
    initial_months_max: int = whole(48, 1, 600)


@dataclass
class PlatformConfig:
    """Digital platforms lending to small firms (网商贷, 微业贷), as partners of banks
    (「平臺賦能、銀行放款」: the partner bank funds the loan and bears its loss). Hunan
    (docs/sources.md#hunan-report-h): sharper screening, H「頭部數字平臺小微企業違約預測AUC值達0.86」;
    cheaper, H「與平臺合作的小微貸款綜合收益率較自營產品低1.8—2.3個百分點」; borrowers do
    not stay, H「合作貸款客戶在還款后轉向其他平臺產品的比例高達41%」.

    Each month an applicant the bank does not lend to on its own (the scheme's candidates and
    the refused) also applies to a platform with probability `reach` (a former platform
    borrower: 1 - `churn`); the platform reads logit(PD) + `noise` x N(0, 1) and lends when its
    estimated PD x LGD is within `max_expected_loss`. The firm takes the platform's loan, which
    costs `rate_discount` less than the bank's rate and carries no guarantee fee, instead of
    the scheme's. Off by default: the Hunan calibration was fitted without this channel."""

    enabled: bool = False
    noise: float = num(0.55, 0, 20)  # AUC 0.86 (bank.noise_shared_data measures the same)
    # H「2025年數字平臺在長株潭都市圈小微貸款市場份額已升至31.7%」: a third (assumption: the
    # metropolitan share read as the chance an applicant also tries a platform).
    reach: float = num(0.3, 0, 1)
    churn: float = num(0.41, 0, 1)  # H: 41% of borrowers move on after repaying
    rate_discount: float = num(0.0205, 0, 1)  # H: 1.8-2.3 points below, the midpoint
    max_expected_loss: float = num(0.012, 0, 1)  # assumption: the banks' mean appetite (bank.max_expected_loss)


# ----------------------------------------------------------------------------- shocks
SHOCK_KINDS = ("none", "flood", "drought", "pandemic", "sector_crash", "downturn")
SHOCK_TIMINGS = ("scheduled", "drawn")


@dataclass
class ShockEventConfig:
    """One shock event: what, when, where, how bad. Its effects per unit of intensity are
    the kind's `HazardConfig` (shock.flood, shock.pandemic, ...). See docs/shocks.md."""

    kind: str = one_of("none", SHOCK_KINDS)  # one of SHOCK_KINDS
    # scheduled: strikes in `month` (1-based month of the horizon; 19 = July 2027).
    # drawn: strikes in calendar month `season` of each year with probability 1/return_period.
    timing: str = one_of("scheduled", SHOCK_TIMINGS)
    month: int = 19
    season: int = whole(7, 1, 12)  # calendar month (1-12) of drawn events; July = the flood season
    duration: int = whole(3, 1, 120)  # months the event's effects last (the window)
    # Where: prefecture or area names. Empty: floods hit every prefecture with
    # flood_exposure > 0, each at its exposure; a sector crash hits the prefecture where its
    # first sector is most concentrated; other kinds hit the whole province. A named
    # prefecture is hit at full intensity.
    prefectures: List[str] = field(default_factory=list)
    sectors: List[str] = field(default_factory=list)  # empty: all sectors (by the kind's weights)
    severity: float = num(1.0, 0, 100)  # 1 = the reference event the kind's parameters describe; >= 0
    # Magnitude of a 1-in-T-year event: severity x (Gumbel reduced variate of T / that of the
    # kind's reference_return_period). Required for timing=drawn; optional when scheduled.
    return_period: Optional[float] = num(None, 1, 1000000.0, lo_open=True)


@dataclass
class HazardConfig:
    """Effects of one kind of shock on an affected firm, per unit of intensity.

    Intensity of a firm = event magnitude x where-weight (prefecture) x sector weight.
    """

    # Extra probability that a loan falls overdue because of the event, over the event, for
    # a firm of intensity 1 (sector weight 1, exposure 1, severity 1), averaged over insured
    # and uninsured firms at `calibration_take_up`. An additive uplift on the monthly
    # overdue-entry probability; marginals stay exact (thresholds PhiInv(p') in the copula).
    overdue_uplift: float = num(0.0, 0, 1)
    # The same for firms with business-interruption insurance; None: insurance does not help.
    insured_overdue_uplift: Optional[float] = num(None, 0, 1)
    # Share of insured firms among those the two uplifts were measured on; the uninsured
    # uplift is derived from it: (overdue_uplift - take_up x insured) / (1 - take_up).
    calibration_take_up: float = num(0.0, 0, 1, hi_open=True)
    # Share of the event's extra overdue loans that end in default (the rest cure).
    default_share: float = num(0.4, 0, 1)
    # Share of the uplift that lands in the event's first month; null = spread evenly
    # over `duration` months.
    onset_share: Optional[float] = num(None, 0, 1)
    sector_weight: Dict[str, float] = num(None, 0, 10, default_factory=dict)  # relative uplift by sector
    other_sector_weight: float = num(1.0, 0, 10)  # weight of sectors not in sector_weight
    pd_multiplier: float = num(1.0, 0, 100, lo_open=True)  # monthly PD and overdue probability x this (at intensity 1)
    demand_multiplier: float = num(1.0, 0, 100)  # loan applications x this (at intensity 1) in the window
    collateral_loss: float = num(0.0, 0, 1)  # share of collateral value lost at onset (raises LGD)
    recovery_delay: int = whole(0, 0, 120)  # months added to recoveries on affected firms' defaults
    reference_return_period: float = num(20.0, 1, lo_open=True)  # return period of the event the numbers describe


def flood_hazard() -> HazardConfig:
    """The flood, calibrated on the 2024 Dongting Lake flood in Hunan.

    H「2024年洞庭湖區洪災期間,岳陽、常德兩地涉農小微企業貸款逾期率在三個月內驟升4.7個百分點,
    而同期投」…「業經營中斷險”的企業逾期率僅上升0.9%」 (docs/sources.md#hunan-report-h; the
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
        # A「投放應急貸款47.8億元」 (docs/sources.md#anhui-report-a).
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


REPORT_LANGS = ("en", "zh", "both")


@dataclass
class ReportConfig:
    # Language of what people read: table rows, plot titles, axes and legends, report headings
    # and the scheme's plain-words description. "both" by default: the users are provincial
    # policy staff who read Chinese, working with researchers and docs in English; both
    # languages keep one report for the two (sim/i18n.py).
    lang: str = one_of("both", REPORT_LANGS)


@dataclass
class McConfig:
    replications: int = whole(200, 1, 100000)
    seed: int = whole(20260101, 0)
    # Worker processes for replications (local engine, or a local Dask cluster): `auto`, every
    # core this process may use (os.sched_getaffinity where there is one, else os.cpu_count(),
    # at most 256), or a number. Results do not depend on it (tests/test_parallel.py).
    n_jobs: Any = count("auto", ("auto",), 1, 256)
    # Set by the program: "auto" when n_jobs was resolved from it, else empty (config.yaml).
    n_jobs_from: str = one_of("", ("", "auto"))
    engine: str = one_of("local", ENGINES)  # local | dask (see ENGINES); results do not depend on it
    # Dask scheduler to connect to, e.g. "tcp://10.0.0.5:8786"; empty with engine=dask starts
    # a LocalCluster of n_jobs workers on 127.0.0.1 for this run.
    dask_address: str = ""


@dataclass
class SimConfig:
    horizon: int = whole(60, 1, 1200)  # months (2026-2030)
    start_year: int = whole(2026, 1900, 2200)
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
    first_loan: FirstLoanConfig = field(default_factory=FirstLoanConfig)
    platform: PlatformConfig = field(default_factory=PlatformConfig)
    shock: ShockConfig = field(default_factory=ShockConfig)
    mc: McConfig = field(default_factory=McConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    quiet: bool = False  # no progress line


def tranche_payer(name: str, tranche: TrancheConfig) -> str:
    """Who pays a tranche: its `payer`, or the tranche's own name."""
    return tranche.payer or name
