"""What a newcomer runs into first: broken or missing scenario files, keys that do nothing,
which key an error names, an output folder that cannot be written, large runs, empty logs,
and probabilities shown with their uncertainty."""

import pytest

import sim
from sim import cli

FAST = ["mc.replications=2", "firms.n=1500", "horizon=12"]
OK = "scheme:\n  name: ok\n  tranches:\n    bank: {share: 1.0}\n"


def one_error_line(args, tmp_path, monkeypatch, capsys):
    """`python -m sim ARGS` in process must refuse with one line, exit 2, no output folder."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(list(args)) == 2
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert not out.strip() and "Traceback" not in err
    assert not (tmp_path / "outputs").exists()
    return lines[0]


# ------------------------------------------------------------------ 1. scenario files
@pytest.fixture
def scenario_folder(tmp_path, monkeypatch):
    d = tmp_path / "shared"
    d.mkdir()
    (d / "ok.yaml").write_text(OK)
    (d / "bad.yaml").write_text("scheme:\n  name: bad\n  tranches: {bank: {share: 1.0}}: x\n")
    monkeypatch.setenv("SIM_SCENARIOS", str(d))
    return d


def test_malformed_scenario_named_with_its_line(scenario_folder, tmp_path, monkeypatch, capsys):
    line = one_error_line(["scenario=bad", *FAST], tmp_path, monkeypatch, capsys)
    assert line.startswith("sim: error: scenario file bad.yaml: not valid YAML (line 3: "), line


def test_malformed_scenario_does_not_block_the_others(scenario_folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["scenario=ok", *FAST]) == 0
    assert "Scenario ok" in capsys.readouterr().out


def test_help_lists_the_usable_scenarios_and_names_the_broken_one(scenario_folder, capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "  ok " in out and "line 3" in out


def test_empty_scenario_folder_says_so(tmp_path, monkeypatch, capsys):
    d = tmp_path / "empty"
    d.mkdir()
    monkeypatch.setenv("SIM_SCENARIOS", str(d))
    line = one_error_line(["scenario=4321", *FAST], tmp_path, monkeypatch, capsys)
    assert f"no scenario files (*.yaml) found in {d}" in line and "available" not in line, line
    line = one_error_line(FAST, tmp_path, monkeypatch, capsys)  # the default scenario too
    assert "no scenario files" in line, line
    assert cli.main(["--help"]) == 0  # help still works, and says why there are none
    assert "no scenario files" in capsys.readouterr().out


# ------------------------------------------------------------------ 2. keys a group ignores
@pytest.mark.parametrize("arg,needle", [
    ("shock.return_period=100", "shock.return_period = 100.0: has no effect without a shock; "
                                "choose one, e.g. shock=flood (python -m sim --help lists them)"),
    ("shock.month=31", "shock.month = 31: has no effect without a shock"),
    ("shock.severity=2", "shock.severity = 2.0: has no effect without a shock"),
    ("shock.prefectures=[changde]", "shock.prefectures = ['changde']: has no effect"),
    ("shock.sectors=[agriculture]", "shock.sectors = ['agriculture']: has no effect"),
    ("shock.duration=6", "shock.duration = 6: has no effect"),
    ("shock.season=8", "shock.season = 8: has no effect"),
    ("shock.timing=drawn", "shock.timing = 'drawn': has no effect"),
])
@pytest.mark.parametrize("choice", [[], ["shock=none"]])
def test_shock_keys_without_a_shock_are_refused(arg, needle, choice, tmp_path, monkeypatch, capsys):
    line = one_error_line([*choice, arg, *FAST], tmp_path, monkeypatch, capsys)
    assert line == f"sim: error: {needle}" or needle in line, line


def test_shock_keys_with_a_shock_or_at_their_default_are_fine():
    from sim import load_config

    assert load_config("4321", {"shock.month": 19}).shock.kind == "none"  # the default value
    assert load_config("4321", {"shock.return_period": 100.0}, shock="flood").shock.return_period == 100.0


def test_shock_keys_in_a_sweep_with_a_shock_are_fine(monkeypatch):
    """`-m shock=none,flood shock.month=7`: the month is for the flood job."""
    from sim.cli import preflight
    from sim.config.compose import normalise

    assert preflight(normalise(["-m", "shock=none,flood", "shock.month=7", *FAST])) == 2
    with pytest.raises(Exception, match="shock.month = 7: has no effect"):
        preflight(normalise(["-m", "scenario=4321,2:8", "shock.month=7", *FAST]))


# ------------------------------------------------------------------ 3. the key the user typed
@pytest.mark.parametrize("arg,needle", [
    # the other bound is the Hunan preset's, as its calibration block sets it (loans of about
    # 0.27-2.7 m yuan, terms 3-23 months): read from the preset, so that a refit does not
    # change what the test checks
    ("firms.loan_min=3000000", "sim: error: firms.loan_min = 3000000.0: must be <= firms.loan_max ({loan_max:g})"),
    ("firms.loan_max=1000", "sim: error: firms.loan_max = 1000.0: must be >= firms.loan_min ({loan_min:g})"),
    ("firms.term_min=24", "sim: error: firms.term_min = 24: must be <= firms.term_max ({term_max})"),
    ("firms.term_max=2", "sim: error: firms.term_max = 2: must be >= firms.term_min ({term_min})"),
])
def test_cross_field_error_names_the_typed_key_first(arg, needle, tmp_path, monkeypatch, capsys):
    f = sim.load_config("4321").firms
    assert f.loan_max > 3e5 and f.term_max < 24  # the cases above cross the preset's bounds
    needle = needle.format(loan_max=f.loan_max, loan_min=f.loan_min, term_max=f.term_max, term_min=f.term_min)
    assert one_error_line([arg, *FAST], tmp_path, monkeypatch, capsys) == needle


def test_cross_field_error_with_both_keys_typed(tmp_path, monkeypatch, capsys):
    line = one_error_line(["firms.loan_max=1000", "firms.loan_min=2000", *FAST], tmp_path, monkeypatch, capsys)
    assert line == "sim: error: firms.loan_min = 2000.0: must be <= firms.loan_max (1000)"


# ------------------------------------------------------------------ 4. unwritable output folder
def test_unwritable_run_dir_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("a file, not a folder")
    run = tmp_path / "afile" / "run"
    line = one_error_line([f"hydra.run.dir={run}", *FAST], tmp_path, monkeypatch, capsys)
    assert line == (f"sim: error: cannot write the output folder {run}: "
                    f"{tmp_path / 'afile'} is a file, not a folder"), line


def test_unwritable_sweep_dir_and_default_outputs(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("")
    line = one_error_line(["-m", "scenario=4321,2:8", f"hydra.sweep.dir={tmp_path}/afile/s", *FAST],
                          tmp_path, monkeypatch, capsys)
    assert "cannot write the output folder" in line and "afile" in line
    (tmp_path / "outputs").write_text("")  # the default folder is taken by a file
    monkeypatch.chdir(tmp_path)
    assert cli.main(FAST) == 2
    assert "sim: error: cannot write the output folder outputs: " in capsys.readouterr().err


def test_proc_is_not_writable():
    from pathlib import Path

    from sim.config import ConfigError

    with pytest.raises(ConfigError, match=r"^cannot write the output folder /proc/nope: "):
        cli.check_writable(Path("/proc/nope"))
    assert cli.output_root(["hydra.run.dir=out/${now:%H}"]) == Path("out")


# ------------------------------------------------------------------ 5. large runs say so
def test_output_size_estimate():
    from sim import load_config
    from sim.run.writer import estimate_bytes

    big = load_config("4321", {"mc.replications": 2320})
    assert 200e6 < estimate_bytes(big) < 250e6  # 2,320 x 60 months; measured 422 MB with a shock
    shocked = load_config("4321", {"mc.replications": 2320}, shock="flood")
    assert estimate_bytes(shocked) == 2 * estimate_bytes(big)  # the counterfactual doubles it
    assert estimate_bytes(load_config("4321")) < cli.LARGE_OUTPUT_BYTES  # the default is quiet


def test_large_run_warns_once_before_it_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(FAST) == 0
    assert "will write about" not in capsys.readouterr().err
    monkeypatch.setattr(cli, "LARGE_OUTPUT_BYTES", 1000)
    assert cli.main(FAST) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines()
             if ln.startswith("sim: note:") and "will write" in ln]
    assert len(notes) == 1 and "this run will write about 0.038 MB to " in notes[0], notes
    assert "timeseries.csv is the largest" in notes[0] and str(tmp_path / "outputs") in notes[0]


# ------------------------------------------------------------------ 6. no empty log file
def test_run_folder_has_no_empty_log(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(FAST) == 0
    (run,) = [p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]
    assert (run / "summary.csv").is_file()
    assert not [p.name for p in run.glob("*.log") if p.stat().st_size == 0]


# ------------------------------------------------------------------ 7. probabilities with intervals
def test_wilson_interval_known_values():
    from sim.metrics import wilson_interval

    lo, hi = wilson_interval(0, 200)
    assert lo == 0.0 and hi == pytest.approx(0.0188, abs=5e-5)
    assert wilson_interval(5, 20) == pytest.approx((0.112, 0.469), abs=5e-4)
    assert wilson_interval(20, 20)[1] == 1.0


def test_depletion_rows_show_a_wilson_interval(tmp_path, monkeypatch, capsys):
    import pandas as pd

    from sim import report
    from sim.metrics import wilson_interval

    class Res:  # what headline() reads: the summary table and the config
        config = __import__("sim").load_config("4321")
        summary = pd.DataFrame({"n": [200], "mean": [0.0], "p5": [0.0], "p95": [0.0]},
                               index=pd.Index(["pool_depleted"], name="metric"))

    h = report.headline(Res()).set_index("metric")
    row = h.loc["P(compensation pool runs dry)"]
    assert row["unit"] == "% (95% Wilson CI)"
    assert row["mean"] == 0.0 and row["p5"] == 0.0
    assert row["p95"] == pytest.approx(100 * wilson_interval(0, 200)[1])  # 1.88 %, not 0
    monkeypatch.chdir(tmp_path)
    assert cli.main(FAST) == 0
    assert "runs dry)" in (out := capsys.readouterr().out) and "% (95% Wilson CI)" in out
