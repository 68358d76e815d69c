"""Sensitivity analysis (sim.sensitivity): the SALib problem is checked by the config validator,
every point runs on the same seeds, and Morris tells an input the model uses from one it
ignores."""

import pandas as pd
import pytest

import sim
from sim import sensitivity as S
from sim.points import build, with_values

# 2:8 has no pool tranche, so the funds never receive a claim: pool.patience cannot change
# anything there, while the bank's appetite and the application rate move credit directly.
TINY = {"firms.n": 2000, "horizon": 12, "mc.replications": 3, "mc.seed": 11}


def test_problem_bounds_go_through_the_config_validator():
    ok = S.problem(S.inputs_named(["bank.moral_hazard", "pd_scale"]), "4321", TINY)
    assert ok["names"] == ["bank.moral_hazard", "pd_scale"]
    assert ok["bounds"] == [[0.0, 4.0], [0.7, 1.5]]
    with pytest.raises(sim.ConfigError, match=r"bank.moral_hazard = 40.0: must be a number in \[0, 10\]"):
        S.problem([S.Input("bank.moral_hazard", 0, 40, ""), S.INPUTS[0]], "4321", TINY)
    # a PD scale that pushes a prefecture's PD to 1 is refused by the region PD rule
    with pytest.raises(sim.ConfigError, match=r"pd_scale = 40.0: province.regions\[\d+\].pd"):
        S.problem([S.Input("pd_scale", 0.5, 40, ""), S.INPUTS[0]], "4321", TINY)
    with pytest.raises(sim.ConfigError, match="unknown key 'bank.no_such_key'"):
        S.problem(S.inputs_named(["bank.no_such_key=0:1", "pd_scale"]), "4321", TINY)
    with pytest.raises(sim.ConfigError, match="low must be below high"):
        S.problem([S.Input("bank.moral_hazard", 3, 1, ""), S.INPUTS[0]], "4321", TINY)


def test_every_default_input_range_is_allowed_by_the_config():
    prob = S.problem(S.INPUTS, "4321", TINY)  # raises on the first bound that is not allowed
    assert prob["num_vars"] == len(S.INPUTS) >= 8


def test_pd_scale_multiplies_every_prefecture_pd():
    base = build("4321", {}, TINY)
    scaled = build("4321", {"pd_scale": 1.5}, TINY)
    assert [1.5 * r.pd for r in base.province.regions] == pytest.approx(
        [r.pd for r in scaled.province.regions])


def test_points_share_seeds_and_stream_to_csv(tmp_path):
    """Two equal points give equal numbers (same seed, same firms), and every finished point
    is in the CSV as it finishes."""
    pts = pd.DataFrame({"bank.moral_hazard": [1.0, 1.0, 3.0], "pd_scale": [1.0, 1.0, 1.0]})
    out = S.evaluate(pts, "4321", TINY, out_csv=tmp_path / "p.csv")
    assert out.attrs["complete"] and len(out) == 3
    for o in S.OUTPUTS:
        assert out.loc[0, o] == out.loc[1, o]
    assert out.loc[0, "new_lending_scheme"] != out.loc[2, "new_lending_scheme"]
    on_disk = pd.read_csv(tmp_path / "p.csv")
    assert on_disk.new_lending_scheme.tolist() == pytest.approx(out.new_lending_scheme.tolist())


def test_morris_ranks_an_input_the_model_uses_above_one_it_ignores():
    ins = S.inputs_named(["firms.apply_rate", "pool.patience", "bank.max_expected_loss"])
    rank, idx, pts = S.morris("2:8", ins, TINY, trajectories=3)
    assert len(pts) == 3 * (len(ins) + 1)
    patience = idx[idx.input == "pool.patience"]
    assert (patience.mu_star == 0).all()  # exactly: same seeds, nothing it could change
    apply = idx[(idx.input == "firms.apply_rate") & (idx.output == "new_lending_scheme")].iloc[0]
    assert apply.mu_star > apply.mu_star_conf > 0  # resolved from the noise
    assert rank.index[-1] == "pool.patience"
    assert rank.loc["firms.apply_rate", "overall rank"] < rank.loc["pool.patience", "overall rank"]


