"""Province presets (conf/province/*.yaml, issue 12): each file names the scheme its province
runs and the institution settings its report gives (`settings`); the settings reach the
composed config below the command line; a key that is not a config key is refused in one line.
What each preset sets and why: docs/provinces.md."""

from __future__ import annotations

import functools
import re

import pytest
from omegaconf import OmegaConf

import sim
from sim.config import SimConfig, files
from sim.config.compose import _flat, apply_presets

PROVINCES = sorted(sim.list_provinces())
FITTED = "hunan"  # the province the others take their calibration from


def raw(name: str):
    """A province file as written (before composition)."""
    return files.read("province", files.resolve("province", name))


def settings(name: str) -> list[tuple[str, object]]:
    node = raw(name).get("settings")
    return _flat(OmegaConf.to_container(node) if node is not None else {})


def value(cfg, key: str):
    return functools.reduce(getattr, key.split("."), cfg)


def presets_applied(name: str, typed=()):
    """The schema defaults with this province file on top and its settings applied as
    compose does, without its borrowed calibration (so this runs before Hunan is fitted)."""
    dcfg = OmegaConf.structured(SimConfig)
    dcfg.province = OmegaConf.merge(dcfg.province, raw(name))
    dcfg.province.calibration_from = ""
    apply_presets(dcfg, set(typed))
    return dcfg


def test_every_province_has_a_file_and_hunan_is_the_fitted_one():
    assert set(PROVINCES) >= {"hunan", "jiangxi", "anhui", "hebei"}
    assert not raw(FITTED).get("calibration_from")
    for p in PROVINCES:
        if p != FITTED:
            assert raw(p).get("calibration_from") == FITTED, p


@pytest.mark.parametrize("name", PROVINCES)
def test_every_province_composes(name):
    cfg = sim.load_config("4321", province=name)
    assert cfg.province.name == name
    assert cfg.scheme.name == "4321"  # the province's scheme does not replace the user's


@pytest.mark.parametrize("name", PROVINCES)
def test_the_province_scheme_is_a_scenario_file(name):
    scenario = raw(name).get("scenario")
    assert scenario, f"{name}.yaml names no scenario"
    assert scenario in files.available("scenario"), scenario
    assert files.checked("scenario", scenario).scheme.tranches  # a readable scheme


@pytest.mark.parametrize("name", PROVINCES)
def test_every_setting_reaches_the_config(name):
    dcfg = presets_applied(name)
    for key, v in settings(name):
        assert OmegaConf.select(dcfg, key) == pytest.approx(v), key
    cfg = sim.load_config("4321", province=name)
    for key, v in settings(name):
        assert value(cfg, key) == pytest.approx(v), key


def test_hunan_sets_only_the_npl_time_its_first_loan_programme_and_its_pilot_split_its_other_defaults_are_the_schema():
    assert settings("hunan") == [("firms.recovery_lag", 11), ("first_loan.enabled", True),
                                 ("scheme.performance_split.enabled", True),
                                 ("scheme.performance_split.places", ["chang_zhu_tan"])]


def test_hunans_split_runs_in_its_pilot_on_the_schemes_it_can_apply_to():
    """The preset switches the dynamic split on in chang_zhu_tan; a scheme without a guarantor
    and a fiscal payer has no shares to move, so there the preset's switch is off (typed, it is
    refused); another province does not run it."""
    for scenario in ("hunan_2_8", "4321", "anhui_433"):
        ps = sim.load_config(scenario).scheme.performance_split
        assert (ps.enabled, ps.places) == (True, ["chang_zhu_tan"]), scenario
    for scenario in ("bank_only", "2_8", "hunan_3_7", "full_guarantee"):
        assert not sim.load_config(scenario).scheme.performance_split.enabled, scenario
    with pytest.raises(sim.ConfigError, match=r"^scheme\.performance_split\.enabled = True: .*needs guarantor"):
        sim.load_config("2_8", {"scheme.performance_split.enabled": True})
    assert not sim.load_config("4321", {"scheme.performance_split.enabled": False}).scheme.performance_split.enabled
    for name in PROVINCES:
        if name != "hunan":
            assert not sim.load_config("4321", province=name).scheme.performance_split.enabled, name


