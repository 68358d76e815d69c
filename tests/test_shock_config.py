"""Shock and province config: group files, validation (one line, exit 2), the CLI as typed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from omegaconf import OmegaConf

from sim import cli
from sim.config import ConfigError, files

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("province", sorted(sim.list_provinces()))
@pytest.mark.parametrize("shock", sorted(sim.list_shocks()))
def test_every_shock_loads_on_every_province(shock, province):
    cfg = sim.load_config("4321", shock=shock, province=province)
    assert cfg.province.name == province
    assert cfg.shock.name == shock
    for r in cfg.province.regions:
        assert 0 <= r.flood_exposure <= 1


def test_load_config_is_what_the_command_line_runs(tmp_path, monkeypatch):
    """sim.load_config and `python -m sim` compose the same config (one path: Hydra's compose)."""
    monkeypatch.chdir(tmp_path)
    args = ["scenario=2:8", "shock=flood", "province=jiangxi", "shock.month=7", "firms.n=1000",
            "horizon=9", "mc.replications=1", "quiet=true", "hydra.run.dir=run"]
    assert cli.main(args) == 0
    ran = OmegaConf.load(tmp_path / "run" / "config.yaml")
    loaded = sim.load_config("2:8", [a for a in args if not a.startswith(("scenario", "hydra"))])
    assert OmegaConf.to_container(ran) == OmegaConf.to_container(OmegaConf.structured(loaded))
    assert sim.load_config("4321").province == sim.load_config("4321", province="hunan").province


def test_each_province_names_its_flood_basin_prefectures():
    exposed = {p: {r.name for r in sim.load_config("4321", province=p).province.regions
                   if r.flood_exposure == 1.0} for p in sim.list_provinces()}
    assert exposed["hunan"] == {"yueyang", "changde", "yiyang"}  # Dongting Lake
    assert exposed["jiangxi"] == {"nanchang", "jiujiang", "shangrao"}  # Poyang Lake
    assert exposed["anhui"] == {"fuyang", "lu_an", "huainan", "bengbu"}  # Huai River
    assert exposed["hebei"] == {"baoding", "xingtai"}  # Hai River


def test_group_choices_in_the_override_list_like_the_command_line():
    cfg = sim.load_config("2:8", ["shock=flood", "shock.month=7", "province=jiangxi"])
    assert (cfg.shock.kind, cfg.shock.month, cfg.province.name) == ("flood", 7, "jiangxi")


BAD = [
    ({"shock.month": 999}, "shock.month = 999: must be an integer in [1, 60]"),
    ({"shock.month": 0}, "shock.month = 0"),
    ({"shock.prefectures": ["atlantis"]}, "shock.prefectures = ['atlantis']: unknown prefecture 'atlantis'; known (hunan): changsha"),
    ({"shock.severity": -1}, "shock.severity = -1.0: must be a number in [0, 100]"),
    ({"shock.duration": 0}, "shock.duration = 0"),
    ({"shock.timing": "drawn"}, "shock.return_period = None: timing=drawn needs a return period"),
    ({"shock.timing": "sometimes"}, "shock.timing = 'sometimes': must be one of scheduled, drawn"),
    ({"shock.return_period": 0.5}, "shock.return_period = 0.5"),
    ({"shock.sectors": ["steel"]}, "shock.sectors = ['steel']: unknown sector 'steel'"),
    ({"shock.flood.collateral_loss": 1.5}, "shock.flood.collateral_loss = 1.5"),
    ({"shock.flood.overdue_uplift": 0.001}, "shock.flood.overdue_uplift = 0.001: with insured_overdue_uplift"),
    # a dict key the file does not have is new: Hydra's struct mode wants '+' (see the next test)
    ({"shock.flood.sector_weight": {"mining": 1.0}}, "unknown key 'shock.flood.sector_weight.mining'"),
    (["+shock.flood.sector_weight.mining=1.0"], "shock.flood.sector_weight = "),
    ({"firms.overdue_months": 0}, "firms.overdue_months = 0"),
    ({"firms.bi_insurance": {"agriculture": 2.0}}, "firms.bi_insurance.agriculture = 2.0"),
]


@pytest.mark.parametrize("over, message", BAD)
def test_bad_shock_settings_give_one_clear_line(over, message):
    with pytest.raises(ConfigError) as e:
        sim.load_config("4321", over, shock="flood")
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_bad_event_in_also_is_named_by_its_key():
    with pytest.raises(ConfigError, match=r"^shock\.also\.downturn\.month = 99: "):
        sim.load_config("4321", {"shock.also.downturn.month": 99}, shock="flood_in_downturn")


def test_bad_prefecture_mix_and_exposure():
    from sim.config import validate

    cfg = sim.load_config("4321")
    cfg.province.regions[0].flood_exposure = 2.0
    with pytest.raises(ConfigError, match=r"^province\.regions\[0\]\.flood_exposure = 2\.0: must be"):
        validate(cfg)
    cfg = sim.load_config("4321")
    cfg.province.regions[3].sector_mix["agriculture"] = 0.5
    with pytest.raises(ConfigError, match=r"^province\.regions\[3\]\.sector_mix = .*sum to 1"):
        validate(cfg)
    cfg = sim.load_config("4321")
    cfg.province.regions[3].sector_mix = {"mining": 1.0}
    with pytest.raises(ConfigError, match=r"unknown sector 'mining'"):
        validate(cfg)


def test_unknown_group_names():
    with pytest.raises(ConfigError, match=r"^shock = 'tsunami': unknown shock; available: drought"):
        sim.load_config("4321", shock="tsunami")
    with pytest.raises(ConfigError, match=r"^province = 'mars': unknown province"):
        sim.load_config("4321", province="mars")


@pytest.mark.parametrize("text", ["_target_: os.system\nkind: flood\n",
                                  "defaults:\n  - flood\nkind: flood\n",
                                  "kind: flood\nalso:\n  x: {_target_: os.system}\n",
                                  "kind: flood\nwhatever: 1\n"])
def test_group_files_are_data_not_code(tmp_path, monkeypatch, text):
    (tmp_path / "shock").mkdir()
    (tmp_path / "shock" / "evil.yaml").write_text(text)
    monkeypatch.setattr(files, "conf_dir", lambda: tmp_path)
    with pytest.raises(ConfigError, match=r"^shock file evil\.yaml: "):
        files.checked("shock", "evil")


@pytest.mark.parametrize("args, key", [
    (["shock=flood", "shock.month=999"], "shock.month = 999"),
    (["shock=flood", "shock.prefectures=[atlantis]"], "shock.prefectures = ['atlantis']"),
    (["shock=flood", "shock.severity=-1"], "shock.severity = -1"),
    (["-m", "scenario=4321,2:8", "shock=none,flood", "shock.month=61"], "shock.month = 61"),
    (["shock=tsunami"], "shock = 'tsunami'"),
])
def test_cli_bad_shock_one_line_exit_2_no_output(tmp_path, monkeypatch, capsys, args, key):
    monkeypatch.chdir(tmp_path)
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"sim: error: {key}"), err
    assert not (tmp_path / "outputs").exists()


