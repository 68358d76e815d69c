"""The Python API: build a config from a scenario and overrides, run it, compare schemes.

    import sim
    res = sim.run("4321", {"mc.replications": 20})
    res.summary, res.replications, res.timeseries      # pandas DataFrames
    sim.compare(["4321", "2:8", "bank_only"])           # headline metrics side by side
    sim.run("4321", {"shock.month": 7}, shock="flood", province="hunan")
    res.counterfactual                                  # the same seeds without the shock
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .config import SimConfig, files, load_config, prepare
from .config.compose import Overrides
from .run.runner import run_monte_carlo
from .run.results import Results


def run(scenario: str | SimConfig = "4321", overrides: Overrides = None,
        out_dir: str | Path | None = None, progress: bool = False, shock: str | None = None,
        province: str | None = None) -> Results:
    """Run a scenario's Monte Carlo and return its Results (DataFrames).

    With out_dir, every output file is written there too, as the CLI does. With a shock
    (and shock.counterfactual true), `Results.counterfactual` holds the same seeds run
    without it.
    """
    cfg = (prepare(scenario) if isinstance(scenario, SimConfig)
           else load_config(scenario, overrides, shock=shock, province=province))
    return run_monte_carlo(cfg, Path(out_dir) if out_dir else None, progress=progress)


def compare(scenario_names: Iterable[str], overrides: Overrides = None,
            metrics: Iterable[str] | None = None, shock: str | None = None,
            province: str | None = None) -> pd.DataFrame:
    """Run several scenarios under the same seed and overrides; one column per scenario,
    one row per summary metric (mean over replications)."""
    cols = {}
    for name in scenario_names:
        res = run(name, overrides, shock=shock, province=province)
        cols[res.scenario] = res.summary["mean"]
    table = pd.DataFrame(cols)
    return table.loc[list(metrics)] if metrics is not None else table


def list_scenarios() -> dict[str, str]:
    """{name: description} of every scenario file."""
    return files.available("scenario")


def list_shocks() -> dict[str, str]:
    """{name: description} of every shock file (conf/shock/)."""
    return files.available("shock")


def list_provinces() -> dict[str, str]:
    """{name: main flood basin} of every province file (conf/province/)."""
    return files.available("province")
