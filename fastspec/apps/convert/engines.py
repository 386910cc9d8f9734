"""Where the files of a conversion run: local worker processes, or a ``dask.distributed`` cluster.

Files are the unit of work, handed out longest first so that the workers finish together (on
Dask, short files travel in bundles, as a task costs more to schedule than a 10 s clip costs to
convert).
"""

import os
import threading

from ..._validate import ParameterError
from .job import init_local_worker, run_task, warm


def _single_threaded():
    # Python threads only: numpy's OpenBLAS pool also shows in /proc/self/task, but OpenBLAS
    # re-initialises itself after fork (pthread_atfork), and fastspec runs no numba thread pool.
    return threading.active_count() == 1


def _start_method(method):
    import multiprocessing

    if method == "auto":
        # fork shares the parent's loaded kernels and costs ~nothing, but is only safe while the
        # parent has no other thread (a lock one holds would stay locked in the child).
        return "fork" if "fork" in multiprocessing.get_all_start_methods() and _single_threaded() else "forkserver"
    if method not in multiprocessing.get_all_start_methods():
        raise ParameterError(f"start_method={method!r} must be 'auto' or one of "
                             f"{', '.join(multiprocessing.get_all_start_methods())}")
    return method


CRASHED = "worker process died while converting this file"


def run_local(tasks, job, workers, start_method, on_result, notify):
    """Convert ``(src, dst, duration)`` tasks on local worker processes; each result goes to ``on_result``.

    ``notify(text)`` reports a worker that died and what is redone.
    """
    import multiprocessing

    method = _start_method(start_method)
    if method == "fork":
        warm(job, job.sr)  # loaded once here, inherited by every worker
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["fastspec.apps.convert", "fastspec.feature"])  # imported once, not per worker
    queue = [(src, dst) for src, dst, _ in reversed(tasks)]  # popped from the end: longest first
    while queue:
        lost = _run_pool(queue, job, workers, 4 * workers, ctx, on_result)
        # A worker died (a crash in a decoder, the OOM killer...): the files it may have been
        # on are redone one at a time, which names the one that kills its worker.
        while lost:
            notify(f"fastspec convert: a worker process died; its {len(lost)} file(s) in flight are redone "
                   "one at a time")
            lost.reverse()
            for src, dst in _run_pool(lost, job, 1, 1, ctx, on_result):
                on_result(src, dst, None, CRASHED, "crashed")


def _run_pool(queue, job, workers, window, ctx, on_result):
    """Convert the tasks popped from ``queue`` on a process pool, ``window`` in flight at a time.

    Returns the tasks that were in flight if a worker died (the rest stay in ``queue``).
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_local_worker,
                             initargs=(os.getpid(),)) as pool:
        pending = {}

        def submit():
            src, dst = queue.pop()
            pending[pool.submit(run_task, job, src, dst)] = (src, dst)

        try:
            # A bounded window keeps the longest-first order and the queue's memory small.
            while queue and len(pending) < window:
                submit()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                stop = None
                # In submission order, and every finished result recorded before a stop (a full
                # disk) raised by on_result takes effect.
                for future in sorted(done, key=list(pending).index):
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        return list(pending.values())
                    pending.pop(future)
                    try:
                        on_result(*result)
                    except Exception as err:
                        stop = stop or err
                    if queue and stop is None:
                        submit()
                if stop is not None:
                    raise stop
            return []
        except BaseException:
            # Stop the workers now rather than after their current file; their temporary
            # files are swept by the caller once they are gone.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _bundles(tasks, n_workers):
    """Group longest-first tasks into bundles of about 1/16 of a worker's share of the audio.

    A Dask task costs milliseconds of scheduling (5 ms each here, against 3 ms to convert a
    10 s clip), so short files travel in bundles; a long file is a bundle of its own.
    """
    target = sum(t[2] for t in tasks) / (16 * max(1, n_workers))
    bundles, current, seconds = [], [], 0.0
    for src, dst, duration in tasks:
        if current and seconds + duration > target:
            bundles.append(current)
            current, seconds = [], 0.0
        current.append((src, dst))
        seconds += duration
    if current:
        bundles.append(current)
    return bundles


def _task_bundle(job, bundle):
    return [run_task(job, src, dst) for src, dst in bundle]


def run_dask(tasks, job, client, on_result):
    """Convert ``(src, dst, duration)`` tasks on a Dask cluster, in bundles; each result goes to ``on_result``."""
    from distributed import as_completed

    client.run(warm, job, job.sr)
    bundles = _bundles(tasks, sum(client.nthreads().values()))
    futures = {client.submit(_task_bundle, job, bundle, pure=False, priority=len(bundles) - i): bundle
               for i, bundle in enumerate(bundles)}
    try:
        for future in as_completed(futures):
            try:
                results = future.result()
            except Exception as err:  # e.g. KilledWorker: the bundle killed worker after worker
                results = [(src, dst, None, f"{type(err).__name__}: {err}", "crashed") for src, dst in futures[future]]
            for result in results:
                on_result(*result)
    except BaseException:
        client.cancel(list(futures))
        raise


def cpu_count():
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1



def local_cluster(n_workers=None):
    """Start a ``distributed.LocalCluster`` suited to conversion: processes of one thread.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes
    glibc's mmap threshold: every array of more than 128 kB is then mapped and unmapped
    afresh, and faulting its pages in made each 10 s clip 50% slower (4.9 against 3.2 ms).
    These workers start without it. For a cluster of your own, leave that variable out of
    ``distributed.nanny.pre-spawn-environ`` the same way.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes. Default: the CPUs this process may run on.

    Returns
    -------
    distributed.LocalCluster
    """
    import dask
    from distributed import LocalCluster

    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return LocalCluster(n_workers=n_workers or cpu_count(), threads_per_worker=1, processes=True,
                            dashboard_address=None)


class dask_client:
    """A ``distributed.Client`` on ``scheduler``, or on a local cluster started (and stopped) here."""

    def __init__(self, scheduler, local, workers):
        self._scheduler, self._local, self._workers = scheduler, local, workers
        self._cluster = None

    def __enter__(self):
        from distributed import Client

        if self._local:
            self._cluster = local_cluster(self._workers)
            self._client = Client(self._cluster)
        else:
            self._client = Client(self._scheduler)
        return self._client

    def __exit__(self, *exc):
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
