"""The Monte Carlo runner: one loop over replications, whatever the engine.

Replication r gets the r-th child of ``SeedSequence(mc.seed)``, so its numbers depend on
the seed and r only, never on how many workers ran, on which engine, or in what order
they finished.

One task = one replication: `ReplicationTask(r)` runs replication r and returns a
`Replication` (its time series, its summary, its phase timings). With a shock (and
shock.counterfactual true) the same task first runs the counterfactual, the same seed
without the shock (common random numbers), then the shocked model. So a replication and
its counterfactual are finished, streamed and paired together; one progress bar counts
both; and one Ctrl-C ends both passes at once.

`run_replications(cfg, writer, ...)` is the loop. It submits tasks to a
`concurrent.futures` executor (`sim.run.executors`: in-process, a local process pool, or
Dask) in a bounded window of twice the number of task slots, so memory does not grow with
the replication count, and hands every finished `Replication` to `writer.add` in
replication order of completion. The caller chooses the writer: `sim.run.writer.FolderWriter`
streams each replication to disk and writes the output folder (CLI, `sim.run(out_dir=...)`);
`sim.run.writer.MemoryWriter` keeps the results in memory (API runs without a folder, and
`sim.stress`, which keeps only the summaries). The progress bar is tqdm on stderr.

Ctrl-C (SIGINT) stops the run: the handler sets an event and raises KeyboardInterrupt; the
loop waits on futures with a bounded timeout and checks the event too, so an interrupt
raised where Python can only print it (a garbage-collector callback with Dask's threads
about) still stops the run. Then tasks that finished are kept, the rest are cancelled
and local workers terminated, and the writer finishes with ``complete=False`` (status
"interrupted"). If no replication finished, KeyboardInterrupt propagates.
"""

from __future__ import annotations

import concurrent.futures as cf
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from .. import metrics
from ..config import SimConfig, tranche_payer
from ..model import GuaranteeModel
from .executors import EngineError, engine
from .results import Results

__all__ = ["EngineError", "Replication", "ReplicationTask", "Results", "Writer",
           "replication_seed", "run_monte_carlo", "run_replication", "run_replications"]

# Seconds the loop waits for a finished task before it looks at the stop event again.
WAIT_SECONDS = 0.5


def replication_seed(seed: int, r: int) -> np.random.SeedSequence:
    """The r-th child of SeedSequence(seed): the same as SeedSequence(seed).spawn(n)[r] for any n > r."""
    return np.random.SeedSequence(seed, spawn_key=(r,))


def run_replication(cfg: SimConfig, r: int) -> tuple[int, pd.DataFrame, dict, dict]:
    """Run replication r of `cfg`; return (r, monthly time series, summary, phase seconds)."""
    model = GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(cfg.mc.seed, r)))
    while model.running:
        model.step()
    ts = model.timeseries()
    ts.insert(0, "replication", r)
    payers = [tranche_payer(n, t) for n, t in cfg.scheme.tranches.items()]
    summary = {"replication": r, **metrics.summarise(ts, payers, cfg.scheme.shortfall_bearer,
                                                     metrics.final_state(model))}
    model.release()
    return r, ts, summary, dict(model.phase_seconds)


@dataclass
class Replication:
    """One finished task: replication r, and with a counterfactual the same seed without the shock."""

    r: int
    timeseries: pd.DataFrame
    summary: dict
    phase_seconds: dict
    cf_timeseries: pd.DataFrame | None = None
    cf_summary: dict | None = None
    cf_phase_seconds: dict = field(default_factory=dict)


# extra(cfg, timeseries) -> more summary columns of one replication (runs in the worker)
Extra = Callable[[SimConfig, pd.DataFrame], dict]


@dataclass
class ReplicationTask:
    """Picklable callable: task(r) -> Replication. `extra` must be a module-level function."""

    cfg: SimConfig
    counterfactual: bool = False
    extra: Extra | None = None

    @classmethod
    def for_config(cls, cfg: SimConfig, extra: Extra | None = None) -> "ReplicationTask":
        """With the counterfactual when cfg has a shock and shock.counterfactual is true."""
        from ..shocks import has_shocks

        return cls(cfg, bool(has_shocks(cfg) and cfg.shock.counterfactual), extra)

    def __call__(self, r: int) -> Replication:
        cf_ts = cf_summ = None
        cf_ph: dict = {}
        if self.counterfactual:
            from ..shocks import without_shocks

            _, cf_ts, cf_summ, cf_ph = run_replication(without_shocks(self.cfg), r)
        _, ts, summ, ph = run_replication(self.cfg, r)
        if self.extra is not None:
            summ.update(self.extra(self.cfg, ts))
        return Replication(r, ts, summ, ph, cf_ts, cf_summ, cf_ph)


class Writer(Protocol):
    """Where finished replications go. The runner calls start, add per replication, finish."""

    def start(self, cfg: SimConfig) -> None: ...

    def add(self, rep: Replication) -> None: ...

    def finish(self, cfg: SimConfig, complete: bool, wall_seconds: float,
               phase_seconds: dict, cf_phase_seconds: dict) -> Results: ...


