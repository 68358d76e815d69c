"""`python -m sim` exactly as users type it, and what it refuses."""

import json

import pandas as pd
import pytest

import sim
from sim import cli
from sim.config.rules import needed_n

FAST = ["mc.replications=2", "firms.n=1500", "horizon=12"]
OUTPUT_FILES = ["status.json", "config.yaml", "timeseries.parquet", "timeseries.csv",
                "replications.parquet", "replications.csv", "summary.csv", "summary.txt", "report.md",
                "plots/outstanding_credit.png", "plots/losses_by_party.png"]
# plots only of the institutions a scheme has: guarantors' leverage, the compensation funds
SCHEME_PLOTS = {"4321": ["plots/guarantor_leverage.png", "plots/pool_balance.png"],
                "2:8": ["plots/guarantor_leverage.png"], "3:7": ["plots/guarantor_leverage.png"],
                "bank_only": []}


def run_dirs(cwd):
    return sorted(p for p in (cwd / "outputs").glob("*/*") if p.is_dir()) if (cwd / "outputs").exists() else []


def main_in_process(args, tmp_path, monkeypatch, capsys):
    """`python -m sim ARGS` through the same main(), in this process; (exit code, stdout)."""
    monkeypatch.chdir(tmp_path)
    code = cli.main(list(args))
    return code, capsys.readouterr().out


# The first two as a new process (the real command line), the others in process.
@pytest.mark.parametrize("scenario,name,real", [("4321", "4321", True), ("2:8", "2:8", True),
                                                ("3:7", "3:7", False), ("bank_only", "bank_only", False)])
def test_run_as_typed_writes_complete_report(run_cli, tmp_path, monkeypatch, capsys, scenario, name, real):
    if real:
        p = run_cli(f"scenario={scenario}", *FAST)
        code, out, cwd = p.returncode, p.stdout, p.cwd
        assert code == 0, p.stderr
    else:
        (code, out), cwd = main_in_process([f"scenario={scenario}", *FAST], tmp_path, monkeypatch, capsys), tmp_path
        assert code == 0
    assert f"Scenario {name}" in out and "claim rate" in out
    (d,) = run_dirs(cwd)
    for f in OUTPUT_FILES + SCHEME_PLOTS[scenario]:
        assert (d / f).is_file(), f
    for f in {"plots/guarantor_leverage.png", "plots/pool_balance.png"} - set(SCHEME_PLOTS[scenario]):
        assert not (d / f).exists(), f
    status = json.loads((d / "status.json").read_text())
    assert status["state"] == "complete" and status["replications"] == 2
    ts = pd.read_parquet(d / "timeseries.parquet")
    assert len(ts) == 2 * 12 and set(ts.replication) == {0, 1}
    assert len(pd.read_csv(d / "replications.csv")) == 2
    assert not (d / "replications").exists()  # per-replication parts are merged at the end
    assert f"name: '{name}'" in (d / "config.yaml").read_text() or f"name: {name}" in (d / "config.yaml").read_text()


def test_default_command_runs_the_4321_scheme(tmp_path, monkeypatch, capsys):
    code, out = main_in_process(FAST, tmp_path, monkeypatch, capsys)
    assert code == 0
    assert "Scenario 4321" in out


def test_multirun_sweep_as_typed(run_cli):
    p = run_cli("-m", "scenario=4321,2:8", *FAST)
    assert p.returncode == 0, p.stderr
    jobs = sorted(d for d in (p.cwd / "outputs" / "multirun").glob("*/*/*_*") if d.is_dir())
    assert [j.name for j in jobs] == ["0_4321_none", "1_2_8_none"]
    for j in jobs:
        assert json.loads((j / "status.json").read_text())["state"] == "complete"
    (cmp,) = (p.cwd / "outputs" / "multirun").glob("*/*/comparison.csv")
    table = pd.read_csv(cmp, index_col=0)
    assert list(table.columns) == ["0_4321_none", "1_2_8_none"]
    # the printed sweep table is labelled by what differs between the jobs
    assert "scenario=4321 " in p.stdout and "scenario=2_8 " in p.stdout
    (sweep,) = (p.cwd / "outputs" / "multirun").glob("*/*/sweep_table.csv")
    assert len(pd.read_csv(sweep)) == 2


