"""Monte Carlo over independent replications, on one core, local cores or a Dask cluster.

Replication r gets the r-th child of ``SeedSequence(mc.seed)``, so its numbers depend on
the seed and r only, never on how many workers ran, on which engine, or in what order
they finished.

Engines (``mc.engine``, ``mc.n_jobs``):

- ``local`` with ``n_jobs = 1``: replications run one after the other in this process;
- ``local`` with ``n_jobs > 1``: a pool of ``n_jobs`` worker processes on this machine;
- ``dask``: Dask distributed workers. With ``mc.dask_address`` the run connects to a
  running scheduler (a cluster started by ``dask scheduler`` / ``dask worker``, by
  dask-jobqueue on SLURM, ...); without it a LocalCluster of ``n_jobs`` single-threaded
  worker processes is started on 127.0.0.1 for this run.

Each replication's time series is written to disk as soon as it finishes (when an output
folder is given), so an interrupted run keeps what it finished. Ctrl-C (SIGINT) stops the
run: pending replications are cancelled, local workers are stopped, the finished ones are
aggregated and written, and ``status.json`` says ``interrupted``.

With a shock, the same replications are run a second time without it (the counterfactual:
same seeds, so common random numbers) unless shock.counterfactual is false; the report
compares the two.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .config import SimConfig, tranche_payer
from .model import GuaranteeModel

class EngineError(RuntimeError):
    """The engine could not run replications (e.g. no Dask scheduler at the address)."""


Keep = Callable[[int, pd.DataFrame, dict, dict], None]


def replication_seed(seed: int, r: int) -> np.random.SeedSequence:
    """The r-th child of SeedSequence(seed): the same as SeedSequence(seed).spawn(n)[r] for any n > r."""
    return np.random.SeedSequence(seed, spawn_key=(r,))


def run_replication(cfg: SimConfig, r: int, on_month: Callable[[int], None] | None = None
                    ) -> tuple[int, pd.DataFrame, dict, dict]:
    """Run replication r of `cfg`; return (r, monthly time series, summary, phase seconds).

    on_month(months_done) is called after every month (used for the progress bar).
    """
    model = GuaranteeModel(cfg, rng=np.random.default_rng(replication_seed(cfg.mc.seed, r)))
    while model.running:
        model.step()
        if on_month is not None:
            on_month(model.month)
    ts = model.timeseries()
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
    phase_seconds: dict = field(default_factory=dict)  # summed over replications (CPU seconds)
    wall_seconds: float = 0.0  # replications + streaming + aggregation; not the report files
    out_dir: Path | None = None
    complete: bool = True
    counterfactual: "Results | None" = None  # the same seeds without the shock, if run

    @property
    def scenario(self) -> str:
        return self.config.scheme.name


# ------------------------------------------------------------------ progress
def _clock(s: float) -> str:
    s = max(int(round(s)), 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A progress bar with ETA on stderr: `[######......] 37/100 replications  0:12 elapsed  ETA 0:21`.

    On a terminal the bar redraws in place (at most 10 times a second); in a log file a line
    is printed every 5 seconds and at the end. When replications run in this process the
    bar also moves month by month, so a single long replication shows its ETA too.
    """

    WIDTH = 24

    def __init__(self, total: int, enabled: bool, months: int = 1, stream=None):
        self.total, self.enabled, self.months = total, enabled, max(months, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.done = 0
        self._partial = 0.0  # fraction of the running replication (in-process runs only)
        self._last = -1e9
        self._drawn = False

    def month(self, months_done: int) -> None:
        self._partial = months_done / self.months
        self._draw(final=False)

    def tick(self) -> None:
        self.done += 1
        self._partial = 0.0
        self._draw(final=self.done == self.total)

    def line(self) -> str:
        el = time.perf_counter() - self.t0
        frac = min((self.done + self._partial) / self.total, 1.0)
        eta = el / frac * (1.0 - frac) if frac > 0 else float("nan")
        fill = int(round(frac * self.WIDTH))
        bar = "#" * fill + "." * (self.WIDTH - fill)
        eta_s = _clock(eta) if eta == eta else "?"
        return (f"[{bar}] {self.done}/{self.total} replications  {_clock(el)} elapsed  "
                f"ETA {eta_s}")

    def _draw(self, final: bool) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        gap = 0.1 if self.tty else 5.0
        if not final and now - self._last < gap:
            return
        self._last = now
        if self.tty:
            print("\r" + self.line(), end="\n" if final else "", file=self.stream, flush=True)
        else:
            print(self.line(), file=self.stream, flush=True)
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (after an interruption, so the next message starts clean)."""
        if self.enabled and self.tty and self._drawn and self.done < self.total:
            print(file=self.stream, flush=True)


# ------------------------------------------------------------------ engines
def _ignore_sigint() -> None:
    # Ctrl-C on a terminal reaches every process of the foreground group; only the parent
    # decides what to do with it (cancel, stop the workers, write what finished).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _mp_context():
    """How worker processes start.

    fork when this process has a single thread: fastest, and scripts without an
    `if __name__ == "__main__":` guard work. With other threads running (a Dask client, a
    launcher's helper threads) forking is unsafe, so forkserver; spawn where neither exists.
    """
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.montecarlo"])
        return ctx
    return mp.get_context("spawn")


def _stop_pool(ex: ProcessPoolExecutor) -> None:
    """Cancel what has not started and stop the workers now, running replications included."""
    terminate = getattr(ex, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)


@contextmanager
def _sigint_sets_flag():
    """While inside: Ctrl-C (SIGINT) sets the yielded Event instead of raising
    KeyboardInterrupt wherever the main thread happens to be. With Dask's scheduler and
    client threads in this process, an exception raised at a random point (e.g. inside a
    garbage-collector callback, where Python only prints it) can be lost; the loop that
    waits for results checks the flag and raises KeyboardInterrupt itself."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_serial(cfg: SimConfig, reps: Sequence[int], keep: Keep, bar: Progress) -> None:
    for r in reps:
        keep(*run_replication(cfg, r, on_month=bar.month if bar.enabled else None))


def _run_pool(cfg: SimConfig, reps: Sequence[int], jobs: int, keep: Keep) -> None:
    ex = ProcessPoolExecutor(max_workers=jobs, mp_context=_mp_context(), initializer=_ignore_sigint)
    futs = [ex.submit(run_replication, cfg, r) for r in reps]
    kept: set = set()
    try:
        for fut in as_completed(futs):
            keep(*fut.result())
            kept.add(fut)
    except KeyboardInterrupt:
        for fut in futs:
            fut.cancel()
        # Replications that finished while we were busy are kept too.
        for fut in futs:
            if fut not in kept and fut.done() and not fut.cancelled() and fut.exception() is None:
                keep(*fut.result())
        _stop_pool(ex)
        raise
    except BaseException:
        _stop_pool(ex)
        raise
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _run_dask(cfg: SimConfig, reps: Sequence[int], jobs: int, keep: Keep) -> None:
    from distributed import Client, LocalCluster, as_completed as dask_completed

    cluster = None
    if cfg.mc.dask_address:
        # Connect timeout: Dask's `distributed.comm.timeouts.connect` (30 s by default).
        try:
            client = Client(cfg.mc.dask_address)
        except OSError as e:
            raise EngineError(f"mc.dask_address = {cfg.mc.dask_address!r}: no Dask scheduler "
                              f"answered ({str(e).splitlines()[0]})") from None
    else:
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGINT) if in_main else None
        try:
            # Worker processes started while SIGINT is ignored keep ignoring it, so Ctrl-C on
            # a terminal (which reaches the whole process group) is handled here only.
            if in_main:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            with warnings.catch_warnings():
                # The scheduler's small HTTP server (health checks) moves off port 8787
                # when another cluster holds it, and says so; harmless here.
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       # a task's error comes back with its result; the
                                       # workers' log lines at shutdown are only noise
                                       silence_logs=logging.CRITICAL)
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
        client = Client(cluster)
    futs = []
    kept: set = set()
    try:
        with _sigint_sets_flag() as stop:
            # pure=False: every replication is its own task even though the arguments repeat.
            futs = [client.submit(run_replication, cfg, r, pure=False) for r in reps]
            done = dask_completed(futs)
            while not done.is_empty():
                if stop.is_set():
                    raise KeyboardInterrupt
                batch = done.next_batch(block=False)
                if not batch:
                    stop.wait(0.05)
                for fut in batch:
                    keep(*fut.result())
                    kept.add(fut.key)
    except KeyboardInterrupt:
        client.cancel([f for f in futs if f.status == "pending"])
        for fut in futs:
            if fut.key not in kept and fut.status == "finished":
                try:  # its data may sit on a worker that is gone: do not wait for it
                    keep(*fut.result(timeout=5))
                except Exception:
                    pass
        raise
    finally:
        client.close(timeout=10)
        if cluster is not None:
            cluster.close(timeout=10)


