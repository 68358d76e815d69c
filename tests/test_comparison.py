"""The comparison of schemes: intervals, paired differences under common random numbers, and
the command that reads finished run folders."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import sim
from sim import comparison
from sim.comparison import Job

from conftest import ROOT, SMALL


def job(label, values, seed=1, **more):
    reps = pd.DataFrame({"new_lending_scheme": values, **more},
                        index=pd.RangeIndex(len(values), name="replication"))
    return Job(label, seed, reps)


def test_paired_interval_is_the_sd_of_the_differences():
    """The analytic case: b = a + 1 + small noise, so the paired SE is sd(noise)/sqrt(n) while
    the unpaired one carries the spread of a; narrowing is their ratio."""
    rng = np.random.default_rng(3)
    a = rng.normal(100, 10, 400)
    noise = rng.normal(0, 0.5, 400)
    t = comparison.table([job("a", a), job("b", a + 1 + noise)], metrics=["new_lending_scheme"])
    d = t[t.kind == "difference"].iloc[0]
    assert d.paired and d.method == "paired"
    assert d["mean"] == pytest.approx(1 + noise.mean())
    assert d.se == pytest.approx(noise.std(ddof=1) / math.sqrt(400))
    assert d.unpaired_se == pytest.approx(math.sqrt(a.var(ddof=1) / 400 + (a + noise).var(ddof=1) / 400))
    assert d.narrowing == pytest.approx(d.unpaired_se / d.se) and d.narrowing > 15


def test_different_seeds_fall_back_to_unpaired():
    t = comparison.table([job("a", [1.0, 2, 3]), job("b", [2.0, 3, 5], seed=2)],
                         metrics=["new_lending_scheme"])
    d = t[t.kind == "difference"].iloc[0]
    assert not d.paired and d.method == "unpaired" and math.isnan(d.narrowing)
    assert d.se == pytest.approx(d.unpaired_se)


def test_probability_gets_a_wilson_interval_and_any_depleted_is_derived():
    j = job("a", [1.0] * 20, pool_depleted=[0.0] * 19 + [1.0], guarantor_depleted=[0.0] * 20)
    t = comparison.table([j], metrics=["any_depleted"]).iloc[0]
    assert t.method == "wilson" and t["mean"] == pytest.approx(0.05)
    lo, hi = sim.metrics.wilson_interval(1, 20)
    assert (t.ci_low, t.ci_high) == pytest.approx((lo, hi)) and lo > 0


def test_labels_must_match_the_jobs():
    with pytest.raises(ValueError, match="1 labels for 2 jobs"):
        comparison.from_results([object(), object()], labels=["only one"])


def test_bad_baseline_and_metric_are_named():
    jobs = [job("a", [1.0, 2]), job("b", [1.0, 3])]
    with pytest.raises(ValueError, match="baseline 'c' is not one of the jobs: 'a', 'b'"):
        comparison.table(jobs, baseline="c")
    with pytest.raises(ValueError, match="unknown metric"):
        comparison.table(jobs, metrics=["nope"])


def test_paired_difference_on_real_runs_is_narrower(tmp_path):
    """4321 against 2:8 on common random numbers: the scheme-credit difference's paired SE is
    smaller than the unpaired one (the same firms meet both schemes)."""
    o = {**SMALL, "mc.replications": 8}
    t = sim.compare(["4321", "2:8"], o, metrics=["new_lending_total", "new_lending_scheme"],
                    plots_dir=tmp_path)
    d = t[(t.kind == "difference") & (t.metric == "new_lending_total")].iloc[0]
    assert d.paired and d.narrowing > 1.5, d
    for name in ("comparison_credit_vs_risk", "comparison_loss_shares", "comparison_leverage"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 10_000
    assert "x narrower" in (tmp_path / "comparison.md").read_text()


def test_command_reads_run_folders(tmp_path):
    for name in ("4321", "2:8"):
        sim.run(name, SMALL, out_dir=tmp_path / name.replace(":", "_"))
    cmd = [sys.executable, "-m", "sim.comparison", str(tmp_path / "4321"), str(tmp_path / "2_8"),
           "--baseline", "2_8", "--out", str(tmp_path / "cmp")]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    t = pd.read_csv(tmp_path / "cmp" / "comparison_table.csv")
    assert set(t[t.kind == "difference"].job) == {"4321"} and (t.baseline == "2_8").all()
    assert (tmp_path / "cmp" / "comparison.md").exists()
    bad = subprocess.run([sys.executable, "-m", "sim.comparison", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "nowhere: not a finished run folder" in bad.stderr
    assert "Traceback" not in bad.stderr
