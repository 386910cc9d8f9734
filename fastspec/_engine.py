"""The block engine every transform runs on: block sizing, schedules, plans per call, threads.

A transform cuts its frames into chunks of ``block`` frames (:func:`block_size`, :func:`chunks`), so
one chunk's FFT input and output stay in cache; each chunk is framed straight into a plan's input,
transformed, and post-processed out of the plan's output. A call

1. reads the settings once (``_config.current()``) and picks its thread count (:func:`thread_count`);
2. splits its tasks (chunks, segments or whole items) into one contiguous part per thread
   (:func:`split`);
3. checks out private plans for each part (:func:`checkout`), so no buffer is ever shared by two
   calls in flight, and returns them afterwards (:func:`release`);
4. runs the parts, the first on the calling thread and the others on fastspec's pool (:func:`run`).

Overlap-add, whose frames write overlapping samples, goes through :class:`OverlapAdd`, which makes
the sum independent of the thread count. So every result is bit-identical to the same call made
alone, with any number of threads, from any number of Python threads at once.

The pool is created on first use and re-created in a child after ``fork()``; a pool thread that
calls fastspec runs that call on itself, so nested calls never wait on the pool they occupy.
"""

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _fft
from ._kernels import overlap_add

MAX_BLOCK = 256
"""Largest block, in frames: every block size divides it (the batch converter's blocks rely on it)."""
_MAX_BLOCK_BYTES = 1 << 20
_MIN_FRAMES_PER_THREAD = 64

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()
_local = threading.local()