def run_monte_carlo(cfg: SimConfig, out_dir: Path | None = None, progress: bool = True) -> Results:
    """Run cfg.mc.replications replications on the engine cfg.mc.engine selects.

    Returns Results over the replications that finished; `complete` is False after Ctrl-C.
    With out_dir, each replication's time series lands in out_dir/replications/ as soon
    as it finishes, and every output file is written at the end (see `sim.report`).
    """
    from . import report  # report imports matplotlib; keep it off the import path of workers
    from .shocks import has_shocks, without_shocks

    n = cfg.mc.replications
    jobs = min(cfg.mc.n_jobs, n)
    t0 = time.perf_counter()
    if out_dir is not None:
        report.mark(out_dir, "running", cfg, done=0, wanted=n)
    cf = None
    if has_shocks(cfg) and cfg.shock.counterfactual:
        if progress:
            print("counterfactual (the same seeds without the shock):", file=sys.stderr)
        try:
            cf = run_monte_carlo(without_shocks(cfg), None, progress)
        except KeyboardInterrupt:
            if out_dir is not None:
                report.mark(out_dir, "interrupted", cfg, done=0, wanted=n)
            raise
        if progress:
            print(f"with the shock ({cfg.shock.name}):", file=sys.stderr)
    bar = Progress(n, progress, months=cfg.horizon)
    got: dict[int, tuple[pd.DataFrame, dict]] = {}
    phases: dict[str, float] = {}

    def keep(r, ts, summ, ph):
        if r in got:
            return
        if out_dir is not None:
            report.write_replication(out_dir, r, ts)
        got[r] = (ts, summ)
        for k, v in ph.items():
            phases[k] = phases.get(k, 0.0) + v
        bar.tick()

    complete = True
    try:
        if cfg.mc.engine == "dask":
            _run_dask(cfg, range(n), jobs, keep)
        elif jobs <= 1:
            _run_serial(cfg, range(n), keep, bar)
        else:
            _run_pool(cfg, range(n), jobs, keep)
    except KeyboardInterrupt:
        complete = False
        bar.close()
        print(f"interrupted: {len(got)} of {n} replications finished", file=sys.stderr)
    if not got:
        if out_dir is not None:
            report.mark(out_dir, "interrupted", cfg, replications=0, wanted=n)
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
