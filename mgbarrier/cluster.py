"""The one place that creates Dask clients for mgbarrier (saddle searches, multi-frame prediction).

    from mgbarrier.cluster import dask_client
    with dask_client(workers=4) as client:          # LocalCluster: 4 single-threaded worker processes
        ...
    with dask_client(scheduler="tcp://host:8786") as client:   # an existing cluster (e.g. dask-jobqueue on Slurm)
        ...

Needs ``distributed`` (``pip install 'mgbarrier[label]'``).  Problems (no ``distributed``, an
unreachable scheduler, a bad worker count) raise :class:`~mgbarrier.errors.MgBarrierError`
with one line.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import TYPE_CHECKING, Iterator, Optional

from .allocator import HOLD_MEMORY_ENV
from .errors import MgBarrierError

if TYPE_CHECKING:  # pragma: no cover
    import distributed

__all__ = ["dask_client", "INSTALL_HINT", "CONNECT_TIMEOUT_S"]

INSTALL_HINT = "pip install 'mgbarrier[label]'"
#: seconds to wait for a scheduler given by address
CONNECT_TIMEOUT_S = 10


def _import_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise MgBarrierError(f"Dask distributed is not installed; {INSTALL_HINT}") from None
    return distributed


#: Dask settings while a client of ours is open (passed on to the LocalCluster's workers):
#: distributed keeps the last ``low-level-log-length`` (default 1000) messages of every batched
#: stream, payloads included, so a client that submitted 24,000-atom frames held ~1 MB per frame
#: (its memory grew 0.32 -> 0.60 GB over 200 frames; with 0 it stays flat).  The workers'
#: statistical profiler (a stack sample every 10 ms, for a dashboard we do not start) is off:
#: it took ~2.5 % of a labelling worker's CPU (its process time less its task thread's:
#: 5-6 % with it, 2-4 % without, in alternating runs).  Every process of a cluster (scheduler,
#: nannies, workers) wakes its event loop for a "tick" every 20 ms, a system monitor (psutil)
#: every 500 ms and, in nannies and workers, a memory monitor every 100 ms; on a machine whose
#: cores all compute, each wake-up pre-empts a task.  Slower: a labelling task's wall time over its
#: thread's CPU time fell from 5.6-7.5 % to 1.3-1.6 % (2 workers on 2 cores; benchmarks/label_pairing.py --dask).  The
#: memory monitor (pausing / restarting a worker near its memory limit) still looks twice a second.
DASK_CONFIG = {"distributed.admin.low-level-log-length": 0, "distributed.worker.profile.enabled": False,
               "distributed.admin.tick.interval": "1s", "distributed.admin.system-monitor.interval": "5s",
               "distributed.worker.memory.monitor-interval": "500ms"}


@contextlib.contextmanager
def dask_client(workers: Optional[int] = None, scheduler: Optional[str] = None, *, threads_per_worker: int = 1,
                timeout: Optional[float] = None, quiet: bool = True) -> Iterator["distributed.Client"]:
    """A ``distributed.Client``, closed (with its LocalCluster) on exit, under :data:`DASK_CONFIG`
    (see :func:`_dask_client`)."""
    _import_distributed()  # one error line when Dask is missing
    import dask

    with dask.config.set(DASK_CONFIG):
        with _dask_client(workers, scheduler, threads_per_worker=threads_per_worker, timeout=timeout,
                          quiet=quiet) as client:
            yield client


@contextlib.contextmanager
def _dask_client(workers: Optional[int] = None, scheduler: Optional[str] = None, *, threads_per_worker: int = 1,
                 timeout: Optional[float] = None, quiet: bool = True) -> Iterator["distributed.Client"]:
    """A ``distributed.Client``, closed (with its LocalCluster) on exit.

    ``scheduler``: address of a running scheduler (``tcp://host:8786``, or a scheduler file
    ``*.json``); ``workers`` is then ignored.  Else a ``LocalCluster`` of ``workers``
    (default: the CPU count) worker *processes* with ``threads_per_worker`` threads each
    (1: LAMMPS and numpy are not shared between threads), no dashboard; their
    ``OMP_NUM_THREADS`` is set to ``threads_per_worker``.  ``timeout``: seconds to reach a
    scheduler (default :data:`CONNECT_TIMEOUT_S`).
    """
    distributed = _import_distributed()
    if timeout is None:
        timeout = CONNECT_TIMEOUT_S
    if scheduler is not None and workers is not None:
        raise MgBarrierError("give either a number of workers or a scheduler address, not both")
    if scheduler is not None:
        scheduler = str(scheduler).strip()
        if not scheduler:
            raise MgBarrierError("empty scheduler address")
        kw = {"scheduler_file": scheduler} if scheduler.endswith(".json") else {"address": scheduler}
        if "scheduler_file" in kw:
            _check_scheduler_file(scheduler)
        try:
            with _quiet_logs(quiet):
                client = distributed.Client(timeout=f"{timeout}s", **kw)
        except (OSError, TimeoutError, ValueError) as exc:
            raise MgBarrierError(f"{scheduler}: cannot reach the Dask scheduler within {timeout:g} s "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'})"
                                 ) from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers is None:
        workers = os.cpu_count() or 1
    if int(workers) != workers or workers < 1:
        raise MgBarrierError(f"number of workers must be a positive integer, got {workers!r}")
    if threads_per_worker < 1:
        raise MgBarrierError(f"threads per worker must be >= 1, got {threads_per_worker!r}")
    # our own workers live for this job only: a prediction worker keeps freed memory for its next frame
    env = {"OMP_NUM_THREADS": str(threads_per_worker), "OPENBLAS_NUM_THREADS": str(threads_per_worker),
           "MKL_NUM_THREADS": str(threads_per_worker), HOLD_MEMORY_ENV: "1"}
    with _quiet_logs(quiet):
        cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=threads_per_worker,
                                           processes=True, dashboard_address=None,
                                           worker_class=distributed.Nanny, env=env,
                                           silence_logs=logging.ERROR if quiet else logging.WARNING)
        client = distributed.Client(cluster)
    try:
        yield client
    finally:
        with _quiet_logs(quiet):
            client.close()
            cluster.close()


def _check_scheduler_file(path: str) -> None:
    """A scheduler file (``dask scheduler --scheduler-file``) is JSON with an ``address``
    string; anything else is one error line here, not an assertion deep inside Dask."""
    if not os.path.isfile(path):
        raise MgBarrierError(f"{path}: no such scheduler file")
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MgBarrierError(f"{path}: not a Dask scheduler file ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})") from None
    if not (isinstance(info, dict) and isinstance(info.get("address"), str) and info["address"].strip()):
        raise MgBarrierError(f"{path}: not a Dask scheduler file (no 'address' in it)")


@contextlib.contextmanager
def _quiet_logs(quiet: bool):
    if not quiet:
        yield
        return
    loggers = [logging.getLogger(n) for n in ("distributed", "distributed.client", "distributed.scheduler",
                                               "distributed.nanny", "distributed.worker", "tornado")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, old, strict=False):
            lg.setLevel(lv)
