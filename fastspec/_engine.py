"""The block engine every transform runs on: block sizing, schedules, plans per call, threads.

A transform cuts its frames into chunks of ``block`` frames (:func:`block_size`, :func:`chunks`), so
one chunk's FFT input and output stay in cache; each chunk is framed straight into scratch, transformed,
and post-processed out of the FFT's output. A call

1. reads the settings once (``_config.current()``) and picks its thread count (:func:`thread_count`);
2. splits its tasks (chunks, segments or whole items) into one contiguous part per thread
   (:func:`split`);
3. takes the FFT plans of its schedule (:class:`Plans`; FFTW executes one plan from many threads at
   once) and, per part, scratch buffers of its own (:func:`scratch`), so no buffer is ever shared by
   two calls in flight; both go back to the bounded cache afterwards;
4. runs the parts, the first on the calling thread and the others on fastspec's pool (:func:`run`),
   each part one call of a compiled pipeline (:mod:`fastspec._kernels.pipeline`) that holds no GIL.

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
    global _pool, _pool_size, _pool_lock, _local
    _pool, _pool_size, _pool_lock, _local = None, 0, threading.Lock(), threading.local()


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


class Layout:
    """How a transform of ``n_items`` signals of ``n_frames`` frames is cut into blocks; cached per shape.

    Attributes
    ----------
    block : int
        Frames per full block (the compiled pipelines' scratch length).
    schedule : tuple of (start, plan_size, n_valid)
        The chunks (:func:`chunks`).
    sizes : (int, int)
        Plan batch sizes of the full blocks and of the last, shorter chunk (0: no such chunk).
    tasks : numpy.ndarray, int64, shape (n_items * n_chunks, 3)
        ``[item, first_frame, n_frames]`` of every chunk of every item, read-only.
    """

    def __init__(self, n_fft, n_frames, itemsize, n_items, share):
        self.n_fft, self.n_frames, self.n_items = n_fft, n_frames, n_items
        self.block = max(1, block_size(n_fft, itemsize) // share)
        self.schedule = chunks(n_frames, self.block)
        last = self.schedule[-1]
        self.sizes = (self.block if self.schedule[0][2] == self.block else 0, last[1] if last[2] != self.block else 0)
        self.tasks = np.array([(item, first, valid) for item in range(n_items) for first, _, valid in self.schedule],
                              dtype=np.int64).reshape(-1, 3)
        self.tasks.flags.writeable = False

    @functools.lru_cache(maxsize=64)  # noqa: B019 -- layouts are themselves cached and few
    def scratch_shapes(self, dtype, kinds):
        """``((shape, dtype), ...)`` of one block of each of ``kinds`` (``"real"`` rows, ``"complex"`` spectra)."""
        dtype = np.dtype(dtype)
        shapes = {"real": ((self.block, self.n_fft), dtype),
                  "complex": ((self.block, self.n_fft // 2 + 1), np.result_type(dtype, np.complex64))}
        return tuple(shapes[kind] for kind in kinds)

    def plans(self, settings, kind, dtype):
        """The :class:`Plans` of this layout for one call (those this thread kept from its last call, if the same)."""
        keys = self._plan_keys(kind, np.dtype(dtype).str, settings.plan_effort)
        kept = getattr(_local, "plans", None)
        if kept is not None and kept.keys == keys:
            _local.plans = None
            return kept
        return Plans(settings, keys)

    def plan_keys(self, settings, kind, dtype):
        """The keys of this layout's plans (``(full, rest)``, None where absent), for :class:`Plans`."""
        return self._plan_keys(kind, np.dtype(dtype).str, settings.plan_effort)

    @functools.lru_cache(maxsize=64)  # noqa: B019 -- layouts are themselves cached and few
    def _plan_keys(self, kind, dtype_str, effort):
        return tuple(_fft.plan_key(kind, self.n_fft, size, dtype_str, effort) if size else None for size in self.sizes)

    @functools.lru_cache(maxsize=64)  # noqa: B019 -- layouts are themselves cached and few
    def overlap_add(self, hop, offset, n_out):
        """The (cached) :class:`OverlapAdd` of this layout's frames."""
        return OverlapAdd(self.schedule, self.n_fft, hop, offset, n_out)


@functools.lru_cache(maxsize=512)
def layout(n_fft, n_frames, itemsize, n_items=1, share=1):
    """The (cached) :class:`Layout` of a transform; ``share`` > 1 makes blocks that many times smaller."""
    return Layout(n_fft, n_frames, itemsize, n_items, share)


class Plans:
    """The plans of one call: its full blocks' and its last, shorter chunk's (``keys``, None where absent).

    ``pointers`` is ``(full, rest)`` as the compiled pipelines take them (0 where absent) and
    ``execute`` FFTW's new-array execute function for them. Plans are shared by every call
    (execution is thread-safe). :meth:`done` ends the call: the thread keeps the plans for its next
    call (the cache's lock and bookkeeping cost 9 us of a 1 s clip's 140), handing back those it kept
    before; they go back to the cache at the latest when the thread ends.
    """

    def __init__(self, settings, keys):
        self.keys = keys
        self._limit_mb = settings.plan_cache_mb
        self._pid = os.getpid()
        self._held = _fft.acquire([key for key in keys if key is not None])
        found = iter(self._held)
        self.pointers = tuple(next(found).pointer if key is not None else 0 for key in keys)
        self.execute = self._held[0].execute

    def done(self):
        """The call is done with the plans: this thread keeps them for its next call."""
        kept, _local.plans = getattr(_local, "plans", None), self
        if kept is not None:
            kept.release(self._limit_mb)  # the bound in force now, not when those were taken

    def release(self, limit_mb=None):
        """Hand the plans back to the cache, trimming it to ``limit_mb`` (default: the bound they were taken under)."""
        held, self._held = self._held, []
        _fft.release(held, self._limit_mb if limit_mb is None else limit_mb)

    def __del__(self):
        # A thread's kept plans, when the thread ends. Not in a fork child: there the parent's
        # threads' locals die inside fork() itself, before the cache's locks are renewed (so they
        # stay counted as in use there), nor at interpreter exit, when modules are torn down.
        if self._held and _fft is not None and os.getpid() == self._pid:
            held, self._held = self._held, []
            _fft.release(held)  # trimmed to the bound of whichever thread collects them


def clear_plan_cache():
    """Drop every FFT plan and scratch buffer no call is using (FFTW keeps its accumulated wisdom)."""
    kept, _local.plans = getattr(_local, "plans", None), None
    if kept is not None:
        kept.release()
    arrays, _local.scratch = getattr(_local, "scratch", None), None
    if arrays is not None:
        _fft.give_back(arrays[1])
    _fft.clear_plan_cache()


def segment_tasks(n_items, n_segments):
    """The ``[item, segment]`` rows of every segment of every item."""
    tasks = np.empty((n_items * n_segments, 2), dtype=np.int64)
    tasks[:, 0] = np.repeat(np.arange(n_items), n_segments)
    tasks[:, 1] = np.tile(np.arange(n_segments), n_items)
    return tasks


def frame_runs(tasks):
    """``(item, first_frame, stop_frame)`` of each item's contiguous frames in forward ``tasks``."""
    # A Python loop: numpy's five calls on these few rows took 11 us, a third of a one-frame call.
    runs = []
    for item, first, count in tasks.tolist():
        if runs and runs[-1][0] == item:
            runs[-1] = (item, runs[-1][1], first + count)
        else:
            runs.append((item, first, first + count))
    return runs


def scratch(shapes):
    """Borrow one call part's scratch arrays for ``shapes``, ``((shape, dtype), ...)`` with numpy dtypes.

    Aligned, contents undefined. Each thread keeps the last set it gave back (the next call on it
    usually wants the same); everything else comes from the bounded pool (:func:`fastspec._fft.borrow`).
    """
    kept = getattr(_local, "scratch", None)
    if kept is not None and kept[0] == shapes:
        _local.scratch = None
        return kept[1]
    return [_fft.borrow(shape, dtype) for shape, dtype in shapes]


def give_back(settings, shapes, arrays):
    """Return :func:`scratch`'s arrays: this thread keeps them for its next call, the pool gets what it held."""
    kept, _local.scratch = getattr(_local, "scratch", None), (shapes, arrays)
    if kept is not None:
        _fft.give_back(kept[1], settings.plan_cache_mb)


def _mark_pool_thread():
    _local.in_pool = True


def _executor(n_workers):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n_workers:
            # A larger pool replaces a smaller one; the old one is never shut down under a call that
            # may still submit to it: its idle threads end once it is unreferenced.
            _pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="fastspec",
                                       initializer=_mark_pool_thread)
            _pool_size = n_workers
        return _pool


