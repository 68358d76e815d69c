"""The depletion-by-return-period table (sim/stress.py) at toy sizes."""

from __future__ import annotations

from sim import stress

TOY = {"firms.n": 1500, "horizon": 18, "shock.month": 7}


def test_table_rows_and_columns():
    t = stress.depletion_by_return_period(["4321", "2:8"], [10, 100], replications=3, overrides=TOY)
    assert len(t) == 2 * (1 + 2 * 2)
    assert t.groupby("scenario").size().to_dict() == {"4321": 5, "2:8": 5}
    r4321 = t[t.scenario == "4321"]
    for col in ("P(pool dry)", "P(any guarantor dry)", "P(exposed-prefecture guarantor dry)",
                "P(re-guarantor dry)"):
        assert r4321[col].between(0, 100).all()
    assert t[t.scenario == "2:8"]["P(pool dry)"].isna().all()  # 2:8 has no pool tranche
    assert (t[t["mode"] == "stress"].floods_per_run == 1).all()
    assert (t[t["mode"] == "none"].floods_per_run == 0).all()
    md = stress.to_markdown(t, "python -m sim.stress ...", "toy")
    assert "## 4321" in md and "## 2:8" in md and "| stress | 100 |" in md


def test_cli_writes_markdown(tmp_path):
    out = tmp_path / "t.md"
    assert stress.main(["--scenarios", "2:8", "--return-periods", "50", "--replications", "2",
                        "--modes", "stress", "--out", str(out),
                        *(f"{k}={v}" for k, v in TOY.items())]) == 0
    text = out.read_text()
    assert "python -m sim.stress --scenarios 2:8" in text and "| none | - |" in text
    assert "province hunan, 1,500 simulated firms, 2 replications per row" in text


def test_cli_bad_override_is_one_line(capsys):
    assert stress.main(["--replications", "2", "shock.month=999"]) == 2
    assert capsys.readouterr().err.startswith("sim.stress: error: shock.month = 999")


def test_halts_are_counted_once_per_guarantor_and_placed_by_prefecture():
    import numpy as np

    import sim
    from sim import metrics

    # thin guarantors at a coarse sample halt often: enough halts to check the bookkeeping
    r = sim.run("hunan_2_8", {"firms.n": 3000, "mc.replications": 4, "guarantor.capital_mean": 3e7,
                              "quiet": True})
    ts, reps = r.timeseries, r.replications.set_index("replication")
    assert reps.any_guarantor_suspended.sum() > 0
    regions = [reg.name for reg in r.config.province.regions]
    for rep, g in ts.groupby("replication"):
        g = g.sort_values("month")
        halted = g.guarantors_halted.to_numpy()
        assert (np.diff(halted) >= 0).all()  # cumulative
        assert (halted >= g.guarantors_suspended.to_numpy()).all()  # a halted one counts once
        by_region = g[[metrics.halted_column(n) for n in regions]].sum(axis=1).to_numpy()
        assert np.array_equal(by_region, halted)
        assert reps.loc[rep, "guarantors_halted"] == halted[-1]
        assert (halted[-1] > 0) == bool(reps.loc[rep, "any_guarantor_suspended"])


def test_table_has_halts_queue_and_arrival_with_paired_changes():
    t = stress.depletion_by_return_period(["hunan_2_8"], [50], replications=3, modes=("stress",),
                                          overrides={**TOY, "guarantor.capital_mean": 3e7})
    for col in ("P(any guarantor halted)", "mean guarantors halted", "mean peak funds queue bn",
                "mean arrival rate %"):
        assert col in t and col + " change se" in t
    for col in ("P(any guarantor halted)", "mean guarantors halted"):
        assert t[col].notna().all() and t[col + " change se"].iloc[1:].notna().all()
    assert t["halted in (share of runs)"].str.len().gt(0).all()
    md = stress.to_markdown(t, "python -m sim.stress ...", "toy")
    assert "| guarantors halted |" in md and "halted in (share of runs)" in md
