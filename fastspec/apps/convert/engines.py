"""Where the files of a conversion run: local worker processes, or a ``dask.distributed`` cluster.

The work is handed out in :class:`Unit` s: one file each for one file per output (longest first,
so that the workers finish together; on Dask, short files travel in bundles, as a task costs more
to schedule than a 10 s clip costs to convert), a shard's or a region's worth of files for a
feature store.
"""

import dataclasses
import os
import threading

from ..._validate import ParameterError
from .job import init_local_worker, warm


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


def consecutive_groups(items, sizes, limit, most=None):
    """Split ``items``, in order, into lists of consecutive items.

    Each list's ``sizes`` add up to at most ``limit`` (an item larger than that stands alone), and
    it holds at most ``most`` items.
    """
    groups, current, total = [], [], 0
    for item, size in zip(items, sizes, strict=True):
        if current and (total + size > limit or len(current) == most):
            groups.append(current)
            current, total = [], 0
        current.append(item)
        total += size
    if current:
        groups.append(current)
    return groups


@dataclasses.dataclass
class Unit:
    """A piece of work for one worker: files converted together, and where they go.

    Attributes
    ----------
    items : tuple
        ``(src, dst)`` pairs (one file per output), or ``(src, key, planned_frames)`` items of a
        feature store, converted in this order.
    size : int
        Bytes of input in ``items``: what balances the workers (no header is read to hand out work).
    target : object
        Where a store's unit writes (its shard's name, or its rows of a Zarr store), set by the
        store's ``plan``; None for one file per output.
    """

    items: tuple
    size: int
    target: object = None

    @classmethod
    def files(cls, tasks, n_workers, most=64):
        """Units of ``(src, dst, size)`` files, in the order given, about 1/32 of a worker's share each.

        Short files go several to a unit (at most ``most``): handing out a unit costs the run's
        process about 0.1 ms, against 0.5 ms to convert a one-second clip.
        """
        target = sum(t[2] for t in tasks) / (32 * max(1, n_workers))
        return [cls(tuple((src, dst) for src, dst, _ in group), sum(t[2] for t in group))
                for group in consecutive_groups(tasks, [t[2] for t in tasks], target, most)]

    def halves(self):
        """Two units of half the items each (a unit whose worker died is retried in pieces)."""
        k = len(self.items) // 2
        share = self.size // len(self.items)
        return [Unit(self.items[:k], share * k), Unit(self.items[k:], share * (len(self.items) - k))]


def run_local(units, job, workers, start_method, on_result, notify, work, plan):
    """Run ``work(job, unit)`` for each unit on local worker processes; each result goes to ``on_result``.

    ``plan(units)`` sets the units' targets before they are handed out. ``notify(text)`` reports a
    worker that died and what is redone: the units it may have been on are retried in halves,
    one at a time, until the file that kills its worker stands alone and is reported as crashed.
    """
    import multiprocessing

    method = _start_method(start_method)
    if method == "fork":
        warm(job, job.sr)  # loaded once here, inherited by every worker
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["fastspec.apps.convert", "fastspec.feature"])  # imported once, not per worker
    plan(units)
    queue = list(reversed(units))  # popped from the end: in the order given
    lost = _run_pool(queue, job, workers, 4 * workers, ctx, on_result, work)
    while lost:
        notify(f"fastspec convert: a worker process died; its {sum(len(u.items) for u in lost)} file(s) in flight "
               "are redone in smaller groups, one group at a time")
        retry = [piece for unit in lost for piece in (unit.halves() if len(unit.items) > 1 else [unit])]
        plan(retry)
        retry.reverse()
        lost = []
        while retry:
            for unit in _run_pool(retry, job, 1, 1, ctx, on_result, work):
                if len(unit.items) > 1:
                    lost.append(unit)
                else:
                    on_result(unit.items[0][0], unit.items[0][1], None, CRASHED, "crashed")


def _run_pool(queue, job, workers, window, ctx, on_result, work):
    """Run the units popped from ``queue`` on a process pool, ``window`` in flight at a time.

    Returns the units that were in flight if a worker died (the rest stay in ``queue``).
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_local_worker,
                             initargs=(os.getpid(),)) as pool:
        pending = {}

        def submit():
            unit = queue.pop()
            pending[pool.submit(work, job, unit)] = unit

        try:
            # A bounded window keeps the order and the queue's memory small.
            while queue and len(pending) < window:
                submit()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                stop = None
                # In submission order, and every finished result recorded before a stop (a full
                # disk) raised by on_result takes effect.
                for future in sorted(done, key=list(pending).index):
                    try:
                        results = future.result()
                    except BrokenProcessPool:
                        return list(pending.values())
                    pending.pop(future)
                    for result in results:
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


def _bundles(units, n_workers):
    """Group units into bundles of about 1/16 of a worker's share of the input.

    A Dask task costs milliseconds of scheduling (5 ms each here, against 3 ms to convert a
    10 s clip), so short files travel in bundles; a long file, or a store's unit, is a bundle of
    its own.
    """
    target = sum(u.size for u in units) / (16 * max(1, n_workers))
    return consecutive_groups(units, [u.size for u in units], target)


def _task_bundle(work, job, bundle):
    return [result for unit in bundle for result in work(job, unit)]


def run_dask(units, job, client, on_result, work, plan):
    """Run ``work(job, unit)`` for each unit on a Dask cluster, in bundles; each result goes to ``on_result``."""
    from distributed import as_completed

    client.run(warm, job, job.sr)
    plan(units)
    bundles = _bundles(units, sum(client.nthreads().values()))
    futures = {client.submit(_task_bundle, work, job, bundle, pure=False, priority=len(bundles) - i): bundle
               for i, bundle in enumerate(bundles)}
    try:
        for future in as_completed(futures):
            try:
                results = future.result()
            except Exception as err:  # e.g. KilledWorker: the bundle killed worker after worker
                results = [(item[0], item[1], None, f"{type(err).__name__}: {err}", "crashed")
                           for unit in futures[future] for item in unit.items]
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
    # A nanny also copies its settings into this process's own environment (distributed 2026.8,
    # Nanny.start), where the next workers would inherit them: any cluster started here before
    # leaves the variable behind, so it is left out while these workers start.
    inherited = os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            return LocalCluster(n_workers=n_workers or cpu_count(), threads_per_worker=1, processes=True,
                                dashboard_address=None)
    finally:
        if inherited is not None:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = inherited


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
