"""numba options in one place.

Serial kernels are compiled ``nogil=True, cache=True`` so that worker threads run them
concurrently and a fresh process loads them from disk, with NumPy's error model. fastmath stays off: every kernel is
checked for agreement with the plain reference, and reassociation would break it.

Where numba finds no writable place for its cache (``NUMBA_CACHE_DIR`` unset or unwritable, a
read-only install, an unwritable home: containers), its ``cache=True`` would fail the import.
fastspec's kernels are then cached in a folder of the user's own under the temporary directory
(:data:`FALLBACK_CACHE_PREFIX` and the user id), and compiled uncached, with one warning, where
even that cannot be had. numba's choice stands wherever it has one, and other code's numba
functions keep theirs.
"""

import os
import stat
import tempfile
import warnings

import numba
import numpy.ma  # noqa: F401 -- see below

# numba's dispatch of an array argument checks for numpy.ma, importing it on the first call. Done
# here, at import, so that no fastspec call imports a module: a fork() while another thread is
# inside an import can leave the child waiting forever on CPython's import lock.

# fastspec parallelises by running blocks of frames on its own threads (fastspec._engine), each
# calling serial nogil kernels and a single-threaded FFTW plan; it has no parallel numba kernel, so
# it leaves numba's threading layer, and everything else about the host's numba, alone.

JIT_DISABLED = bool(numba.config.DISABLE_JIT)
"""Whether numba runs kernels as plain Python (``NUMBA_DISABLE_JIT=1``)."""

FALLBACK_CACHE_PREFIX = "fastspec-numba-cache"
"""Name of the cache folder under :func:`tempfile.gettempdir` used where numba has none (``-<uid>`` on POSIX)."""

_fallback = []  # [the fallback cache folder, or None: uncached], once numba found no place of its own


def _private_folder():
    """The user's own cache folder under the temporary directory, made if need be; None if unwritable or not safe.

    numba's cache holds pickles, so a folder another user could have planted or can write is refused.
    """
    try:
        owner = os.getuid() if hasattr(os, "getuid") else None
        path = os.path.join(tempfile.gettempdir(), FALLBACK_CACHE_PREFIX + ("" if owner is None else f"-{owner}"))
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or (owner is not None and (info.st_uid != owner or info.st_mode & 0o022)):
            return None
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return None
    return path


def _no_locator(error):
    # What numba raises, at decoration, when none of its cache locators has a writable folder.
    return "no locator available" in str(error)


def _uncached():
    _fallback[:] = [None]
    warnings.warn("numba can cache fastspec's compiled kernels nowhere (no writable NUMBA_CACHE_DIR, package "
                  "folder, home or temporary folder), so every process compiles them afresh; set "
                  "NUMBA_CACHE_DIR to a writable folder to keep them.", UserWarning, stacklevel=4)


def _compile(decorate, function):
    """``decorate(cache)(function)``: cached where numba can cache, else in the fallback folder, else uncached."""
    if not _fallback:
        try:
            return decorate(True)(function)
        except RuntimeError as error:
            if not _no_locator(error):
                raise
        folder = _private_folder()
        if folder is None:
            _uncached()
        else:
            _fallback.append(folder)
    if _fallback[0] is not None:
        saved = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = _fallback[0]  # read while numba locates the cache, during decoration
        try:
            return decorate(True)(function)
        except RuntimeError as error:
            if not _no_locator(error):
                raise
            _uncached()
        finally:
            numba.config.CACHE_DIR = saved
    return decorate(False)(function)


def serial(function):
    """``numba.njit`` with the kernels' options: nogil, cached, NumPy's error model (compiled at the first call).

    error_model="numpy": division follows IEEE (inf/nan, no zero check). Numba's default Python
    error model checks every division and may raise, which stops LLVM vectorising the loop: the
    Griffin-Lim projection took 51 us per 32 x 513 block against 10 us (measured here). Kernels
    never validate input anyway; the public layer does.
    """
    return _compile(lambda cache: numba.njit(nogil=True, cache=cache, fastmath=False, error_model="numpy"), function)


def callback(signature):
    """A decorator compiling a C function of ``signature`` (``numba.cfunc``) with the kernels' options, cached.

    A C function holds no GIL anyway, so ``nogil`` has no meaning for it.
    """
    def decorate(function):
        return _compile(lambda cache: numba.cfunc(signature, cache=cache, fastmath=False, error_model="numpy"),
                        function)

    return decorate
