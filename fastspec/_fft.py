"""The FFT plan cache: batched real transforms on aligned scratch buffers.

A plan transforms ``batch`` rows of length ``n_fft`` at once: ``"r2c"`` takes real rows in
``plan.input`` and returns ``(batch, n_fft // 2 + 1)`` complex rows, ``"c2r"`` the reverse.
Neither direction scales, so a c2r after an r2c multiplies by ``n_fft``. Callers write into
``plan.input`` and read the array that ``plan.execute()`` returns; plans are never built on user
arrays, because FFTW's planner overwrites the arrays it plans on.

Plans are cached by everything that makes them differ (kind, length, batch, dtype, threads,
planner effort, backend, and the worker slot that owns the buffers; buffers are always allocated
at pyFFTW's SIMD alignment, so alignment is fixed per process). Building one is
serialised by a lock: FFTW's planner is not thread-safe. Executing a plan releases the GIL.
"""

import sys
import threading
import time

import numpy as np

from ._config import settings

_lock = threading.Lock()
_cache = {}


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


class FftwPlan:
    """A pyFFTW plan with its own aligned input and output buffers."""

    backend = "fftw"

    def __init__(self, kind, n_fft, batch, dtype, threads, effort):
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
            flags=(effort, "FFTW_DESTROY_INPUT"), threads=threads,
        )
        self.input[...] = 0
        self.output = output

    def execute(self):
        """Transform ``self.input`` (destroying it) and return the output buffer."""
        self._fftw.execute()
        return self.output


class ScipyPlan:
    """``scipy.fft`` behind the same interface; the output is a fresh array each call."""

    backend = "scipy"

    def __init__(self, kind, n_fft, batch, dtype, threads, effort):
        real = np.dtype(dtype)
        cplx = np.result_type(real, np.complex64)
        align = _pyfftw().simd_alignment
        self._kind, self._n_fft, self._workers = kind, n_fft, threads
        shape = (batch, n_fft) if kind == "r2c" else (batch, n_fft // 2 + 1)
        self.input = _pyfftw().zeros_aligned(shape, dtype=real if kind == "r2c" else cplx, n=align)

    def execute(self):
        """Transform ``self.input`` and return a new output array (unscaled both ways)."""
        import scipy.fft

        if self._kind == "r2c":
            return scipy.fft.rfft(self.input, axis=-1, workers=self._workers, overwrite_x=True)
        return scipy.fft.irfft(
            self.input, n=self._n_fft, axis=-1, norm="forward", workers=self._workers, overwrite_x=True
        )


def _time_plan(plan, repeats=3):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan.execute()
        best = min(best, time.perf_counter() - t0)
    return best


def _build(kind, n_fft, batch, dtype, threads, effort, backend):
    if backend == "fftw":
        return FftwPlan(kind, n_fft, batch, dtype, threads, effort)
    if backend == "scipy":
        return ScipyPlan(kind, n_fft, batch, dtype, threads, effort)
    # auto: measure both once for this shape and keep the faster, as FFTW's planner does.
    fftw_plan = FftwPlan(kind, n_fft, batch, dtype, threads, effort)
    scipy_plan = ScipyPlan(kind, n_fft, batch, dtype, threads, effort)
    return fftw_plan if _time_plan(fftw_plan) <= _time_plan(scipy_plan) else scipy_plan


def get_plan(kind, n_fft, batch, dtype, threads=1, slot=0):
    """Return the cached plan for this transform, building it on first use.

    Parameters
    ----------
    kind : {"r2c", "c2r"}
        Forward real-to-complex or inverse complex-to-real transform.
    n_fft : int
        Transform length.
    batch : int
        Number of rows transformed per call.
    dtype : numpy dtype
        float32 or float64 (the real side); the complex side follows.
    threads : int
        Threads inside one transform (fastspec's block pipeline uses 1 per worker).
    slot : int
        Worker slot: each worker thread gets its own buffers.

    Returns
    -------
    FftwPlan or ScipyPlan
    """
    key = (kind, int(n_fft), int(batch), np.dtype(dtype).str, int(threads),
           settings.planner_effort, settings.fft_backend, int(slot))
    plan = _cache.get(key)
    if plan is None:
        with _lock:
            plan = _cache.get(key)
            if plan is None:
                plan = _build(kind, n_fft, batch, dtype, threads, settings.planner_effort,
                              settings.fft_backend)
                _cache[key] = plan
    return plan


def clear_plan_cache():
    """Drop every cached plan (FFTW keeps its accumulated wisdom)."""
    with _lock:
        _cache.clear()


def export_wisdom(path):
    """Write FFTW's accumulated wisdom to ``path`` so a later process plans instantly.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    """
    with _lock:
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
    with _lock:
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
    import os

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
        self.pointer = getattr(lib, f"fftw_plan_dft_{kind}_1d")(
            n_fft, source.ctypes.data, target.ctypes.data, _FLAGS[effort])
        if not self.pointer:
            raise RuntimeError(f"FFTW could not plan a {kind} transform of length {n_fft}")
        self.execute = getattr(lib, f"fftw_execute_dft_{kind}")


def aligned(shape, dtype):
    """Zeroed array at FFTW's SIMD alignment (what :class:`RawPlan` execution requires)."""
    pyfftw = _pyfftw()
    return pyfftw.zeros_aligned(shape, dtype=dtype, n=pyfftw.simd_alignment)


def get_raw_plan(kind, n_fft):
    """Return the cached :class:`RawPlan` (``"r2c"`` or ``"c2r"``, float64) of length ``n_fft``.

    Parameters
    ----------
    kind : {"r2c", "c2r"}
    n_fft : int

    Returns
    -------
    RawPlan
    """
    key = (kind, int(n_fft), settings.planner_effort)
    plan = _raw_cache.get(key)
    if plan is None:
        with _lock:
            plan = _raw_cache.get(key)
            if plan is None:
                plan = RawPlan(kind, int(n_fft), settings.planner_effort)
                _raw_cache[key] = plan
    return plan