def _reset_after_fork():
    # The parent's pool threads do not exist in a child: start afresh.
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def block_size(n_fft, itemsize):
    """Frames per block: the largest power of two whose real input + complex output rows fit in ~1 MB."""
    rows = max(1, _MAX_BLOCK_BYTES // (3 * n_fft * itemsize))
    return 1 << min(MAX_BLOCK.bit_length() - 1, rows.bit_length() - 1)


@functools.lru_cache(maxsize=1024)
def chunks(n_frames, block):
    """Split ``n_frames`` into ``(start, plan_size, n_valid)`` chunks.

    Full blocks, then one chunk for the remainder. Once FFTW has measured one batched plan
    for an ``n_fft``, plans for other batch sizes >= 2 come from its wisdom instantly
    (measured: 0.15 s for the first, 0 s after), so the remainder gets an exact plan; only a
    single frame is padded to 2, as batch 1 needs planning of its own.
    """
    out = []
    start = 0
    while n_frames - start >= block:
        out.append((start, block, block))
        start += block
    if start < n_frames:
        remainder = n_frames - start
        out.append((start, max(2, remainder) if block > 1 else 1, remainder))
    return tuple(out)


def thread_count(settings, n_tasks, n_frames_total):
    """Threads worth using: at most the setting, one per task, ``_MIN_FRAMES_PER_THREAD`` frames each.

    1 on a pool thread: a call made from inside fastspec's pool runs there.
    """
    if getattr(_local, "in_pool", False):
        return 1
    return max(1, min(settings.num_threads, n_frames_total // _MIN_FRAMES_PER_THREAD, n_tasks))


def split(tasks, n_parts):
    """``tasks`` cut into ``n_parts`` contiguous parts of near-equal length."""
    n = len(tasks)
    return [tasks[i * n // n_parts:(i + 1) * n // n_parts] for i in range(n_parts)]


def checkout(settings, kinds, n_fft, dtype, sizes, n_slots):
    """Private plans for one call: ``plans[slot][kind, batch]`` for every kind and batch size.

    Give them back with :func:`release` once the call is done (also when it fails).
    """
    plans = []
    try:
        for _ in range(n_slots):
            mine = {}
            plans.append(mine)
            for kind in kinds:
                for size in sizes:
                    mine[kind, size] = _fft.acquire(_fft.plan_key(kind, n_fft, size, dtype, settings))
    except BaseException:
        release(settings, plans)
        raise
    return plans


def release(settings, plans):
    """Return the plans of :func:`checkout` to the pool."""
    _fft.release([plan for mine in plans for plan in mine.values()], settings.plan_cache_mb)


def _mark_pool_thread():
    _local.in_pool = True


def _executor(n_workers):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n_workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="fastspec",
                                       initializer=_mark_pool_thread)
            _pool_size = n_workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def run(parts, work):
    """``work(slot, parts[slot])`` for every slot: slot 0 on this thread, the others on the pool.

    Returns once every part has finished (buffers a part uses stay valid until then); the first
    exception raised by any part is re-raised.
    """
    if len(parts) == 1:
        work(0, parts[0])
        return
    pool = _executor(len(parts) - 1)
    futures = [pool.submit(work, slot, part) for slot, part in enumerate(parts) if slot]
    error = None
    try:
        work(0, parts[0])
    except BaseException as exc:  # wait for the other parts before anything is freed
        error = exc
    for future in futures:
        try:
            future.result()
        except BaseException as exc:
            error = error if error is not None else exc
    if error is not None:
        raise error


def for_each(settings, n_items, work):
    """``work(item)`` for every item, the items shared out over the call's threads.

    For work that is independent per item (PGHI, NNLS) and allocates its own scratch.
    """
    threads = 1 if getattr(_local, "in_pool", False) else min(settings.num_threads, n_items)
    if threads <= 1:
        for item in range(n_items):
            work(item)
        return

    def part_work(slot, items):
        for item in items:
            work(item)

    run(split(range(n_items), threads), part_work)


class OverlapAdd:
    """Overlap-add of frames into signals by any number of threads, with the same bits for every count.

    The frames are cut into segments of whole chunks, the same whatever the thread count. A
    segment's first ``n_edge`` frames reach back into the previous segment's samples: they are
    added into an edge buffer of their own, and every other frame straight into the signal, where
    no two segments' direct writes meet. Once the segments are done, :meth:`finish` adds the edge
    buffers in segment order. Threads take whole segments, so nothing is written by two threads.

    Parameters
    ----------
    schedule : sequence of (start, plan_size, n_valid)
        The chunks of the frames (from :func:`chunks`).
    n_fft, hop, offset : int
        Frame length, hop, and the centre padding (frame ``t`` starts at sample ``t * hop - offset``).
    n_out : int
        Samples of each output signal; samples beyond it are dropped.
    """

    def __init__(self, schedule, n_fft, hop, offset, n_out):
        self.n_fft, self.hop, self.offset, self.n_out = n_fft, hop, offset, n_out
        self.n_edge = -(-n_fft // hop) - 1
        block = max(1, schedule[0][2]) if schedule else 1
        # Segments of >= 64 frames and >= 4x the edge, so edges cost a few percent of the adds, and
        # every segment after the first starts past the centre padding (its edge buffer starts >= 0).
        per_segment = -(-max(64, 4 * (self.n_edge + 1)) // block)
        self.segments = tuple(schedule[i:i + per_segment] for i in range(0, len(schedule), per_segment))
        self.firsts = np.array([segment[0][0] for segment in self.segments], dtype=np.int64)
        self.bases = self.firsts * hop - offset
        self.bases[:1] = -1  # the first segment has no edge
        self.edge_length = (self.n_edge - 1) * hop + n_fft if self.n_edge > 0 else 0

    def edges(self, n_items, dtype):
        """Zeroed edge buffers for ``n_items`` signals."""
        return np.zeros((n_items, len(self.segments), self.edge_length), dtype=dtype)

    def add(self, frames, first_frame, window, scale, segment, signal, edges):
        """Add ``scale * window * frames[b]`` of frames ``first_frame + b`` of ``segment``.

        ``signal`` is the output signal and ``edges`` its edge buffers (``edges(...)[item]``).
        """
        n_rows = frames.shape[0]
        n_head = 0
        if segment > 0:
            n_head = min(n_rows, max(0, int(self.firsts[segment]) + self.n_edge - first_frame))
        if n_head:
            buffer = edges[segment, :max(0, min(self.edge_length, self.n_out - int(self.bases[segment])))]
            overlap_add.overlap_add(frames[:n_head], window, scale, first_frame - int(self.firsts[segment]),
                                    self.hop, 0, buffer)
        if n_head < n_rows:
            overlap_add.overlap_add(frames[n_head:], window, scale, first_frame + n_head, self.hop, self.offset,
                                    signal)

    def finish(self, signals, edges):
        """Add every signal's edge buffers into it, in segment order (``signals`` is ``(items, n_out)``)."""
        if len(self.segments) > 1:
            for item in range(signals.shape[0]):
                overlap_add.add_edges(edges[item], self.bases, signals[item])


class PlanSet:
    """Plans checked out on demand by one serial call, returned when its ``with`` block ends.

    For code that walks its blocks in order on one thread (the seed's sequential inversion):
    ``plans.get(kind, n_fft, batch, dtype)`` gives the same private plan each time it is asked.
    """

    def __init__(self, settings):
        self._settings = settings
        self._held = {}

    def get(self, kind, n_fft, batch, dtype):
        """The call's plan for this transform (see :func:`fastspec._fft.acquire`)."""
        key = _fft.plan_key(kind, n_fft, batch, dtype, self._settings)
        plan = self._held.get(key)
        if plan is None:
            plan = self._held[key] = _fft.acquire(key)
        return plan

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _fft.release(list(self._held.values()), self._settings.plan_cache_mb)
        self._held.clear()
