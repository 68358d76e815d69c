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
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text == done.stdout
    for case in ("a. canonical", "a1. engine on one core", "b. full province",
                 "c. per-agent Mesa loop", "d. floor"):
        assert case in text
    assert "| target (issue 4) | measured | met |" in text
    assert text.count("\n| ") >= 11  # 5 cases + 5 targets + the header rows


def test_mesa_agent_loop_does_the_core_work():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from mesa_agents import Firm, FirmLoopModel
    finally:
        sys.path.pop(0)
    import sim

    cfg = sim.load_config("4321", {"firms.n": 300, "horizon": 12})
    model = FirmLoopModel(cfg, seed=1)
    assert len(model.agents) == 300 and all(isinstance(a, Firm) for a in model.agents)
    for _ in range(12):
        model.step()
    df = model.datacollector.get_model_vars_dataframe()
    assert len(df) == 12
    assert df.firms_with_loan.iloc[-1] > 0 and df.applicants.sum() > 0
    assert df.defaults.sum() > 0 and df.new_scheme.sum() > 0
