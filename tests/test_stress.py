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
