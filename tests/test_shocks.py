"""Shocks (sim/shocks.py) and the overdue state (sim/firms.py): exact marginals, windows,
composition, common random numbers, and the model's invariants under shocks."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import sim
from sim import metrics, shocks
from sim.firms import DEFAULTED, NO_LOAN, OVERDUE, PERFORMING, FirmPopulation
from sim.model import GuaranteeModel
from sim.run.runner import replication_seed, run_replication

SMALL = {"firms.n": 3000, "horizon": 24, "shock.month": 13, "mc.replications": 2}


def build(cfg, r: int = 0) -> GuaranteeModel:
    return GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(cfg.mc.seed, r)))


def names(cfg) -> list[str]:
    return [r.name for r in cfg.province.regions]


# --------------------------------------------------------------------------- pure functions
def test_gumbel_variate_and_magnitude():
    assert shocks.gumbel_variate(100) == pytest.approx(4.600149, abs=1e-6)
    assert shocks.gumbel_variate(20) == pytest.approx(2.970195, abs=1e-6)
    assert shocks.event_magnitude(1.5, None, 20) == 1.5
    assert shocks.event_magnitude(2.0, 20, 20) == pytest.approx(2.0)
    m = [shocks.event_magnitude(1.0, t, 20) for t in (10, 20, 50, 100, 200)]
    assert m == sorted(m) and m[0] < 1 < m[2]
    assert m[3] == pytest.approx(4.600149 / 2.970195, rel=1e-6)


def test_place_weights_follow_exposure_names_and_areas():
    cfg = sim.load_config("4321", shock="flood")
    n = names(cfg)
    w = shocks.place_weights(cfg.shock, cfg.province)
    np.testing.assert_allclose(w, [r.flood_exposure for r in cfg.province.regions])
    assert w[n.index("yueyang")] == w[n.index("changde")] == 1.0 and w[n.index("huaihua")] == 0.0
    ev = replace(cfg.shock, prefectures=["changde"])
    assert np.flatnonzero(shocks.place_weights(ev, cfg.province)).tolist() == [n.index("changde")]
    ev = replace(cfg.shock, prefectures=["dongting_lake"])  # an area stands for its prefectures
    hit = {n[i] for i in np.flatnonzero(shocks.place_weights(ev, cfg.province))}
    assert hit == {"yueyang", "changde", "yiyang"}


@pytest.mark.parametrize("province, place", [("hunan", "zhuzhou"), ("jiangxi", "shangrao"),
                                             ("anhui", "wuhu"), ("hebei", "tangshan")])
def test_sector_crash_lands_where_the_sector_is_most_concentrated(province, place):
    cfg = sim.load_config("4321", shock="sector_crash", province=province)
    w = shocks.place_weights(cfg.shock, cfg.province)
    assert [names(cfg)[i] for i in np.flatnonzero(w)] == [place]
    s = shocks.sector_weights(cfg.shock, cfg.shock.sector_crash, cfg.province)
    assert s.tolist() == [0.0, 1.0, 0.0, 0.0]  # manufacturing only


def test_month_profile():
    h = sim.SimConfig().shock.flood
    assert shocks.month_profile(h, 3).tolist() == [1.0, 0.0, 0.0]
    assert shocks.month_profile(replace(h, onset_share=None), 4).tolist() == [0.25] * 4
    p = shocks.month_profile(replace(h, onset_share=0.5), 3)
    assert p.sum() == pytest.approx(1.0) and p[0] == 0.5


def test_shocked_probabilities_without_shock_are_the_baseline():
    p = np.array([0.001, 0.01, 0.1])
    p2, q2 = shocks.shocked_probabilities(p, 1.5, None, np.arange(3), np.zeros(3, int))
    np.testing.assert_array_equal(p2, p)
    np.testing.assert_allclose(q2, 2.5 * p)


def test_onset_uplift_raises_the_end_of_window_overdue_share_exactly():
    """A hit loan cannot also fall overdue later in the window; the onset uplift is scaled so
    that the share overdue at the window's end rises by exactly U: (q' - q)(1 - q)^L = U."""
    n = 4
    p = np.array([0.002, 0.01, 0.03, 0.05])
    later = np.array([0, 1, 2, 2])
    U = np.array([0.047, 0.047, 0.009, 0.2])
    eff = shocks.MonthEffects(np.zeros(n), np.zeros(n), U, 0.4 * U, np.full(n, 2, np.int16),
                              np.ones(n), np.ones(n))
    p2, q2 = shocks.shocked_probabilities(p, 1.5, eff, np.arange(n), later)
    q = 2.5 * p
    np.testing.assert_allclose((q2 - q) * (1 - q) ** later, U, rtol=1e-12)
    np.testing.assert_allclose((p2 - p) * (1 - q) ** later, 0.4 * U, rtol=1e-12)
    assert np.all(p2 <= q2)


def test_insured_firms_get_the_insured_uplift_and_uninsured_the_derived_one():
    cfg = sim.load_config("4321", shock="flood")
    ev = shocks.resolve_events(cfg)[0]
    h = cfg.shock.flood
    assert ev.uplift_insured == h.insured_overdue_uplift == 0.009
    # 0.15 x 0.009 + 0.85 x u = 0.047
    assert ev.uplift_uninsured == pytest.approx((0.047 - 0.15 * 0.009) / 0.85)
    n = names(cfg)
    region = np.array([n.index("changde")] * 2 + [n.index("huaihua")])
    sector = np.array([2, 2, 2])  # agriculture
    eff = shocks.month_effects([shocks.Occurrence(ev, 18)], 18, region, sector,
                               np.array([True, False, False]))
    np.testing.assert_allclose(eff.onset_overdue_add, [0.009, ev.uplift_uninsured, 0.0])
    np.testing.assert_allclose(eff.apply_mult, [1.5, 1.5, 1.0])


def test_events_compose_flood_in_a_downturn():
    cfg = sim.load_config("4321", shock="flood_in_downturn")
    ev = shocks.resolve_events(cfg)
    assert [e.kind for e in ev] == ["flood", "downturn"]
    occ = shocks.schedule(ev, cfg.horizon, key=1)
    assert [(o.event.kind, o.start, o.end) for o in occ] == [("downturn", 12, 30), ("flood", 18, 21)]
    n = names(cfg)
    region = np.array([n.index("yueyang"), n.index("huaihua")])
    sector = np.array([2, 0])
    active = [o for o in occ if o.active(18)]
    eff = shocks.month_effects(active, 18, region, sector, np.zeros(2, bool))
    np.testing.assert_allclose(eff.pd_mult, [1.5, 1.5])  # the downturn everywhere
    assert eff.onset_overdue_add[0] > 0 and eff.onset_overdue_add[1] == 0  # the flood only at the lake
    np.testing.assert_allclose(eff.apply_mult, [1.5 * 0.85, 0.85])


def test_drawn_events_happen_at_rate_one_over_T_and_are_deterministic():
    cfg = sim.load_config("4321", {"shock.return_period": 4.0}, shock="flood_drawn")
    ev = shocks.resolve_events(cfg)
    counts = [len(shocks.schedule(ev, 60, key=k)) for k in range(3000)]
    # 5 years x 1/4 = 1.25 per run; sd of the mean = sqrt(5 x 0.25 x 0.75 / 3000)
    assert abs(np.mean(counts) - 1.25) < 4 * math.sqrt(5 * 0.25 * 0.75 / 3000)
    assert shocks.schedule(ev, 60, key=7) == shocks.schedule(ev, 60, key=7)
    assert all(o.start % 12 == 6 for k in range(50) for o in shocks.schedule(ev, 60, key=k))  # July


def test_shock_window_mask():
    ts = pd.DataFrame({"replication": [0] * 6 + [1] * 6, "month": list(range(1, 7)) * 2,
                       "shock_active": [0, 1, 0, 0, 0, 0] + [0] * 6})
    mask = metrics.shock_window(ts, after=2)
    assert mask.tolist() == [False, True, True, True, False, False] + [False] * 6


# --------------------------------------------------------------------------- overdue state
def _firm_month(f, month, t_default, t_overdue, months=3):
    """One pass of the compiled firm kernel over population f with given thresholds (no exits,
    no applications, factors zero). Returns (defaulted rows, counts)."""
    from sim import kernel
    from sim.risk import streams as st

    n, G = f.n, int(f.guarantor.max()) + 1
    defaulted, apps, counts = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(10, np.int64)
    b = st.bases(f.key, month, [st.LATENT, st.NO_LOAN_TESTS])
    # no firm applies (application probability 0): the screening terms are never read
    screening = (0.0, 1.0, 3, 10, np.ones(3), np.zeros((1, 2)), np.zeros((1, 2)), np.ones(1, bool), 0.0,
                 1e7, True, 1.0, np.zeros((G, 1)), np.ones(1), np.ones(1, bool),
                 np.zeros(1, np.int64), np.ones(G, np.int64))
    kernel.month(f.pop, f.ent, month, b[0], b[1], f.entrant_bases(month, st.RESPAWN_EXIT),
                 np.zeros(f.group.max() + 1), 1.0, t_default, t_overdue, months, 0.0, 0.0,
                 np.zeros((2, 2)), np.zeros(0), (False, 0, 1.0, np.zeros(0, np.int32), np.zeros(0, bool)),
                 (False, 0.5, 0.5, 1, np.uint64(0)), kernel.PHI,
                 np.zeros(5, np.uint64), screening, (0.05, 0.08, G), defaulted, np.zeros(n, np.int64), apps, np.zeros(n),
                 np.zeros(n, np.int16),
                 np.zeros(n, np.int8), np.zeros(G), np.zeros(G + 1), np.zeros(7), counts,
                 np.zeros((2, n), np.int64))
    return defaulted[:counts[0]], counts


def test_overdue_spells_resolve_after_their_months():
    cfg = sim.load_config("4321")
    f = FirmPopulation(6, cfg.province, cfg.firms, 0.0, np.random.default_rng(0))
    f.channel[:] = 1
    f.term[:] = 60
    # thresholds far out of reach decide each row whatever its draw: rows 0-1 fall overdue
    # and will default, rows 2-3 fall overdue and will cure, rows 4-5 stay performing
    t_default = np.array([20.0, 20.0, -20.0, -20.0, -20.0, -20.0])
    t_overdue = np.array([20.0, 20.0, 20.0, 20.0, -20.0, -20.0])
    d, k = _firm_month(f, 10, t_default, t_overdue)
    assert k[2] == 4 and d.size == 0 and k[3] == 0
    assert f.will_default.tolist() == [True, True, False, False, False, False]
    assert (f.status[:4] == OVERDUE).all() and (f.status[4:] == PERFORMING).all()
    assert (f.overdue_start[:4] == 10).all() and k[7] == 4
    never = np.full(6, -20.0)
    for month in (11, 12):  # nothing resolves before 3 months, and overdue loans are not drawn
        d, k = _firm_month(f, month, np.full(6, 20.0), np.full(6, 20.0))
        assert d.size == 0 and k[3] == 0 and k[2] == 2  # only rows 4-5 can fall overdue
        f.status[4:] = PERFORMING
        f.overdue_start[4:] = -1
    d, k = _firm_month(f, 13, never, never)
    assert d.tolist() == [0, 1] and k[3] == 2
    assert (f.status[[0, 1]] == DEFAULTED).all() and (f.status[[2, 3]] == PERFORMING).all()
    assert k[6] == 4  # the two defaulted loans are no longer running


def test_overdue_loans_stay_on_the_book_and_resolve_on_time():
    cfg = sim.load_config("4321", SMALL, shock="flood")
    m = build(cfg)
    K = cfg.firms.overdue_months
    seen = 0
    while m.running:
        m.step()
        f = m.firms
        od = f.status == OVERDUE
        seen += od.sum()
        assert (f.channel[od] != NO_LOAN).all()  # overdue loans neither mature nor vanish
        assert ((m.month - 1) - f.overdue_start[od] < K).all()  # resolved after K months
        assert not (f.status == DEFAULTED).any()  # defaulted firms left this month
        assert (f.overdue_start[~od] == -1).all()
    assert seen > 0


def test_default_and_overdue_marginals_are_what_the_shock_specifies():
    """End to end: the model's draws in the flood month and around it match the thresholds
    the engine hands to the copula (independent firms here, so counts are binomial sums)."""
    cfg = sim.load_config("4321", {**SMALL, "firms.n": 20000, "copula.rho_macro": 0.0,
                                   "copula.rho_region": 0.0, "copula.rho_sector": 0.0},
                          shock="flood")
    m = build(cfg)
    rec = []
    original = m._phase_firms

    def wrapped():
        f = m.firms
        # performing loans not at term after this month's ageing are drawn
        at_risk = np.flatnonzero((f.channel != NO_LOAN) & (f.status == PERFORMING) & (f.age + 1 < f.term))
        td, to = m._thresholds()
        td, to = td[at_risk], to[at_risk]
        from scipy.special import ndtr

        before = f.overdue_start.copy()
        original()
        new = np.flatnonzero((f.overdue_start == m.month) & (before == -1))
        rec.append((m.month, ndtr(to).sum(), (ndtr(to) * (1 - ndtr(to))).sum(), new.size,
                    ndtr(td).sum(), f.will_default[new].sum()))

    m._phase_firms = wrapped
    m.run()
    for month, exp_o, var_o, got_o, exp_d, got_d in rec:
        assert abs(got_o - exp_o) < 5 * math.sqrt(var_o) + 1, month
        assert abs(got_d - exp_d) < 5 * math.sqrt(exp_d) + 1, month
    onset = [r for r in rec if r[0] == cfg.shock.month - 1][0]
    before = [r for r in rec if r[0] == cfg.shock.month - 2][0]
    assert onset[1] > before[1] * 1.5  # the flood month's expected entries jump


# --------------------------------------------------------------------------- the model
def _run_both(cfg, r=0):
    a = run_replication(cfg, r)[1]
    b = run_replication(shocks.without_shocks(cfg), r)[1]
    return a, b


def test_common_random_numbers_identical_until_the_shock():
    cfg = sim.load_config("4321", SMALL, shock="flood")
    a, b = _run_both(cfg)
    M = cfg.shock.month
    pd.testing.assert_frame_equal(a[a.month < M].drop(columns="shock_active"),
                                  b[b.month < M].drop(columns="shock_active"))
    assert a.loc[a.month == M, "overdue_new"].item() > b.loc[b.month == M, "overdue_new"].item()
    assert (a.shock_active > 0).tolist() == [M <= m < M + cfg.shock.duration for m in a.month]


def test_firms_outside_the_flood_are_untouched_in_the_flood_month():
    cfg = sim.load_config("4321", {**SMALL, "firms.n": 20000, "shock.prefectures": ["changde"]},
                          shock="flood")
    ms = [build(cfg), build(shocks.without_shocks(cfg))]
    for _ in range(cfg.shock.month):
        for m in ms:
            m.step()
    t = cfg.shock.month - 1
    out = ms[0].firms.region != names(cfg).index("changde")
    entered = [(m.firms.overdue_start == t) & out for m in ms]
    np.testing.assert_array_equal(entered[0], entered[1])
    inside = [((m.firms.overdue_start == t) & ~out).sum() for m in ms]
    assert inside[0] > inside[1]


def test_common_random_numbers_after_the_shock_few_firms_differ():
    """Lending, screening, exits and entrants are keyed by (month, purpose, firm row)
    (sim/risk/streams.py), so after the flood a run and its counterfactual differ only in
    the firms the flood reached and their knock-on effects, not everywhere. (With one
    sequential generator every later draw shifted: about two thirds of the rows differed
    a year after the flood.)"""
    cfg = sim.load_config("4321", {**SMALL, "firms.n": 10000}, shock="flood")
    ms = [build(cfg), build(shocks.without_shocks(cfg))]
    for t in range(cfg.horizon):
        for m in ms:
            m.step()
        fa, fb = ms[0].firms, ms[1].firms
        differ = (fa.channel != fb.channel) | (fa.amount != fb.amount) | (fa.pd != fb.pd)
        if t < cfg.shock.month - 1:
            assert not differ.any()
    assert 0 < differ.mean() < 0.05


def test_money_is_conserved_every_month_under_composed_shocks():
    cfg = sim.load_config("4321", {**SMALL, "horizon": 36}, shock="flood_in_downturn")
    ts = run_replication(cfg, 0)[1]
    paid = sum(ts[f"scheme_loss_{p}"] for p in sim.config.PAYERS)
    np.testing.assert_allclose(paid + ts.shortfall, ts.default_scheme, atol=0.01, rtol=0)
    assert (ts.pool_balance >= -1e-6).all()


def test_determinism_per_seed_with_drawn_shocks():
    cfg = sim.load_config("2:8", {**SMALL, "shock.return_period": 1.05}, shock="flood_drawn")
    a, b = run_replication(cfg, 3)[1], run_replication(cfg, 3)[1]
    pd.testing.assert_frame_equal(a, b)
    assert a.shock_active.any()


@pytest.mark.parametrize("shock, more", [("flood", True), ("pandemic", False)])
def test_shocks_move_loan_demand(shock, more):
    cfg = sim.load_config("4321", {**SMALL, "shock.month": 13}, shock=shock)
    a, b = _run_both(cfg)
    M = cfg.shock.month
    got, base = (a.loc[a.month == M, "applicants"].item(), b.loc[b.month == M, "applicants"].item())
    assert (got > base) if more else (got < base)


def test_collateral_loss_and_recovery_delay_apply_inside_the_window_only():
    cfg = sim.load_config("4321", SMALL, shock="flood")
    m = build(cfg)
    for _ in range(cfg.shock.month):
        m.step()
    f = m.firms
    n = names(cfg)
    lake = np.flatnonzero((f.region == n.index("yueyang")) & (f.sector == 2))[:5]
    far = np.flatnonzero(f.region == n.index("huaihua"))[:5]
    lgd, delay = f.loss_terms(lake, m.month)
    assert np.all(lgd > f.lgd[lake]) and np.all(delay == cfg.shock.flood.recovery_delay)
    lgd, delay = f.loss_terms(far, m.month)
    np.testing.assert_array_equal(lgd, f.lgd[far])
    assert np.all(delay == 0)
    end = cfg.shock.month - 1 + cfg.shock.duration + cfg.firms.overdue_months
    lgd, delay = f.loss_terms(lake, end)
    np.testing.assert_array_equal(lgd, f.lgd[lake])


def test_flood_raises_claims_and_overdue_in_the_window():
    # enough firms that the flooded prefectures' guarantors have claims in the window
    res = sim.run("4321", {**SMALL, "firms.n": 12000, "mc.replications": 6}, shock="flood")
    assert res.counterfactual is not None
    from sim import report

    whole, window, (a, b) = report.shock_tables(res)
    assert (a, b) == (13, 13 + 3 - 1 + 3)
    w = window.set_index("metric")
    assert w.loc["loans falling overdue", "difference"] > 0
    assert w.loc["claims paid (代偿)", "difference"] > 0
    assert "Shock flood" in report.format_shock(res)


def test_report_reads_depletion_for_every_fund():
    """The shock section says, per fund, whether it ran dry with and without the shock; when
    it never did, it gives the lowest balances instead of a bare 0 vs 0."""
    from sim import report

    res = sim.run("4321", {**SMALL, "mc.replications": 4}, shock="flood")
    whole, _, _ = report.shock_tables(res)
    reading = report.depletion_reading(whole)
    funds = [m[2:-len(" runs dry)")] for m in whole.metric if m.startswith("P(")]
    assert len(reading) == len(funds) and funds
    for fund, line in zip(funds, reading):
        assert line.startswith(f"- {fund}: ran dry in ")
    pool = whole.set_index("metric").loc["P(compensation pool runs dry)"]
    line = reading[funds.index("compensation pool")]
    if pool["with shock"] == 0 and pool["without"] == 0:
        assert "lowest balance was" in line
    assert "Fund depletion, read:" in report.format_shock(res)
    # A made-up table: a clear rise is called a rise.
    fake = whole.copy()
    i = fake.index[fake.metric == "P(compensation pool runs dry)"][0]
    fake.loc[i, ["with shock", "without", "difference", "se"]] = [9.0, 7.0, 2.0, 0.5]
    assert "higher with the shock" in report.depletion_reading(fake)[funds.index("compensation pool")]
