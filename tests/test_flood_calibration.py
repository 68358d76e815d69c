"""The flood is set to the Hunan report's 2024 Dongting Lake figures (calibration, not
validation: the uplift is an input scaled so the cohort moves by the figure; this test checks
that the model's own measurement of the cohort lands there).

H「2024年洞庭湖區洪災期間,岳陽、常德兩地涉農小微企業貸款逾期率在三個月內驟升4.7個百分點,而同期投」
…「業經營中斷險”的企業逾期率僅上升0.9%」 (docs/sources.md#hunan-report-h): within three months
of the flood the overdue rate of farm-business loans in Yueyang and Changde rose 4.7 pp; for
firms with business-interruption insurance it rose 0.9 (pp).

Mapping (docs/shocks.md, "Calibration"): the cohort is the farm loans in Yueyang and Changde
that are performing and not maturing when the flood strikes (month M). The measured figure
is the share of the cohort overdue at the end of month M+2 (three months) in the flood run
minus the same share in the counterfactual: the same seed without the flood, so the same
copula draws for the same firm in the same month (common random numbers). Loans that fell
overdue in the window and had not resolved count; an overdue spell lasts three months, so
none resolves inside the window.

Tolerance: the mean over replications must lie within 3 standard errors of the target
(SE = sd of the per-replication differences / sqrt(replications)). The SE also has to be
small enough for the test to mean something (below 0.4 pp and 0.25 pp): a model with the
insured and uninsured uplifts swapped, or with no insurance effect, fails.
"""

from __future__ import annotations

import math

import numpy as np

import sim
from sim.firms import NO_LOAN, OVERDUE, PERFORMING
from sim.model import GuaranteeModel
from sim.run.runner import replication_seed
from sim.shocks import without_shocks

REPLICATIONS = 120
FLOOD_MONTH = 10  # the loan book starts near its steady state (model._seed_loan_book)
# A fixed sample size: the cohort's overdue rise is a per-loan rate, so the number of firms only
# sets its standard error; 50,000 keeps the replications and SE bounds below as measured.
N = 50_000


def measure(cfg, replications: int) -> dict[str, tuple[float, float]]:
    """Mean and SE of the cohort's overdue-share difference (flood - counterfactual), by group."""
    cf = without_shocks(cfg)
    names = [r.name for r in cfg.province.regions]
    where = [names.index("yueyang"), names.index("changde")]
    farm = [s.name for s in cfg.province.sectors].index("agriculture")
    M = cfg.shock.month
    diffs: dict[str, list[float]] = {"all": [], "insured": [], "uninsured": []}
    for r in range(replications):
        runs = [GuaranteeModel(c, rng=np.random.default_rng(replication_seed(cfg.mc.seed, r)))
                for c in (cfg, cf)]
        for _ in range(M - 1):
            for m in runs:
                m.step()
        f = runs[0].firms
        assert np.array_equal(f.status, runs[1].firms.status)  # identical until the flood
        cohort = np.flatnonzero(np.isin(f.region, where) & (f.sector == farm) & (f.channel != NO_LOAN)
                                & (f.status == PERFORMING) & (f.age + 1 < f.term))
        loan = f.loans_taken[cohort].copy()  # the same loan (not a later one of the same firm)
        insured = f.insured[cohort].copy()
        for _ in range(3):  # months M, M+1, M+2
            for m in runs:
                m.step()
        overdue = [(m.firms.status[cohort] == OVERDUE) & (m.firms.loans_taken[cohort] == loan)
                   for m in runs]
        d = overdue[0].astype(float) - overdue[1]
        diffs["all"].append(d.mean())
        diffs["insured"].append(d[insured].mean() if insured.any() else np.nan)
        diffs["uninsured"].append(d[~insured].mean())
    out = {}
    for k, v in diffs.items():
        x = np.array(v)
        x = x[np.isfinite(x)]
        out[k] = (x.mean(), x.std(ddof=1) / math.sqrt(len(x)))
    return out


def test_flood_is_set_to_the_dongting_lake_overdue_rise():
    cfg = sim.load_config("4321", {"horizon": FLOOD_MONTH + 2, "shock.month": FLOOD_MONTH,
                                   "shock.prefectures": ["yueyang", "changde"], "firms.n": N},
                          shock="flood")
    assert cfg.province.name == "hunan" and cfg.shock.severity == 1.0
    got = measure(cfg, REPLICATIONS)
    print({k: (round(100 * m, 3), round(100 * se, 3)) for k, (m, se) in got.items()})
    for group, target, max_se in (("all", 0.047, 0.004), ("insured", 0.009, 0.0025)):
        mean, se = got[group]
        assert se < max_se, (group, se)
        assert abs(mean - target) <= 3 * se, (group, mean, target, se)
    # the uninsured uplift is derived so that the mix above averages to 4.7 pp
    u = sim.config.uninsured_uplift(cfg.shock.flood)
    mean, se = got["uninsured"]
    assert abs(mean - u) <= 3 * se


def test_insurance_take_up_is_a_lever():
    """More business-interruption insurance, smaller rise among all farm loans (the uninsured
    and insured uplifts stay those calibrated at 15% take-up)."""
    cfg = sim.load_config("4321", {"horizon": FLOOD_MONTH + 2, "shock.month": FLOOD_MONTH,
                                   "shock.prefectures": ["yueyang", "changde"],
                                   "firms.bi_insurance": {"agriculture": 0.8}, "firms.n": N},
                          shock="flood")
    mean, se = measure(cfg, 40)["all"]
    expected = 0.8 * 0.009 + 0.2 * sim.config.uninsured_uplift(cfg.shock.flood)  # 1.8 pp
    assert abs(mean - expected) <= 3 * se and mean < 0.047 - 3 * se
