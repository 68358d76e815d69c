"""Monte Carlo over independent replications.

Replication r gets the r-th child of ``SeedSequence(mc.seed)``, so its numbers depend on
the seed and r only, never on how many workers ran or in what order they finished.
Each replication's time series is written to disk as soon as it finishes (when an output
folder is given), so a long run that is interrupted keeps what it finished.

With a shock, the same replications are run a second time without it (the counterfactual:
same seeds, so common random numbers) unless shock.counterfactual is false; the report
compares the two.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .config import SimConfig, tranche_payer
from .model import GuaranteeModel


def replication_seed(seed: int, r: int) -> np.random.SeedSequence:
    """The r-th child of SeedSequence(seed): the same as SeedSequence(seed).spawn(n)[r] for any n > r."""
    return np.random.SeedSequence(seed, spawn_key=(r,))


def run_replication(cfg: SimConfig, r: int) -> tuple[int, pd.DataFrame, dict, dict]:
    """Run replication r of `cfg`; return (r, monthly time series, summary, phase seconds)."""
    model = GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(cfg.mc.seed, r)))
    model.run()
    ts = pd.DataFrame(model.rows)
    ts.insert(0, "replication", r)
    payers = [tranche_payer(n, t) for n, t in cfg.scheme.tranches.items()]
    summary = {"replication": r, **metrics.summarise(ts, payers, cfg.scheme.shortfall_bearer)}
    return r, ts, summary, dict(model.phase_seconds)


@dataclass
class Results:
    """What a run produced: tidy DataFrames, plus the folder they were written to."""

    config: SimConfig
    timeseries: pd.DataFrame  # one row per replication x month
    replications: pd.DataFrame  # one row per replication
    summary: pd.DataFrame  # one row per metric, aggregated over replications
    phase_seconds: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    out_dir: Path | None = None
    complete: bool = True
    counterfactual: "Results | None" = None  # the same seeds without the shock, if run

    @property
    def scenario(self) -> str:
        return self.config.scheme.name


class Progress:
    """One line on stderr: replications done, elapsed, ETA."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.t0, self.done = total, enabled, time.perf_counter(), 0
        self.tty = sys.stderr.isatty()
        self._last = -1.0

    def tick(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        el = time.perf_counter() - self.t0
        eta = el / self.done * (self.total - self.done)
        if not self.tty and self.done < self.total and el - self._last < 5.0:
            return  # in logs, one line every few seconds is enough
        self._last = el
        msg = f"replication {self.done}/{self.total}  {el:5.1f}s elapsed  ETA {eta:5.1f}s"
        print(("\r" + msg) if self.tty else msg, end="" if self.tty else "\n", file=sys.stderr,
              flush=True)
        if self.tty and self.done == self.total:
            print(file=sys.stderr)


def run_monte_carlo(cfg: SimConfig, out_dir: Path | None = None, progress: bool = True) -> Results:
    """Run cfg.mc.replications replications, on cfg.mc.n_jobs worker processes."""
    from . import report  # report imports matplotlib; keep it off the import path of workers
    from .shocks import has_shocks, without_shocks

    n, jobs = cfg.mc.replications, min(cfg.mc.n_jobs, cfg.mc.replications)
    t0 = time.perf_counter()
    if out_dir is not None:
        report.mark(out_dir, "running", cfg)
    cf = None
    if has_shocks(cfg) and cfg.shock.counterfactual:
        if progress:
            print("counterfactual (the same seeds without the shock):", file=sys.stderr)
        try:
            cf = run_monte_carlo(without_shocks(cfg), None, progress)
        except KeyboardInterrupt:
            if out_dir is not None:
                report.mark(out_dir, "interrupted", cfg, done=0)
            raise
        if progress:
            print(f"with the shock ({cfg.shock.name}):", file=sys.stderr)
    bar = Progress(n, progress)
    got: dict[int, tuple[pd.DataFrame, dict]] = {}
    phases: dict[str, float] = {}

    def keep(r, ts, summ, ph):
        got[r] = (ts, summ)
        for k, v in ph.items():
            phases[k] = phases.get(k, 0.0) + v
        if out_dir is not None:
            report.write_replication(out_dir, r, ts)
        bar.tick()

    complete = True
    try:
        if jobs <= 1:
            for r in range(n):
                keep(*run_replication(cfg, r))
        else:
            with ProcessPoolExecutor(max_workers=jobs) as ex:
                futs = [ex.submit(run_replication, cfg, r) for r in range(n)]
                for fut in as_completed(futs):
                    keep(*fut.result())
    except KeyboardInterrupt:
        complete = False
        print(f"\ninterrupted: {len(got)} of {n} replications finished", file=sys.stderr)
    if not got:
        if out_dir is not None:
            report.mark(out_dir, "interrupted", cfg, done=0)
        raise KeyboardInterrupt
    order = sorted(got)
    ts = pd.concat([got[r][0] for r in order], ignore_index=True)
    reps = pd.DataFrame([got[r][1] for r in order])
    res = Results(cfg, ts, reps, metrics.aggregate(reps), phases,
                  time.perf_counter() - t0, out_dir, complete, cf)
    if out_dir is not None:
        report.write_all(res)
    return res


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
