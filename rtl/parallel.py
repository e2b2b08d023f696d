"""Where independent jobs run: one ``concurrent.futures`` executor for a local process pool or a
Dask cluster, and the rule for which failures are the machine's and not the job's.

Local workers die with the process that started them (``PR_SET_PDEATHSIG`` on Linux), so a
``kill -9`` of a sweep leaves no orphan holding its files, and they ignore Ctrl-C, which the
parent handles once for all. On Dask, ``distributed.Client.get_executor()`` is the same kind of
executor, so callers never ask which one they have.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import sys
from concurrent.futures import CancelledError, Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

__all__ = ["executor", "is_transient", "stop_workers", "die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (Linux; elsewhere a no-op) —
    for pool workers and the tools they start."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def _worker_start(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C for all
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


@contextlib.contextmanager
def executor(*, scheduler=None, processes: int | None = None, jobs: int | None = None, prepare=None):
    """An executor for ``jobs`` independent jobs: a pool of ``processes`` local workers (default:
    one per core, never more than ``jobs``), or the cluster behind ``scheduler`` (an address or
    a ``distributed.Client``). ``prepare()`` runs once before any job: here for a local pool,
    on each Dask worker in turn (never two at once) for a cluster."""
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("Dask runs need distributed: pip install 'dask[distributed]'") from None
        client = Client(scheduler) if isinstance(scheduler, str) else scheduler
        try:
            if prepare is not None:
                for worker in client.scheduler_info()["workers"]:
                    client.run(prepare, workers=[worker])
            yield client.get_executor(pure=False)
        finally:
            if isinstance(scheduler, str):
                client.close()
        return
    if processes is not None and (not isinstance(processes, int) or isinstance(processes, bool) or processes < 1):
        from rtl.errors import FieldError
        raise FieldError("processes", f"processes must be a positive integer, not {processes!r}", processes)
    if prepare is not None:
        prepare()
    workers = processes or os.cpu_count() or 1
    if jobs:
        workers = min(workers, jobs)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_start, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def stop_workers(pool: Executor) -> None:
    """Kill a local pool's workers now (after Ctrl-C: running jobs are abandoned, not waited for)."""
    for process in list(getattr(pool, "_processes", {}).values() or ()):
        with contextlib.suppress(ProcessLookupError, AttributeError):
            process.kill()


def is_transient(error: BaseException) -> bool:
    """Whether a job's failure came from the machine (a worker killed, the pool broken, memory or
    disk exhausted, a cancellation) rather than from the job itself — a transient failure is
    retried on the next run instead of being recorded as the job's result."""
    if isinstance(error, (BrokenProcessPool, CancelledError, MemoryError, KeyboardInterrupt, ConnectionError)):
        return True
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.ENOMEM, errno.EAGAIN):
        return True
    return type(error).__name__ in ("KilledWorker", "CommClosedError", "WorkerLostError", "FutureCancelledError")
