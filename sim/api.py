"""The Python API: build a config from a scenario and overrides, run it, compare schemes.

    import sim
    res = sim.run("4321", {"mc.replications": 20})
    res.summary, res.replications, res.timeseries      # pandas DataFrames
    sim.compare(["4321", "2:8", "bank_only"])           # intervals and paired differences
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


def compare(items: Iterable[str | Path | Results], overrides: Overrides = None,
            metrics: Iterable[str] | None = None, shock: str | None = None,
            province: str | None = None, baseline: str | int | None = None,
            plots_dir: str | Path | None = None, progress: bool = False,
            labels: Iterable[str] | None = None) -> pd.DataFrame:
    """Compare schemes; one tidy DataFrame (`sim.comparison.table`): a row per job, metric and
    kind, "level" (mean with its 95% interval) or "difference" from the baseline (paired over
    common random numbers, with the unpaired standard error and how much narrower the paired
    interval is).

    items: scenario names (run here, all under the same seed and overrides), finished run or
    sweep folders (read, nothing is run), or Results already in memory; not mixed with folders.
    baseline: a job's label or position (default the first). labels: the jobs' labels (default
    the scenario, with the shock if any; a folder's overrides). plots_dir: also write the three
    comparison plots and `comparison.md` there.
    """
    from . import comparison

    items = list(items)
    if not items:
        raise ValueError("compare: nothing to compare")
    folders = [i for i in items if isinstance(i, (str, Path)) and Path(i).is_dir()]
    if folders and len(folders) < len(items):
        raise ValueError("compare: give either run folders or scenarios/Results, not both")
    if folders:
        jobs = comparison.load_folders(folders)
        if labels is not None:
            labels = list(labels)
            if len(labels) != len(jobs):
                raise ValueError(f"{len(labels)} labels for {len(jobs)} jobs")
            for j, lab in zip(jobs, labels):
                j.label = lab
    else:
        results = [i if isinstance(i, Results) else
                   run(i, overrides, shock=shock, province=province, progress=progress)
                   for i in items]
        jobs = comparison.from_results(results, labels)
    table = comparison.table(jobs, baseline, metrics)
    if plots_dir is not None:
        comparison.report(jobs, Path(plots_dir), baseline)
    return table


def size_fund(scenario: str = "4321", **kwargs):
    """The smallest fund that keeps a risk at or below a target: `sim.sizing.size_fund` (its
    docstring has the arguments); imported on call so that `python -m sim.sizing` runs cleanly."""
    from .sizing import size_fund as _size_fund

    return _size_fund(scenario, **kwargs)


def list_scenarios() -> dict[str, str]:
    """{name: description} of every scenario file."""
    return files.available("scenario")


def list_shocks() -> dict[str, str]:
    """{name: description} of every shock file (conf/shock/)."""
    return files.available("shock")


def list_provinces() -> dict[str, str]:
    """{name: main flood basin} of every province file (conf/province/)."""
    return files.available("province")