@pytest.mark.parametrize("name", [p for p in PROVINCES if p != FITTED])
def test_the_reports_give_the_other_provinces_settings(name):
    assert settings(name), f"{name}.yaml sets nothing"


def test_a_typed_key_wins_over_the_preset():
    assert dict(settings("jiangxi"))["pool.size"] == 5.0e9
    assert presets_applied("jiangxi", typed={"pool.size"}).pool.size == 1.2e9  # left to the command line
    assert sim.load_config("4321", {"pool.size": 123.0}, province="jiangxi").pool.size == 123.0
    assert sim.load_config("4321", province="jiangxi").pool.size == 5.0e9


def _with_settings(values: dict):
    dcfg = OmegaConf.structured(SimConfig)
    dcfg.province.settings = values
    return dcfg


def test_an_unknown_settings_key_is_refused_in_one_line():
    with pytest.raises(sim.ConfigError) as e:
        apply_presets(_with_settings({"pool": {"sizee": 1}}), set())
    msg = str(e.value)
    assert "'pool.sizee'" in msg and "\n" not in msg
    assert re.match(r"^province\.settings: unknown key 'pool\.sizee'", msg)


@pytest.mark.parametrize("section", ["scheme", "mc", "shock", "province"])
def test_settings_cannot_reach_the_scheme_or_the_run(section):
    key = {"scheme": "guarantee_fee", "mc": "replications", "shock": "month", "province": "basin"}[section]
    with pytest.raises(sim.ConfigError, match=rf"{section}\.{key}.*not this section"):
        apply_presets(_with_settings({section: {key: 1}}), set())


SOURCE = re.compile(r"「|assumption", re.I)


@pytest.mark.parametrize("name", PROVINCES)
def test_every_setting_gives_its_source(name):
    """Each value in `settings` has a report quote 「…」 or the word assumption in its own
    comment or in the comment block just above it (keys under one block share it)."""
    lines = (files.group_dir("province") / f"{files.resolve('province', name)}.yaml").read_text(
        encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("settings:"))
    block_ok, in_comment, seen = False, False, []
    for line in lines[start + 1:]:
        if line and not line[0].isspace():
            break  # the next top-level key
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            if not in_comment:
                block_ok, in_comment = False, True
            block_ok = block_ok or bool(SOURCE.search(s))
            continue
        in_comment = False
        key, _, rest = s.partition(":")
        if not rest.split("#")[0].strip():  # a section (pool:)
            block_ok = False
            continue
        assert block_ok or SOURCE.search(rest), f"{name}.yaml settings {key}: no quote or assumption"
        seen.append(key)
    assert len(seen) == len(settings(name))


def test_a_borrowed_calibration_applies_with_the_settings(monkeypatch):
    """calibration_from: the fitted province's values apply beside the borrowing province's
    settings, and the block in force is kept, typed, for the report (a stand-in block for
    Hunan's, so this runs before Hunan is fitted)."""
    real = files.checked

    def with_block(group, stem):
        node = real(group, stem)
        if group == "province" and stem == FITTED:
            node.calibration = {"fitted_on": FITTED, "values": {"bank": {"max_expected_loss": 0.013}}}
        return node

    monkeypatch.setattr(files, "checked", with_block)
    dcfg = OmegaConf.structured(SimConfig)
    dcfg.province = OmegaConf.merge(dcfg.province, raw("jiangxi"))
    apply_presets(dcfg, set())
    cfg = OmegaConf.to_object(dcfg)
    assert cfg.bank.max_expected_loss == 0.013 and cfg.pool.size == 5.0e9
    assert cfg.province.calibration.fitted_on == FITTED