def run(tasks, n_parts, work):
    """``work(slot, part)`` for ``tasks`` in ``n_parts`` parts (:func:`split`): part 0 here, the others on the pool.

    Returns once every part has finished (buffers a part uses stay valid until then); the first
    exception raised by any part is re-raised.
    """
    if n_parts == 1:
        work(0, tasks)
        return
    parts = split(tasks, n_parts)
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

    run(range(n_items), threads, part_work)


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

    Attributes
    ----------
    segments : numpy.ndarray, int64, shape (n_segments, 3)
        ``[first_frame, stop_frame, edge_base]`` per segment (``edge_base`` -1 for the first).
    """

    def __init__(self, schedule, n_fft, hop, offset, n_out):
        self.n_edge = -(-n_fft // hop) - 1
        block = max(1, schedule[0][2])
        n_frames = schedule[-1][0] + schedule[-1][2]
        # Segments of >= 64 frames and >= 4x the edge, so edges cost a few percent of the adds, and
        # every segment after the first starts past the centre padding (its edge buffer starts >= 0).
        per_segment = block * -(-max(64, 4 * (self.n_edge + 1)) // block)
        firsts = np.arange(0, n_frames, per_segment, dtype=np.int64)
        self.segments = np.stack([firsts, np.minimum(firsts + per_segment, n_frames), firsts * hop - offset], axis=1)
        self.segments[0, 2] = -1
        self.segments.flags.writeable = False  # shared by every call of this shape
        self.edge_length = (self.n_edge - 1) * hop + n_fft if self.n_edge > 0 else 0

    def edges(self, n_items, dtype):
        """Zeroed edge buffers for ``n_items`` signals, from the scratch pool: hand them back with :meth:`done`.

        Reused memory: fresh zeroed pages cost a page fault each (5% of a 10 s ISTFT).
        """
        edges = _fft.borrow((n_items, len(self.segments), self.edge_length), dtype)
        edges.fill(0)
        return edges

    @staticmethod
    def done(edges):
        """Return :meth:`edges`'s buffers to the pool."""
        _fft.give_back([edges])

    def finish(self, signals, edges):
        """Add every signal's edge buffers into it, in segment order (``signals`` is ``(items, n_out)``)."""
        if len(self.segments) > 1:
            for item in range(signals.shape[0]):
                overlap_add.add_edges(edges[item], self.segments[:, 2], signals[item])