class StopFlag:
    """Set by the first Ctrl-C. Ctrl-C raises KeyboardInterrupt where the main thread is, except
    inside `held()`: a replication being handed to the writer is kept whole (its files and its
    summary together), and the interrupt is raised when the block ends."""

    def __init__(self):
        self.event = threading.Event()
        self._held = 0
        self._deferred = False
        # True while the main thread only waits on workers and looks at the flag every
        # WAIT_SECONDS: the first Ctrl-C then just sets it. Raising there could land inside
        # a finalizer (a Dask Future's __del__), where Python prints the exception as
        # "Exception ignored ... Traceback" and drops it.
        self.polled = False

    def is_set(self) -> bool:
        return self.event.is_set()

    def set(self) -> None:
        self.event.set()

    def on_sigint(self, signum, frame) -> None:
        first = not self.event.is_set()
        self.event.set()
        if first and self.polled:
            return
        if self._held:
            self._deferred = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def held(self) -> Iterator[None]:
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if self._deferred and not self._held:
            self._deferred = False
            raise KeyboardInterrupt


@contextmanager
def _sigint_sets_flag() -> Iterator[StopFlag]:
    """While inside: Ctrl-C sets the yielded flag and raises KeyboardInterrupt (outside its
    held blocks); later ones raise again (a second Ctrl-C aborts the writing of the files)."""
    stop = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, stop.on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _bar(cfg: SimConfig, progress: bool):
    from tqdm import tqdm

    class Bar(tqdm):
        # No monitor thread: with a second thread alive, worker processes can no longer
        # be forked (sim.run.executors._mp_context), and the bar is updated often enough.
        monitor_interval = 0

    tty = sys.stderr.isatty()
    return Bar(total=cfg.mc.replications, unit="rep", desc=f"{cfg.scheme.name}", file=sys.stderr,
                disable=not progress, dynamic_ncols=True, mininterval=0.1 if tty else 5.0,
                smoothing=0.1)


def run_replications(cfg: SimConfig, writer: Writer, task: ReplicationTask | None = None,
                     progress: bool = True) -> Results:
    """Run cfg.mc.replications tasks on cfg.mc.engine; every finished one goes to `writer`.

    Returns writer.finish(...): `complete` is False after Ctrl-C. Raises KeyboardInterrupt
    if Ctrl-C came before any replication finished (the writer is finished first).
    """
    task = task or ReplicationTask.for_config(cfg)
    n = cfg.mc.replications
    t0 = time.perf_counter()
    writer.start(cfg)
    phases: dict[str, float] = {}
    cf_phases: dict[str, float] = {}
    done = 0
    complete = True

    def keep(rep: Replication) -> None:
        nonlocal done
        with stop.held():  # a replication is kept whole or not at all
            writer.add(rep)
            for acc, ph in ((phases, rep.phase_seconds), (cf_phases, rep.cf_phase_seconds)):
                for k, v in ph.items():
                    acc[k] = acc.get(k, 0.0) + v
            done += 1
        bar.update(1)

    with _sigint_sets_flag() as stop, _bar(cfg, progress) as bar:
        with engine(cfg) as (ex, slots):
            window = 1 if slots <= 1 else 2 * slots
            pending: dict[cf.Future, int] = {}
            stop.polled = slots > 1  # workers run the tasks; this thread only waits
            try:
                nxt = 0
                while nxt < n or pending:
                    while nxt < n and len(pending) < window and not stop.is_set():
                        pending[ex.submit(task, nxt)] = nxt  # in-process: runs it now
                        nxt += 1
                    finished, _ = cf.wait(pending, timeout=WAIT_SECONDS,
                                          return_when=cf.FIRST_COMPLETED)
                    if stop.is_set():
                        raise KeyboardInterrupt
                    for fut in sorted(finished, key=pending.__getitem__):
                        del pending[fut]
                        keep(fut.result())
                # A Ctrl-C that came while the last replications were being kept only set the
                # flag (the loop has no wait left to see it): it still stops the run, or a study
                # running one point after another would go on to the next.
                if stop.is_set():
                    raise KeyboardInterrupt
            except KeyboardInterrupt:
                stop.set()
                complete = False
                # Replications that finished while we were busy are kept too.
                for fut in sorted(pending, key=pending.__getitem__):
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        keep(fut.result())
                for fut in pending:
                    fut.cancel()
                ex.shutdown(wait=False)  # local workers are terminated, Dask tasks cancelled
            finally:
                stop.polled = False  # from here a first Ctrl-C raises again
    if not complete:
        print(f"interrupted: {done} of {n} replications finished", file=sys.stderr)
    res = writer.finish(cfg, complete, time.perf_counter() - t0, phases, cf_phases)
    if done == 0 and not complete:
        raise KeyboardInterrupt
    return res


def run_monte_carlo(cfg: SimConfig, out_dir: Path | None = None, progress: bool = True) -> Results:
    """Run cfg's replications; with out_dir write the output folder (`sim.run.writer`), else keep
    everything in memory. The caller-side shortcut the CLI and `sim.run` use."""
    from .writer import FolderWriter, MemoryWriter

    writer = FolderWriter(Path(out_dir)) if out_dir is not None else MemoryWriter()
    return run_replications(cfg, writer, progress=progress)


def run_summaries(cfg: SimConfig, jobs: int | None = None, extra: Extra | None = None,
                  progress: bool = False) -> Results:
    """Run cfg's replications keeping only their summaries (no time series, no counterfactual):
    what studies that run many configurations need (sim.stress, sim.sizing). jobs: worker
    processes, None = the config's mc.n_jobs. Results.complete is False after Ctrl-C
    (KeyboardInterrupt if none finished)."""
    from dataclasses import replace

    from .writer import MemoryWriter

    if jobs is not None:
        cfg = replace(cfg, mc=replace(cfg.mc, n_jobs=jobs, n_jobs_from=""))
    return run_replications(cfg, MemoryWriter(keep_timeseries=False),
                            ReplicationTask(cfg, counterfactual=False, extra=extra), progress=progress)

