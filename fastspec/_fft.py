"""FFT plans: a bounded pool of batched real transforms, each with its own aligned buffers.

A plan transforms ``batch`` rows of length ``n_fft`` at once: ``"r2c"`` takes real rows in
``plan.input`` and returns ``(batch, n_fft // 2 + 1)`` complex rows, ``"c2r"`` the reverse.
Neither direction scales, so a c2r after an r2c multiplies by ``n_fft``. Callers write into
``plan.input`` and read the array that ``plan.execute()`` returns; plans are never built on user
arrays, because FFTW's planner overwrites the arrays it plans on.

A plan's buffers belong to one call at a time: :func:`acquire` hands out an idle plan of the wanted
shape (or builds one) and :func:`release` takes it back, so concurrent calls never share a buffer.
Plans of one shape are interchangeable: every one is built on buffers at pyFFTW's SIMD alignment
from the same wisdom (and ``"auto"`` decides the backend once per shape), so they compute the same
bits. Idle plans are kept up to the plan cache bound (:func:`fastspec.set_plan_cache_size`), least
recently used evicted first. Building and destroying plans is serialised by one lock (FFTW's planner
is not thread-safe), each build is capped at ``PLANNING_TIME_LIMIT`` seconds of measuring, and a
fork waits for a build in progress so the child inherits a consistent planner.
"""

import collections
import os
import sys
import threading
import time

import numpy as np

from ._config import current

PLANNING_TIME_LIMIT = 1.0
"""Seconds FFTW may spend measuring one new plan before it settles (n_fft=2**22 took 48 s unbounded)."""

_planner_lock = threading.Lock()
_idle_lock = threading.Lock()
_idle = collections.OrderedDict()  # key -> idle plans of that key, least recently used key first
_idle_bytes = [0]
_choices = {}  # "auto" backend decided once per shape


def _reset_after_fork():
    global _planner_lock, _idle_lock
    _planner_lock, _idle_lock = threading.Lock(), threading.Lock()


def _before_fork():
    _planner_lock.acquire()
    _idle_lock.acquire()


def _after_fork_in_parent():
    _idle_lock.release()
    _planner_lock.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_reset_after_fork)


def _pyfftw():
    # Imported on first use: pyfftw's package import pulls in its numpy/scipy/dask interfaces
    # (0.38 s here), which `import fastspec` should not pay. Of that, 0.2 s is dask.array for
    # pyfftw.interfaces.dask_fft, which fastspec never uses: hide dask during the import (an
    # explicit `import pyfftw.interfaces.dask_fft` later still works).
    if "pyfftw" not in sys.modules and "dask" not in sys.modules:
        sys.modules["dask"] = None
        try:
            import pyfftw
        finally:
            del sys.modules["dask"]
    import pyfftw

    return pyfftw


class _WisdomSet:
    """Plan without accumulated wisdom (reproducible mode), restoring it afterwards; planner lock held."""

    def __enter__(self):
        pyfftw = _pyfftw()
        self._saved = pyfftw.export_wisdom()
        pyfftw.forget_wisdom()

    def __exit__(self, *exc):
        pyfftw = _pyfftw()
        pyfftw.forget_wisdom()
        pyfftw.import_wisdom(self._saved)


def _fftw_flags(effort):
    return "FFTW_ESTIMATE" if effort == "reproducible" else effort


class FftwPlan:
    """A pyFFTW plan with its own aligned input and output buffers."""

    backend = "fftw"

    def __init__(self, kind, n_fft, batch, dtype, effort):
        pyfftw = _pyfftw()
        align = pyfftw.simd_alignment
        real = np.dtype(dtype)
        cplx = np.result_type(real, np.complex64)
        n_freq = n_fft // 2 + 1
        if kind == "r2c":
            self.input = pyfftw.empty_aligned((batch, n_fft), dtype=real, n=align)
            output = pyfftw.empty_aligned((batch, n_freq), dtype=cplx, n=align)
            direction = "FFTW_FORWARD"
        else:
            self.input = pyfftw.empty_aligned((batch, n_freq), dtype=cplx, n=align)
            output = pyfftw.empty_aligned((batch, n_fft), dtype=real, n=align)
            direction = "FFTW_BACKWARD"
        self._fftw = pyfftw.FFTW(
            self.input, output, axes=(-1,), direction=direction,
            flags=(_fftw_flags(effort), "FFTW_DESTROY_INPUT"), threads=1,
            planning_timelimit=PLANNING_TIME_LIMIT,
        )
        self.input[...] = 0
        self.output = output
        # FFTW's own plan data (twiddles, buffers) is of the order of one transform.
        self.nbytes = self.input.nbytes + output.nbytes + 16 * n_fft

    def execute(self):
        """Transform ``self.input`` (destroying it) and return the output buffer."""
        self._fftw.execute()
        return self.output


