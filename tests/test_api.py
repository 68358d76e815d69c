"""The Python API researchers use from notebooks."""

import pandas as pd
import pytest

import sim
from conftest import SMALL


def test_two_lines_give_dataframes(tmp_path):
    res = sim.run("4321", SMALL, out_dir=tmp_path / "run")
    assert isinstance(res.summary, pd.DataFrame) and "mean" in res.summary.columns
    assert len(res.replications) == SMALL["mc.replications"]
    assert len(res.timeseries) == SMALL["mc.replications"] * SMALL["horizon"]
    assert (tmp_path / "run" / "report.md").exists()


def test_compare_gives_a_tidy_table_with_intervals():
    t = sim.compare(["4321", "2:8", "bank_only"], SMALL, metrics=["new_lending_total", "loss_bank"])
    lv = t[t.kind == "level"].set_index(["job", "metric"])
    assert list(dict.fromkeys(t.job)) == ["4321", "2:8", "bank_only"]
    assert lv.loc[("4321", "new_lending_total"), "mean"] > lv.loc[("bank_only", "new_lending_total"), "mean"]
    assert (lv.ci_low <= lv["mean"]).all() and (lv["mean"] <= lv.ci_high).all()
    diff = t[t.kind == "difference"]
    assert set(diff.job) == {"2:8", "bank_only"} and diff.paired.all() and (diff.baseline == "4321").all()


def test_overrides_as_list_or_mapping_agree():
    a = sim.load_config("2:8", {"firms.n": 3000, "pool.size": 5e8})
    b = sim.load_config("2:8", ["firms.n=3000", "pool.size=5e8"])
    assert a == b and a.firms.n == 3000 and a.pool.size == 5e8
    # text of a number, as `python -m sim.stress` passes its overrides, is that number
    c = sim.load_config("2:8", {"firms.n": "3000", "pool.size": "5e8", "mc.n_jobs": "2"})
    assert c.firms.n == 3000 and type(c.firms.n) is int and c.mc.n_jobs == 2


@pytest.mark.parametrize("overrides,needle", [
    ({"firms.n": -5}, "firms.n = -5"),
    ({"firms.n": "lots"}, "firms.n = 'lots': must be auto, all or an integer"),
    ({"firms.auto_n": True}, "unknown key 'firms.auto_n'"),
    ({"nope": 1}, "unknown key 'nope'"),
    (["horizon"], "expected key=value"),
])
def test_bad_overrides_raise_config_error(overrides, needle):
    with pytest.raises(sim.ConfigError, match=needle.replace("(", r"\(")):
        sim.load_config("4321", overrides)


def test_list_scenarios():
    names = sim.list_scenarios()
    assert "4321" in names and names["bank_only"]


def test_results_repr_is_short_and_names_the_headline():
    res = sim.run("4321", {"firms.n": 2000, "horizon": 6, "mc.replications": 2})
    r = repr(res)
    assert len(r) < 300 and "\n" not in r
    assert r.startswith("Results(scenario='4321', replications=2, complete, scheme credit ")
    assert "claim rate" in r and "P(any guarantor suspended)" in r
