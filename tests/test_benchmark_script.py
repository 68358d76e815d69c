"""The benchmark script runs end to end (tiny sizes). It measures nothing here: speed is
only measured by running benchmarks/run.py itself, never asserted in tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_quick_writes_its_table(tmp_path):
    out = tmp_path / "latest.md"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
                           "--jobs", "1", "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text == done.stdout
    rows = [line.strip("|").split("|") for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| case") and not line.startswith("| target")]
    cases = {r[0].strip(): r for r in rows if len(r) == 6}
    quick = {"a. canonical, engine": (2_000, 12, 4), "a1. engine on one core": (2_000, 12, 2),
             "b. full province": (20_000, 12, 1), "c. per-agent Mesa loop": (200, 12, 2),
             "d. floor: 1 uniform draw + compare": (10_000, 12, 2)}
    for label, (n, months, reps) in quick.items():
        cells = [c.strip() for c in cases[label]]
        assert cells[1] == f"{n:,} x {months} x {reps}", cells  # the sizes it says it ran
        assert float(cells[3]) >= 0 and float(cells[4]) > 0  # wall seconds (may round to 0), firm-months/s
    assert cases["b. full province"][5].strip().endswith("GiB")
    targets = [r for r in rows if len(r) == 3]
    assert len(targets) == 5 and all(r[2].strip() in ("yes", "NO") for r in targets)


def test_mesa_agent_loop_does_the_core_work():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from mesa_agents import Firm, FirmLoopModel
    finally:
        sys.path.pop(0)
    import sim

    cfg = sim.load_config("4321", {"firms.n": 1500, "horizon": 12})
    model = FirmLoopModel(cfg, seed=1)
    assert len(model.agents) == 1500 and all(isinstance(a, Firm) for a in model.agents)
    for _ in range(12):
        model.step()
    df = model.datacollector.get_model_vars_dataframe()
    assert len(df) == 12
    assert df.firms_with_loan.iloc[-1] > 0 and df.applicants.sum() > 0
    assert df.defaults.sum() > 0 and df.new_scheme.sum() > 0