class ScipyPlan:
    """``scipy.fft`` behind the same interface; the output is a fresh array each call."""

    backend = "scipy"

    def __init__(self, kind, n_fft, batch, dtype, effort):
        real = np.dtype(dtype)
        cplx = np.result_type(real, np.complex64)
        align = _pyfftw().simd_alignment
        self._kind, self._n_fft = kind, n_fft
        shape = (batch, n_fft) if kind == "r2c" else (batch, n_fft // 2 + 1)
        self.input = _pyfftw().zeros_aligned(shape, dtype=real if kind == "r2c" else cplx, n=align)
        self.nbytes = self.input.nbytes

    def execute(self):
        """Transform ``self.input`` and return a new output array (unscaled both ways)."""
        import scipy.fft

        if self._kind == "r2c":
            return scipy.fft.rfft(self.input, axis=-1, workers=1, overwrite_x=True)
        return scipy.fft.irfft(self.input, n=self._n_fft, axis=-1, norm="forward", workers=1, overwrite_x=True)


def _time_plan(plan, repeats=3):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan.execute()
        best = min(best, time.perf_counter() - t0)
    return best


def _build(key):
    """A new plan for ``key``; the planner lock is held."""
    kind, n_fft, batch, dtype, effort, backend = key
    if backend == "auto":
        shape = key[:5]
        backend = _choices.get(shape)
        if backend is None:
            # Measure both once for this shape and keep the faster, as FFTW's planner does.
            fftw_plan = FftwPlan(kind, n_fft, batch, dtype, effort)
            scipy_plan = ScipyPlan(kind, n_fft, batch, dtype, effort)
            faster = fftw_plan if _time_plan(fftw_plan) <= _time_plan(scipy_plan) else scipy_plan
            if len(_choices) > 4096:
                _choices.clear()
            _choices[shape] = faster.backend
            faster.key = key
            return faster
    plan = (FftwPlan if backend == "fftw" else ScipyPlan)(kind, n_fft, batch, dtype, effort)
    plan.key = key
    return plan


def plan_key(kind, n_fft, batch, dtype, settings=None):
    """The pool key of a transform under ``settings`` (default: this thread's current settings)."""
    settings = current() if settings is None else settings
    return (kind, int(n_fft), int(batch), np.dtype(dtype).str, settings.plan_effort, settings.plan_backend)


def acquire(key):
    """Check out a plan for ``key`` (from :func:`plan_key`): an idle one, or a new one.

    The caller owns its buffers until :func:`release`.
    """
    with _idle_lock:
        stack = _idle.get(key)
        if stack:
            plan = stack.pop()
            _idle_bytes[0] -= plan.nbytes
            return plan
    with _planner_lock:
        if key[4] == "reproducible":
            with _WisdomSet():
                return _build(key)
        return _build(key)


def release(plans, limit_mb=None):
    """Return checked-out plans to the pool, evicting the least recently used beyond the bound."""
    limit = (current().plan_cache_mb if limit_mb is None else limit_mb) * (1 << 20)
    evicted = []
    with _idle_lock:
        for plan in plans:
            stack = _idle.get(plan.key)
            if stack is None:
                stack = _idle[plan.key] = []
            else:
                _idle.move_to_end(plan.key)
            stack.append(plan)
            _idle_bytes[0] += plan.nbytes
        while _idle_bytes[0] > limit and _idle:
            key, stack = next(iter(_idle.items()))
            old = stack.pop(0)
            _idle_bytes[0] -= old.nbytes
            evicted.append(old)
            if not stack:
                del _idle[key]
    if evicted:
        with _planner_lock:  # destroying an FFTW plan is planner work too
            evicted.clear()


def cached_bytes():
    """Bytes held by idle plans in the pool."""
    return _idle_bytes[0]


def clear_plan_cache():
    """Drop every idle cached plan (FFTW keeps its accumulated wisdom)."""
    with _idle_lock:
        dropped = list(_idle.values())
        _idle.clear()
        _idle_bytes[0] = 0
    with _planner_lock:
        dropped.clear()


def export_wisdom(path):
    """Write FFTW's accumulated wisdom to ``path`` so a later process plans instantly.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    """
    with _planner_lock:
        blobs = _pyfftw().export_wisdom()
    with open(path, "wb") as f:
        for blob in blobs:
            f.write(len(blob).to_bytes(8, "little"))
            f.write(blob)


def import_wisdom(path):
    """Load wisdom written by :func:`export_wisdom`.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`export_wisdom`.

    Returns
    -------
    tuple of bool
        Whether the double, single and long-double wisdom were accepted.
    """
    from ._validate import ParameterError

    blobs = []
    with open(path, "rb") as f:
        for _ in range(3):
            size = f.read(8)
            if len(size) != 8:
                raise ParameterError(f"{path}: not a fastspec wisdom file")
            blobs.append(f.read(int.from_bytes(size, "little")))
    with _planner_lock:
        return _pyfftw().import_wisdom(tuple(blobs))


# ----- 1-D plans executed from compiled code ---------------------------------------------------
# A loop whose every iteration needs an FFT of data the previous iteration produced (the seed's
# sequential offset search) cannot batch through pyFFTW. These plans are built on FFTW's C API
# (the library pyFFTW itself loaded) and run from numba through FFTW's new-array execute
# functions, which are thread-safe, so one plan serves any aligned buffers. Measured for a
# 1344-point r2c + c2r pair inside a numba loop: 4.4 us, against 13 us for numpy.fft via
# rocket-fft.
_FLAGS = {"FFTW_ESTIMATE": 1 << 6, "FFTW_MEASURE": 0, "FFTW_PATIENT": 1 << 5, "FFTW_EXHAUSTIVE": 1 << 3}
_raw_cache = {}
_library = []


def _fftw_library():
    """The double-precision FFTW library pyFFTW runs on, loaded through ctypes."""
    if _library:
        return _library[0]
    import ctypes
    import ctypes.util
    import glob

    pyfftw = _pyfftw()
    candidates = []
    try:  # Linux: the very file pyFFTW loaded
        with open("/proc/self/maps") as maps:
            candidates += [line.split()[-1] for line in maps if "libfftw3" in line]
    except OSError:
        pass
    here = os.path.dirname(os.path.abspath(pyfftw.__file__))
    for folder in (here, here + ".libs", os.path.join(here, ".dylibs"), os.path.join(here, "..", "pyfftw.libs")):
        candidates += sorted(glob.glob(os.path.join(folder, "*fftw3*")))
    found = ctypes.util.find_library("fftw3")
    candidates += [found] if found else []
    for path in candidates:
        name = os.path.basename(path)
        # The double-precision library: not libfftw3f / libfftw3l, not the threads/omp parts.
        if not name.startswith("libfftw3") or name[8:9] in ("f", "l", "_") or "thread" in name:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if not hasattr(lib, "fftw_plan_dft_r2c_1d"):
            continue
        size_t = ctypes.c_size_t
        for kind in ("r2c", "c2r"):
            plan = getattr(lib, f"fftw_plan_dft_{kind}_1d")
            plan.restype = size_t
            plan.argtypes = [ctypes.c_int, size_t, size_t, ctypes.c_uint]
            execute = getattr(lib, f"fftw_execute_dft_{kind}")
            execute.restype = None
            execute.argtypes = [size_t, size_t, size_t]
        lib.fftw_set_timelimit.restype = None
        lib.fftw_set_timelimit.argtypes = [ctypes.c_double]
        _library.append(lib)
        return lib
    raise RuntimeError("fastspec could not locate the FFTW library that pyFFTW uses")


class RawPlan:
    """A 1-D double-precision FFTW plan for compiled code.

    Attributes
    ----------
    pointer : int
        The ``fftw_plan``.
    execute : ctypes function
        ``fftw_execute_dft_r2c`` or ``..._c2r``: ``execute(pointer, in_address, out_address)``
        on arrays aligned like :func:`aligned` returns (``"c2r"`` destroys its input).
    """

    def __init__(self, kind, n_fft, effort):
        lib = _fftw_library()
        pyfftw = _pyfftw()
        real = pyfftw.empty_aligned(n_fft, dtype=np.float64, n=pyfftw.simd_alignment)
        cplx = pyfftw.empty_aligned(n_fft // 2 + 1, dtype=np.complex128, n=pyfftw.simd_alignment)
        source, target = (real, cplx) if kind == "r2c" else (cplx, real)
        lib.fftw_set_timelimit(PLANNING_TIME_LIMIT)
        self.pointer = getattr(lib, f"fftw_plan_dft_{kind}_1d")(
            n_fft, source.ctypes.data, target.ctypes.data, _FLAGS[_fftw_flags(effort)])
        if not self.pointer:
            raise RuntimeError(f"FFTW could not plan a {kind} transform of length {n_fft}")
        self.execute = getattr(lib, f"fftw_execute_dft_{kind}")


def aligned(shape, dtype):
    """Zeroed array at FFTW's SIMD alignment (what :class:`RawPlan` execution requires)."""
    pyfftw = _pyfftw()
    return pyfftw.zeros_aligned(shape, dtype=dtype, n=pyfftw.simd_alignment)


def get_raw_plan(kind, n_fft):
    """Return the cached :class:`RawPlan` (``"r2c"`` or ``"c2r"``, float64) of length ``n_fft``.

    Raw plans hold no buffers (every execution names its arrays), so one plan serves every thread.

    Parameters
    ----------
    kind : {"r2c", "c2r"}
    n_fft : int

    Returns
    -------
    RawPlan
    """
    key = (kind, int(n_fft), current().plan_effort)
    plan = _raw_cache.get(key)
    if plan is None:
        with _planner_lock:
            plan = _raw_cache.get(key)
            if plan is None:
                if key[2] == "reproducible":
                    with _WisdomSet():
                        plan = RawPlan(kind, key[1], key[2])
                else:
                    plan = RawPlan(kind, key[1], key[2])
                _raw_cache[key] = plan
    return plan
