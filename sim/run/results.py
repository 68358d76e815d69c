"""What a run produced (`Results`), in a module of its own so the runner, the writers and the
report all import it without importing each other."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import SimConfig


class Results:
    """Tidy DataFrames of a run, plus the folder they were written to.

    `timeseries` is a DataFrame, or the path of a Parquet file that is read on first access
    (a run that wrote its folder does not hold every replication's time series in memory).
    """

    def __init__(self, config: SimConfig, timeseries: pd.DataFrame | Path,
                 replications: pd.DataFrame, summary: pd.DataFrame,
                 phase_seconds: dict | None = None, wall_seconds: float = 0.0,
                 out_dir: Path | None = None, complete: bool = True,
                 counterfactual: "Results | None" = None):
        self.config = config
        self._timeseries = timeseries
        self.replications = replications  # one row per replication
        self.summary = summary  # one row per metric, aggregated over replications
        self.phase_seconds = dict(phase_seconds or {})  # summed over replications (CPU seconds)
        self.wall_seconds = wall_seconds  # replications + streaming + aggregation; not the report
        self.out_dir = out_dir
        self.complete = complete
        self.counterfactual = counterfactual  # the same seeds without the shock, if run

    @property
    def timeseries(self) -> pd.DataFrame:
        """One row per replication x month."""
        if not isinstance(self._timeseries, pd.DataFrame):
            self._timeseries = pd.read_parquet(self._timeseries)
        return self._timeseries

    @property
    def scenario(self) -> str:
        return self.config.scheme.name

    def __repr__(self) -> str:
        """Short: the scenario, the replications and three headline means (the tables are
        `summary`, `replications` and `timeseries`)."""
        state = "complete" if self.complete else "incomplete"
        m = self.summary["mean"]

        def get(k, scale, fmt, unit):
            v = m.get(k)
            return "n/a" if v is None or v != v else format(v * scale, fmt) + unit

        return (f"Results(scenario={self.scenario!r}, replications={len(self.replications)}, {state}, "
                f"scheme credit {get('new_lending_scheme', 1e-9, ',.1f', ' bn')}, "
                f"claim rate {get('claim_rate', 100, '.2f', '%')}, "
                f"P(any guarantor suspended) {get('any_guarantor_suspended', 100, '.0f', '%')}, "
                f"out_dir={self.out_dir})")
