"""What a newcomer runs into first: broken or missing scenario files, keys that do nothing,
which key an error names, an output folder that cannot be written, large runs, empty logs,
and probabilities shown with their uncertainty."""

import pytest

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