def test_sobol_gives_no_variance_to_an_ignored_input():
    ins = S.inputs_named(["firms.apply_rate", "pool.patience"])
    idx, pts = S.sobol("2:8", ins, TINY, n=4)
    assert len(pts) == 4 * (len(ins) + 2)
    patience = idx[idx.input == "pool.patience"]
    assert (patience.ST.abs() < 1e-12).all()
    credit = idx[(idx.input == "firms.apply_rate") & (idx.output == "new_lending_scheme")].iloc[0]
    assert credit.ST > 0.5


@pytest.mark.parametrize("argv, needle", [
    (["morris", "--inputs", "foo"], "--inputs 'foo': not a known input"),
    (["sobol", "--inputs", "pd_scale", "bank.moral_hazard", "--n", "12"], "--n 12: must be a power of 2"),
    (["morris", "--inputs", "bank.moral_hazard=0:40", "pd_scale"], "bank.moral_hazard = 40.0"),
    (["sobol"], "--inputs: sobol needs"),
])
def test_command_refuses_bad_input_in_one_line(argv, needle, capsys, tmp_path):
    assert S.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_setting_values_on_a_composed_config_equals_composing_them():
    """with_values (fast, used for every point) gives the config load_config would."""
    values = {"bank.moral_hazard": 3.0, "guarantor.loss_tolerance": 0.01, "pool.patience": 4.0,
              "copula.rho_macro": 0.06, "scheme.tranches.bank.share": 0.3,
              "scheme.tranches.guarantor.share": 0.3, "pool.payout_delay": 2.0}
    fast = with_values(sim.load_config("4321", TINY), values)
    slow = sim.load_config("4321", {**TINY, **values, "pool.payout_delay": 2})
    assert fast == slow
    with pytest.raises(sim.ConfigError, match="unknown key 'bank.nope'"):
        with_values(slow, {"bank.nope": 1.0})
    with pytest.raises(sim.ConfigError, match="scheme.tranches = .*shares must sum to 1"):
        with_values(slow, {"scheme.tranches.bank.share": 0.5})


def test_morris_plot_rows_are_the_same_input_in_every_panel():
    """Each panel's bar in a row belongs to the input named on that row (one order for all
    panels), even when the outputs rank the inputs differently."""
    import matplotlib

    matplotlib.use("Agg")
    idx = pd.DataFrame({"output": ["a", "a", "a", "b", "b", "b"], "unit": "x",
                        "input": ["p", "q", "r"] * 2, "mu_star": [3.0, 2.0, 1.0, 1.0, 5.0, 2.0],
                        "mu_star_conf": 0.1})
    fig = S.plot_morris(idx)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    for ax, out in zip(fig.axes, ["a", "b"]):
        widths = {lab: bar.get_width() for lab, bar in zip(labels, ax.patches)}
        want = idx[idx.output == out].set_index("input").mu_star.to_dict()
        assert widths == want


def test_ctrl_c_leaves_the_finished_points_readable(tmp_path):
    """Ctrl-C in `python -m sim.sensitivity`: exit 130, and every point finished before it is
    in the CSV (a point cut short is not)."""
    import os
    import select
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-m", "sim.sensitivity", "morris", "--inputs", "bank.moral_hazard",
            "pd_scale", "--trajectories", "20", "--out", str(tmp_path),
            "firms.n=2000", "horizon=12", "mc.replications=3"]
    p = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"},
                         # Ctrl-C's default action in the child even when this test runs in the
                         # background of a shell (which starts it with SIGINT ignored, and an
                         # ignored signal stays ignored across exec)
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen, deadline = "", time.monotonic() + 120
    while "point 2/" not in seen and time.monotonic() < deadline and p.poll() is None:
        if select.select([p.stderr], [], [], 1)[0]:
            seen += p.stderr.readline()
    assert "point 2/" in seen, seen
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "morris_points.csv" in err
    done = pd.read_csv(tmp_path / "morris_points.csv")
    assert 2 <= len(done) < 60 and done.n.eq(3).all()
    assert not (tmp_path / "morris.md").exists()
