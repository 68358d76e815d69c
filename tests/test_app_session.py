"""The teaching app's logic without a browser: levers, the side-by-side pair, flood now, the
map's numbers and the scheme panel (sim/app/)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sim import ConfigError, GuaranteeModel, load_config
from sim.app import explain
from sim.app.levers import Levers, from_query, rebalance
from sim.app.session import Session, build
from sim.run.runner import replication_seed

FAST = {"firms.n": 5000}  # a small sample: the tests check mechanics, not calibration


def small(lv: Levers) -> Levers:
    """The levers plus a small firm count (an override the session passes on unchanged)."""
    return replace(lv, extra=FAST)


@pytest.mark.parametrize("shares, name, value", [
    ({"guarantor": 0.4, "reguarantor": 0.3, "bank": 0.2, "government": 0.1}, "bank", 0.5),
    ({"guarantor": 0.4, "reguarantor": 0.3, "bank": 0.2, "government": 0.1}, "guarantor", 1.0),
    ({"bank": 0.2, "guarantor": 0.8}, "bank", 0.0),
    ({"bank": 1.0, "guarantor": 0.0}, "bank", 0.3),  # the others all zero: split evenly
    ({"bank": 0.2, "guarantor": 0.8}, "bank", 1.7),  # clipped to 100%
])
def test_tranche_sliders_always_sum_to_one(shares, name, value):
    out = rebalance(shares, name, value)
    assert list(out) == list(shares)
    assert sum(out.values()) == pytest.approx(1.0, abs=1e-12)
    assert out[name] == pytest.approx(min(value, 1.0))
    assert all(v >= 0 for v in out.values())
    others = [k for k in shares if k != name]
    if sum(shares[k] for k in others) > 0:  # the others keep their proportions
        ref = others[0]
        for k in others:
            assert out[k] * shares[ref] == pytest.approx(out[ref] * shares[k], abs=1e-12)


def test_levers_are_config_keys_validated_by_the_loader():
    lv = Levers.for_scheme("4321")
    cfg = load_config("4321")
    # the page starts at the model's own defaults
    assert lv.values["guarantor.leverage_cap"] == cfg.guarantor.leverage_cap
    assert lv.values["pool.size"] * 1e9 == pytest.approx(cfg.pool.size)
    assert lv.tranches == {k: t.share for k, t in cfg.scheme.tranches.items()}
    moved = replace(lv, values={**lv.values, "guarantor.leverage_cap": 15.0, "bank.data_coverage": 80.0})
    (c,) = moved.configs()
    assert c.guarantor.leverage_cap == 15.0 and c.bank.data_coverage == pytest.approx(0.8)
    # a value the model refuses is refused with the loader's one-line message, naming the key
    bad = replace(lv, values={**lv.values, "guarantor.leverage_cap": 0.0})
    with pytest.raises(ConfigError, match="guarantor.leverage_cap"):
        bad.configs()
    with pytest.raises(ConfigError, match="scheme.tranches"):
        replace(lv, tranches={**lv.tranches, "bank": 0.5}).configs()


def test_a_refused_lever_leaves_the_session_as_it_was():
    s = Session(small(Levers.for_scheme("4321")))
    s.step(3)
    bad = replace(s.levers, flood=True, flood_month=99)
    with pytest.raises(ConfigError, match="shock.month = 99"):
        s.with_levers(bad)
    assert s.month == 3 and len(s.timeseries()[0]) == 3


def test_side_by_side_steps_two_models_on_the_same_seed_and_shocks():
    lv = small(replace(Levers.for_scheme("4321"), compare="2:8", flood=True, flood_month=4, seed=7))
    pair = Session(lv)
    assert pair.names == ["4321", "2:8"]
    assert pair.seeds == [7, 7]
    assert pair.shock_keys[0] == pair.shock_keys[1]  # every later draw is keyed by it
    assert pair.flood_months() == [[4], [4]]
    pair.step(8)
    assert [m.month for m in pair.models] == [8, 8]
    # Stepped together, each model is exactly the model its scheme would run alone with that
    # seed: the pair shares nothing but the seed and the shocks.
    for cfg, ts in zip(pair.configs, pair.timeseries()):
        alone = GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(7, 0)))
        for _ in range(8):
            alone.step()
        pd.testing.assert_frame_equal(ts, alone.timeseries())
    # and the schemes do differ: the guarantor's share of scheme losses
    a, b = pair.timeseries()
    assert not np.allclose(a.scheme_loss_guarantor, b.scheme_loss_guarantor)
    # the paired model runs the 2:8 preset with every other lever the same
    left, right = pair.configs
    assert right.scheme.tranches["bank"].share == 0.2 and right.scheme.tranches["guarantor"].share == 0.8
    assert (left.pool, left.guarantor, left.bank, left.shock) == (right.pool, right.guarantor, right.bank,
                                                                    right.shock)


def test_side_by_side_with_an_unknown_preset_is_refused():
    with pytest.raises(ConfigError, match="side by side with 'hebei_9999'"):
        small(replace(Levers.for_scheme("4321"), compare="hebei_9999")).configs()


def test_moved_tranches_are_named_beside_the_preset():
    lv = small(replace(Levers.for_scheme("2:8"), tranches={"bank": 0.0, "guarantor": 1.0}, compare="2:8"))
    assert Session(lv).names == ["2:8 (bank 0 / guarantor 100)", "2:8"]


def test_flood_now_replays_the_months_before_unchanged():
    calm = Session(small(Levers.for_scheme("4321")))
    calm.step(10)
    flooded = calm.flood_now(severity=2.0)
    assert flooded.month == 10 and flooded.flood_months() == [[11]]
    # common random numbers: until the flood nothing differs (its month count aside)
    pd.testing.assert_frame_equal(flooded.timeseries()[0], calm.timeseries()[0])
    flooded.step(1)
    calm.step(1)
    a, b = flooded.timeseries()[0].iloc[-1], calm.timeseries()[0].iloc[-1]
    assert a.shock_active == 1 and b.shock_active == 0
    assert a.overdue_new > b.overdue_new  # the flood's loans fall overdue
    flooded.step(flooded.horizon)
    with pytest.raises(ConfigError, match="the run has ended"):
        flooded.flood_now()


def test_lever_change_replays_to_the_same_month():
    s = Session(small(Levers.for_scheme("4321")))
    s.step(6)
    t = s.with_levers(replace(s.levers, values={**s.levers.values, "scheme.guarantee_fee": 2.0}))
    assert t.month == 6
    assert t.configs[0].scheme.guarantee_fee == pytest.approx(0.02)
    assert t.timeseries()[0].fees.sum() > s.timeseries()[0].fees.sum()


def test_prefectures_add_up_to_the_provincial_npl_stock():
    cfg = load_config("4321", {**FAST, "shock": "flood", "shock.month": 2})
    m = build(cfg)
    before = m.prefectures()
    assert (before.flood == 0).all()
    for _ in range(12):
        m.step()
    p = m.prefectures()
    assert list(p.prefecture) == [r.name for r in cfg.province.regions]
    assert p.npl.sum() == pytest.approx(m.npl_exposure(), rel=1e-9)
    assert p.npl.sum() > 0
    assert ((p.npl_ratio >= 0) & (p.npl_ratio <= 1)).all()
    exposed = np.array([r.flood_exposure for r in cfg.province.regions])
    np.testing.assert_allclose(p.flood, exposed)  # severity 1: intensity = exposure
    assert p.guarantors.sum() == sum(r.guarantors for r in cfg.province.regions)


def test_query_string_sets_levers_and_refuses_unknown_keys():
    lv, months = from_query("?scenario=2:8&compare=1&pool.size=0.5&flood=1&return_period=50&months=12"
                            "&tranche.bank=30&tranche.guarantor=70&seed=3")
    assert (lv.scenario, lv.compare, lv.flood, lv.flood_return_period, lv.seed, months) == \
        ("2:8", "4321", True, 50.0, 3, 12)
    assert from_query("scenario=2:8&compare=full_guarantee")[0].compare == "full_guarantee"
    assert lv.values["pool.size"] == 0.5 and lv.tranches == {"bank": 0.3, "guarantor": 0.7}
    with pytest.raises(ConfigError, match="pool.sise"):
        from_query("pool.sise=1")
    with pytest.raises(ConfigError, match="not a number"):
        from_query("seed=abc")


def test_scheme_panel_in_plain_words_with_chinese_terms():
    text = " ".join(explain.scheme_lines(load_config("4321", shock="flood")))
    for words in ("guarantor (市县政府性融资担保机构)", "**40%**", "leverage cap (放大倍数上限)",
                  "guarantee fee (担保费)", "compensation funds (风险补偿资金)", "Flood (洪水)", "2027-07"):
        assert words in text
    alone = " ".join(explain.scheme_lines(load_config("bank_only")))
    assert "No guarantee (无担保)" in alone and "leverage cap" not in alone


def test_the_map_marks_halted_guarantors_and_floods():
    from sim.app.page import map_html  # the page module builds its HTML from the model's public numbers

    lv = small(replace(Levers.for_scheme("4321"), flood=True, flood_month=2,
                       extra={**FAST, "guarantor.suspend_claims_multiple": 0.05}))
    s = Session(lv)
    while not s.finished and not (s.prefectures()[0].guarantors_suspended > 0).any():
        s.step()
    (p,) = s.prefectures()
    halted = p[p.guarantors_suspended > 0]
    assert len(halted) > 0, "a low suspension line should halt some guarantor"
    assert halted.guarantors_suspended.sum() == s.timeseries()[0].guarantors_suspended.iloc[-1]
    html = map_html(p, "4321")
    for row in halted.itertuples():
        assert f'data-prefecture="{row.prefecture}"' in html
        assert f"{row.guarantors_suspended}/{row.guarantors} guarantors halted" in html
    assert html.count('data-flooded="1"') == int((p.flood > 0).sum()) > 0
    assert html.count("zyd-tile") == len(p)


@pytest.mark.parametrize("scenario", ["4321", "2:8", "3:7", "full_guarantee", "bank_only"])
def test_every_default_lies_on_its_sliders_steps(scenario):
    # a value off the steps would be snapped by the browser's slider and sent back changed
    from sim.app.levers import CONTROLS

    lv = Levers.for_scheme(scenario)
    for c in CONTROLS:
        v = lv.values[c.key]
        assert c.lo <= v <= c.hi, c.key
        steps = (v - c.lo) / c.step
        assert abs(steps - round(steps)) < 1e-6, f"{c.key} = {v} is not on steps of {c.step}"
