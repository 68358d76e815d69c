"""The calibration command (sim/calibrate.py): its measurements, the preset block it writes,
how a preset's values reach a run, and its errors. The fit itself is run by the command
(docs/calibration.md has the run and its table); here only what can be checked quickly."""

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

import sim
from sim import calibrate
from sim.config import ConfigError, SimConfig, files
from sim.config.compose import apply_presets
from sim.points import with_values


def test_measure_mean_se_gap_and_hit():
    t = [calibrate.Target("claim_rate_annual", "claim rate", 0.05, "%", "x"),
         calibrate.Target("guarantee_balance_year_end", "balance", 40.0, "bn", "x", fitted=False)]
    rep = pd.DataFrame({"claim_rate_annual": [0.05, 0.06], "guarantee_balance_year_end": [30e9, 30e9]})
    m = calibrate.measure(rep, t).set_index("metric")
    assert m.loc["claim_rate_annual", "model"] == pytest.approx(5.5)  # percent
    assert m.loc["claim_rate_annual", "report"] == pytest.approx(5.0)
    assert m.loc["claim_rate_annual", "se"] == pytest.approx(np.std([5.0, 6.0], ddof=1) / math.sqrt(2))
    assert m.loc["claim_rate_annual", "gap"] == pytest.approx(0.1)
    assert m.loc["claim_rate_annual", "hit"]
    assert m.loc["guarantee_balance_year_end", "gap"] == pytest.approx(-0.25)
    assert not m.loc["guarantee_balance_year_end", "hit"]
    assert not m.loc["guarantee_balance_year_end", "fitted"]


def test_every_target_is_a_summary_metric_and_every_parameter_a_config_key():
    from sim.metrics import SUMMARY_DOC

    for province, targets in calibrate.TARGETS.items():
        assert (province in files.available("province")), province
        for t in targets:
            assert t.metric in SUMMARY_DOC, t.metric
            assert t.unit in calibrate.SCALE and t.value > 0 and "docs/sources.md#" in t.source
    base = sim.load_config("hunan_2_8", {"firms.n": 2000, "mc.replications": 1})
    x = calibrate.start_values()
    cfg = with_values(base, calibrate.values_of(x))  # every key exists and its value is allowed
    assert cfg.firms.loan_min == pytest.approx(cfg.firms.loan_max / 10)
    for p in [*calibrate.PARAMETERS, calibrate.TERM]:
        assert p.low <= p.start <= p.high and p.mechanism and p.moves


def test_nested_and_write_preset_round_trip(tmp_path, monkeypatch):
    src = files.group_dir("province") / "hunan.yaml"
    (tmp_path / "hunan.yaml").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(files, "group_dir", lambda group: tmp_path)
    values = calibrate.nested({"province.pd_scale": np.float64(2.5), "firms.term_max": np.int64(18),
                               "firms.loan_max": 1.5e6})
    assert values == {"province": {"pd_scale": 2.5}, "firms": {"term_max": 18, "loan_max": 1.5e6}}
    block = {"fitted_on": "hunan", "date": "2026-11-30", "command": "python -m sim.calibrate", "values": values}
    path = calibrate.write_preset("hunan", block)
    calibrate.write_preset("hunan", {**block, "date": "2026-12-01"})  # replaces, not appends
    text = path.read_text(encoding="utf-8")
    assert text.count(calibrate.MARKER) == 1
    data = yaml.safe_load(text)
    assert data["calibration"]["date"] == "2026-12-01" and data["calibration"]["values"] == values
    assert data["regions"] and data["name"] == "hunan"  # the hand-written part is kept


def _dcfg(**province):
    d = OmegaConf.structured(SimConfig)
    for k, v in province.items():
        OmegaConf.update(d, f"province.{k}", v, merge=True)
    return d


def test_preset_values_apply_below_the_command_line():
    d = _dcfg(settings={"pool": {"size": 5e9}},
              calibration={"values": {"firms": {"term_max": 18}, "province": {"pd_scale": 2.0}}})
    apply_presets(d, typed={"firms.term_max"})
    assert d.pool.size == 5e9 and d.province.pd_scale == 2.0
    assert d.firms.term_max == SimConfig().firms.term_max  # typed by the user: the user's value


@pytest.mark.parametrize("province, message", [
    ({"settings": {"pool": {"sizee": 1.0}}}, "unknown key 'pool.sizee'"),
    ({"settings": {"scheme": {"guarantee_fee": 0.01}}}, "not this section"),
    ({"settings": {"pool": {"size": 1.0}}, "calibration": {"values": {"pool": {"size": 2.0}}}},
     "also set by province.settings"),
    ({"calibration_from": "atlantis"}, "unknown province"),
])
def test_bad_preset_values_are_refused_in_one_line(province, message):
    with pytest.raises(ConfigError, match=message) as e:
        apply_presets(_dcfg(**province), typed=())
    assert "\n" not in str(e.value)


def test_pd_scale_scales_every_prefecture_and_is_bounded():
    base = sim.load_config("4321", {"firms.n": 2000, "mc.replications": 1})
    with pytest.raises(ConfigError, match="province.pd_scale"):
        with_values(base, {"province.pd_scale": 50.0})
    # the NPL responds to the scale through the firms' PD (common random numbers: same seed)
    lo = sim.run(with_values(base, {"province.pd_scale": 1.0, "mc.replications": 4}))
    hi = sim.run(with_values(base, {"province.pd_scale": 2.0, "mc.replications": 4}))
    d = hi.replications.npl_ratio_year_end - lo.replications.npl_ratio_year_end
    assert d.mean() > 4 * d.std(ddof=1) / math.sqrt(len(d))


def test_channel_npl_ratios_bracket_the_total():
    r = sim.run("hunan_2_8", {"firms.n": 5000, "mc.replications": 3, "quiet": True})
    ts = r.timeseries
    ts = ts[ts.month > 12]
    lo = np.minimum(ts.npl_ratio_scheme, ts.npl_ratio_direct)
    hi = np.maximum(ts.npl_ratio_scheme, ts.npl_ratio_direct)
    assert ((ts.npl_ratio >= lo - 1e-12) & (ts.npl_ratio <= hi + 1e-12)).all()


@pytest.mark.parametrize("args, message", [
    (["province=atlantis"], "unknown province"),
    (["province=hunan", "pool.sizee=1"], "unknown key 'pool.sizee'"),
    (["hunan"], "expected key=value"),
])
def test_command_errors_are_one_line_with_exit_2(args, message, capsys, tmp_path):
    assert calibrate.main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