@pytest.mark.parametrize("args,needle", [
    (["scheme.tranches.bank.share=1.5"], "scheme.tranches.bank.share = 1.5: must be a number in [0, 1]"),
    (["scheme.tranches.bank.share=0.3"], "shares must sum to 1"),
    (["scheme.guarantee_fee=-0.01"], "scheme.guarantee_fee = -0.01"),
    (["guarantor.leverage_cap=0"], "guarantor.leverage_cap = 0"),
    (["horizon=0"], "horizon = 0: must be an integer"),
    (["horizon=abc"], "horizon = 'abc': must be an integer"),
    (["mc.replications=0"], "mc.replications = 0"),
    (["firms.n=0"], "firms.n = 0: must be auto, all or an integer in [1, 50000000]"),
    (["firms.n=-3"], "firms.n = -3: must be auto, all or an integer in [1, 50000000]"),
    (["firms.n=lots"], "firms.n = 'lots': must be auto, all or an integer in [1, 50000000]"),
    (["firms.n=1.5"], "firms.n = 1.5: must be auto, all or an integer in [1, 50000000]"),
    (["firms.n=2000000"], "firms.n = 2000000: must be <= province.firms_total (1864000)"),
    (["firms.auto_n=true"], "unknown key 'firms.auto_n'"),
    (["firms.n_from=auto"], "firms.n_from = 'auto': is set by the program"),
    (["mc.n_jobs=0"], "mc.n_jobs = 0: must be auto or an integer in [1, 256]"),
    (["mc.n_jobs=many"], "mc.n_jobs = 'many': must be auto or an integer in [1, 256]"),
    (["no_such_key=1"], "unknown key 'no_such_key'"),
    (["scenario=9999"], "unknown scenario; available: 2_8 (2:8), 4321"),
    (["-m", "scenario=4321,nope"], "scenario = 'nope': unknown scenario"),
    (["-m", "scenario=4321,2:8", "pool.size=-1"], "pool.size = -1"),
    (["pool.replenish=weekly"], "must be one of none, annual, top_up"),
    (["scheme.tranches.bank.payer=alien"], "must be one of bank, guarantor"),
    (["scheme.shortfall_bearer=guarantor"], "scheme.shortfall_bearer = 'guarantor': must be one of bank,"),
    (["4321"], "'4321' is not key=value; did you mean scenario=4321?"),
    (["pool.size=[1"], "could not read the arguments: no viable alternative at input '[1'"),
])
def test_bad_input_one_line_no_output(tmp_path, monkeypatch, capsys, args, needle):
    """In process: the same main() as `python -m sim`, without a new interpreter per case."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(args) == 2
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]
    assert not out.strip()
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("args,needle", [
    (["scheme.tranches.bank.share=1.5"], "scheme.tranches.bank.share = 1.5: must be a number in [0, 1]"),
    (["-m", "scenario=4321,2:8", "pool.size=-1"], "pool.size = -1"),
    (["firms.n=lots"], "firms.n = 'lots': must be auto, all or an integer in [1, 50000000]"),
    (["firms.auto_n=true"], "unknown key 'firms.auto_n'"),
])
def test_bad_input_real_command_line(run_cli, args, needle):
    """The real command line: exit code 2, one line, no traceback, no output folder."""
    p = run_cli(*args)
    assert p.returncode == 2
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in p.stderr + p.stdout
    assert not (p.cwd / "outputs").exists()


def test_scenario_files_are_data_not_code(run_cli, tmp_path):
    """A shared scenario file cannot make the program instantiate anything."""
    d = tmp_path / "shared_scenarios"
    d.mkdir()
    (d / "evil.yaml").write_text(
        "scheme:\n  name: evil\n  tranches:\n    bank: {share: 1.0}\n"
        "  _target_: os.system\n  _args_: ['touch pwned']\n")
    (d / "ok.yaml").write_text("scheme:\n  name: ok\n  tranches:\n    bank: {share: 1.0}\n")
    p = run_cli("scenario=evil", *FAST, env={"SIM_SCENARIOS": str(d)})
    assert p.returncode == 2 and "key 'scheme._target_' is not allowed" in p.stderr
    assert not (p.cwd / "pwned").exists()
    p = run_cli("scenario=ok", *FAST, env={"SIM_SCENARIOS": str(d)})
    assert p.returncode == 0, p.stderr


def test_help_lists_scenarios_and_keys(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for s in ("4321", "2_8", "bank_only", "full_guarantee", "jiangxi_4321", "hebei_4321"):
        assert s in out
    for k in ("mc.replications", "guarantor.leverage_cap", "pool.size", "scheme.tranches"):
        assert k in out


def test_a_coarse_firms_n_gets_a_note_and_auto_none(tmp_path, monkeypatch, capsys):
    """A number too coarse for firms.max_grain runs with a note that advises firms.n=auto;
    firms.n=auto (the default) passes the grain check, so no note. The header names the
    number of firms and the word it was resolved from."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(FAST) == 0
    out, err = capsys.readouterr()
    need = f"{needed_n(sim.load_config('4321')):,}"
    assert f"use firms.n=auto ({need} firms here) or a larger number" in err
    assert "auto_n" not in err
    assert "1,500 simulated firms standing for" in out
    assert cli.main(["mc.replications=1", "horizon=1", "quiet=true"]) == 0
    out, err = capsys.readouterr()
    assert "sim: note" not in err
    assert f"{need} simulated firms (firms.n=auto) standing for 1,864,000 (hunan)" in out
    thin = sim.load_config("4321", {"firms.n": "all", "guarantor.capital_mean": 1e6})
    assert "even every firm of the province (1,864,000) is too coarse" in cli.grain_note(thin)


def test_config_yaml_records_the_resolved_numbers_and_reloads_to_the_same_config(tmp_path, monkeypatch):
    """config.yaml holds firms.n and mc.n_jobs as the numbers the run used, with the words
    they came from; composing it back (a merge onto the schema, then prepare) gives the same
    config, so a run can be reproduced from its folder."""
    from omegaconf import OmegaConf

    from sim.config import SimConfig, prepare

    monkeypatch.chdir(tmp_path)
    assert cli.main(["mc.replications=2", "horizon=2", "quiet=true", "firms.n=all",
                     "province.firms_total=60000", "hydra.run.dir=run"]) == 0
    text = (tmp_path / "run" / "config.yaml").read_text()
    assert "  'n': 60000\n  n_from: all\n" in text and "  n_jobs_from: auto\n" in text
    ran = OmegaConf.load(tmp_path / "run" / "config.yaml")
    assert isinstance(ran.firms.n, int) and isinstance(ran.mc.n_jobs, int)
    again = prepare(OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SimConfig), ran)))
    assert again == sim.load_config("4321", {"mc.replications": 2, "horizon": 2, "quiet": True,
                                             "firms.n": "all", "province.firms_total": 60000})