class _BufferedPlan:
    """A plan with one call's own input and output buffers, for blocks driven from Python."""

    def __init__(self, plan, real, spectrum):
        self.plan = plan
        self.input, self.output = (real, spectrum) if plan.kind == "r2c" else (spectrum, real)
        self._call = plan.execute, (plan.pointer, self.input.ctypes.data, self.output.ctypes.data)

    def execute(self):
        """Transform ``self.input`` (c2r destroys it) and return ``self.output``."""
        function, arguments = self._call
        function(*arguments)
        return self.output


class PlanSet:
    """Plans with buffers, checked out on demand by one serial call and handed back when its ``with`` block ends.

    For code that walks its blocks in order on one thread (the seed's sequential inversion):
    ``plans.get(kind, n_fft, batch, dtype)`` gives the same plan and buffers each time it is asked,
    ``plans.raw(kind, n_fft)`` a float64 single-row plan for compiled code that brings its own buffers.
    """

    def __init__(self, settings):
        self._settings = settings
        self._held = {}
        self._plans, self._buffers = [], []

    def _plan(self, key):
        plan = _fft.acquire([key])[0]
        self._plans.append(plan)
        return plan

    def get(self, kind, n_fft, batch, dtype):
        """The call's plan and buffers for this transform (``input``, ``execute() -> output``)."""
        found = self._held.get((kind, n_fft, batch, dtype))  # asked once per block: the cheapest key first
        if found is None:
            plan = self._plan(_fft.plan_key(kind, n_fft, batch, dtype, self._settings.plan_effort))
            real = _fft.borrow((batch, n_fft), dtype)
            spectrum = _fft.borrow((batch, n_fft // 2 + 1), np.result_type(dtype, np.complex64))
            self._buffers += [real, spectrum]
            found = self._held[kind, n_fft, batch, dtype] = _BufferedPlan(plan, real, spectrum)
        return found

    def raw(self, kind, n_fft):
        """A float64 plan of one row (``pointer``, ``execute``), held until the block ends."""
        return self._plan(_fft.plan_key(kind, n_fft, 1, np.float64, self._settings.plan_effort))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _fft.release(self._plans, self._settings.plan_cache_mb)
        _fft.give_back(self._buffers, self._settings.plan_cache_mb)
        self._held.clear()
        self._plans, self._buffers = [], []