def test_cli_sweep_runs_as_typed(tmp_path):
    """`python -m sim -m scenario=4321,2:8 shock=none,flood` (small sizes added)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "sim", "-m", "scenario=4321,2:8", "shock=none,flood",
           "firms.n=1500", "mc.replications=2", "horizon=18", "shock.month=7", "quiet=true"]
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    jobs = sorted(d.name for d in (tmp_path / "outputs" / "multirun").glob("*/*/*")
                  if d.is_dir() and d.name != "plots")
    assert jobs == ["0_4321_none", "1_4321_flood", "2_2_8_none", "3_2_8_flood"]
    root = next((tmp_path / "outputs" / "multirun").glob("*/*"))
    flood = (root / "1_4321_flood" / "report.md").read_text()
    assert "## Shock vs counterfactual" in flood and "P(compensation pool runs dry)" in flood
    assert "claim rate (代偿率)" in flood and "Inside the shock window" in flood
    assert "Shock vs counterfactual" not in (root / "0_4321_none" / "report.md").read_text()
    assert (root / "3_2_8_flood" / "plots" / "shock_vs_counterfactual.png").exists()
    assert (root / "comparison.csv").exists()
    # one comparison report for the sweep: each job, its paired difference from the first, plots
    cmp = (root / "comparison.md").read_text()
    assert "| credit | new lending covered by the scheme |" in cmp
    assert "## Difference from `scenario=4321 shock=none`" in cmp and "common random numbers" in cmp
    assert "P(any guarantor suspended) | % [95% Wilson]" in cmp
    assert "scenario=2_8 shock=flood" in cmp
    assert "x narrower)" in cmp  # the paired interval against the unpaired one
    assert (root / "comparison_table.csv").exists()
    for name in ("comparison_credit_vs_risk.png", "comparison_loss_shares.png", "comparison_leverage.png"):
        assert (root / "plots" / name).stat().st_size > 10_000
    assert "comparison report:" in p.stdout
