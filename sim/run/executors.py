"""The three engines as `concurrent.futures.Executor`s, so the runner has one loop for all.

- `SerialExecutor`: runs each task in this process when it is submitted;
- `PoolExecutor`: worker processes on this machine, over `multiprocessing.pool.Pool`, whose
  public `terminate()` stops running workers at once (Python 3.11's ProcessPoolExecutor has
  no public way to do that);
- Dask: `distributed.Client.get_executor()`, on a running scheduler (`mc.dask_address`) or
  on a LocalCluster of `n_jobs` single-threaded workers on 127.0.0.1 started for the run.

`engine(cfg)` is a context manager yielding (executor, number of task slots); after a run
the local workers exit on their own, after an error or Ctrl-C they are terminated. Worker
processes ignore SIGINT: Ctrl-C on a terminal reaches the whole process group, and only the
parent decides what happens (cancel, stop the workers, write what finished).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing as mp
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from ..config import SimConfig


class EngineError(RuntimeError):
    """The engine could not run replications (e.g. no Dask scheduler at the address)."""


TASKS_PER_WORKER = 100


def _worker_signals() -> None:
    """In a worker: ignore SIGINT (the parent decides what Ctrl-C does), and die on SIGTERM,
    which is how Pool.terminate() stops workers. A forked worker inherits the parent's
    handlers, and a parent may bypass SIGTERM (submitit's job process does, to survive
    preemption): its workers would then outlive terminate() and the pool's join would wait
    for ever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class SerialExecutor(cf.Executor):
    """Runs the task in this process inside `submit`; returns a finished Future.

    KeyboardInterrupt (Ctrl-C) raised by the task propagates out of `submit`."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as e:
            fut.set_exception(e)
        return fut


class PoolExecutor(cf.Executor):
    """A process pool whose `shutdown(cancel_futures=True)` (or `wait=False`) terminates the
    workers, running tasks included, through `multiprocessing.pool.Pool.terminate()`."""

    def __init__(self, workers: int, context=None):
        ctx = context or _mp_context()
        # A fresh worker every TASKS_PER_WORKER tasks, so nothing a library keeps per model
        # (Mesa 3.3's Agent._ids did: worked around in GuaranteeModel) grows a worker without
        # bound; forking a worker costs far less than 100 replications.
        self._pool = ctx.Pool(workers, initializer=_worker_signals,
                              maxtasksperchild=TASKS_PER_WORKER)
        self._closed = False

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        self._pool.apply_async(fn, args, kwargs, callback=fut.set_result,
                               error_callback=fut.set_exception)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if cancel_futures or not wait:
            self._pool.terminate()  # stops the workers now; joins them and the pool's threads
        else:
            self._pool.close()
        self._pool.join()


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
        ctx.set_forkserver_preload(["sim.run.runner"])
        return ctx
    return mp.get_context("spawn")


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Processes started inside keep ignoring SIGINT (only in the main thread can we set it)."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if in_main else None
    if in_main:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


@contextmanager
def _dask(cfg: SimConfig, jobs: int) -> Iterator[tuple[cf.Executor, int]]:
    from distributed import Client, LocalCluster

    cluster = None
    if cfg.mc.dask_address:
        # Connect timeout: Dask's `distributed.comm.timeouts.connect` (30 s by default).
        try:
            client = Client(cfg.mc.dask_address)
        except OSError as e:
            raise EngineError(f"mc.dask_address = {cfg.mc.dask_address!r}: no Dask scheduler "
                              f"answered ({str(e).splitlines()[0]})") from None
    else:
        with _sigint_ignored(), warnings.catch_warnings():
            # The scheduler's small HTTP server (health checks) moves off port 8787 when
            # another cluster holds it, and says so; harmless here.
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None,
                                   # a task's error comes back with its result; the workers'
                                   # log lines at shutdown are only noise
                                   silence_logs=logging.CRITICAL)
        client = Client(cluster)
    try:
        slots = max(sum(client.nthreads().values()), 1)
        # pure=False: every replication is its own task even though the arguments repeat.
        yield client.get_executor(pure=False), slots
    finally:
        client.close(timeout=10)
        if cluster is not None:
            cluster.close(timeout=10)


@contextmanager
def engine(cfg: SimConfig) -> Iterator[tuple[cf.Executor, int]]:
    """(executor, task slots) for cfg.mc.engine and cfg.mc.n_jobs; closed on exit."""
    jobs = max(1, min(cfg.mc.n_jobs, cfg.mc.replications))
    if cfg.mc.engine == "dask":
        with _dask(cfg, jobs) as got:
            yield got
        return
    ex: cf.Executor = SerialExecutor() if jobs <= 1 else PoolExecutor(jobs)
    try:
        yield ex, jobs
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)  # stop the workers now
        raise
    # Every task has finished: let the workers exit on their own (no signal needed).
    ex.shutdown(wait=True)
