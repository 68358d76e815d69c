"""Every shipped scenario loads, validates, and says where its numbers come from."""

import pytest

import sim
from sim.config import files
from sim.config import ConfigError

ALL = sorted(files.available("scenario"))
REQUIRED = {"4321", "2_8", "bank_only", "full_guarantee", "jiangxi_4321", "hebei_4321",
            "anhui_433", "jiangxi_5311", "jiangxi_5221", "hunan_3_7"}


def test_required_presets_exist():
    assert REQUIRED <= set(ALL)


@pytest.mark.parametrize("stem", ALL)
def test_preset_is_valid_and_cited(stem):
    cfg = sim.load_config(stem)
    assert abs(sum(t.share for t in cfg.scheme.tranches.values()) - 1) < 1e-12
    text = (files.scenario_dir() / f"{stem}.yaml").read_text()
    assert text.lstrip().startswith("#"), "a preset opens with a comment giving its source"
    # cited in the repository (docs/sources.md, whose anchors test_sources checks); the
    # bank-only baseline needs no source
    assert "docs/sources.md#" in cfg.scheme.source or cfg.scheme.source.startswith("baseline")
    assert "docs/sources.md#" in text or "baseline" in text
    assert cfg.scheme.description


@pytest.mark.parametrize("typed,stem", [("2:8", "2_8"), ("3:7", "hunan_3_7"), ("4321", "4321"),
                                        (4321, "4321"), ("'4321'", "4321")])
def test_names_resolve_as_typed(typed, stem):
    assert files.resolve("scenario", typed) == stem


def test_canonical_4321_shares():
    t = sim.load_config("4321").scheme.tranches
    assert {k: v.share for k, v in t.items()} == {"guarantor": 0.4, "reguarantor": 0.3, "bank": 0.2,
                                                  "government": 0.1}


def test_unknown_scenario_lists_the_available_ones():
    with pytest.raises(ConfigError) as e:
        files.resolve("scenario", "5555")
    assert "available:" in str(e.value) and "4321" in str(e.value) and "2_8 (2:8)" in str(e.value)
