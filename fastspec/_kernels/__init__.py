"""numba kernels: plain loops over preallocated contiguous arrays, writing into ``out``.

Kernels never validate user input and never allocate user-sized outputs; the public modules
do both. One file per kind of work.

The kernel modules are loaded on first use, not by ``import fastspec``: importing numba alone
takes 0.2 s, most of what fastspec's import took. ``from fastspec._kernels import pipeline``
gives a stand-in whose first attribute lookup imports the module; the import runs under a lock
that ``fork()`` waits for, so no child inherits an import half done (its import lock would then
stay held, and the child's first call would wait for ever).
"""

import importlib
import logging  # noqa: F401 -- see the fork handler below
import os
import sys
import threading

_NAMES = ("elementwise", "fallback_fft", "filterbank", "framing", "overlap_add", "phase", "pipeline", "pitch",
          "rtpghi", "seed", "xcorr")
_lock = threading.RLock()
_loaded = {}


_held = []  # numba's compiler lock, while a fork holds it


def _before_fork():
    _lock.acquire()
    # numba compiles (or loads from its cache) a kernel's first call under one process-wide lock; a
    # child forked meanwhile would inherit it held, and wait for ever at its own first call.
    numba_lock = getattr(sys.modules.get("numba.core.compiler_lock"), "global_compiler_lock", None)
    if numba_lock is not None:
        numba_lock.acquire()
        _held.append(numba_lock)


def _after_fork_in_parent():
    while _held:
        _held.pop().release()
    _lock.release()


def _after_fork_in_child():
    global _lock
    while _held:
        _held.pop().release()  # the child's one thread is the one that took it
    _lock = threading.RLock()


# fork() runs the handlers registered last first. This one is registered after logging's (imported
# above: numba imports logging while it loads, and logging's handler takes logging's lock, which a
# loading or compiling thread may be waiting for) and before fastspec._fft's (which imports this
# package first): fork() takes the planner's locks, then the kernel loading lock, then numba's
# compiler lock, then logging's, the order in which a working thread nests them.
os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def load(name):
    """The kernel module ``name``, imported on the first call."""
    module = _loaded.get(name)
    if module is None:
        with _lock:
            module = _loaded[name] = importlib.import_module(f"{__name__}.{name}")
    return module


class _Deferred:
    """Stands for kernel module ``name``: the module is imported at the first attribute lookup."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        # Kept on the stand-in: later lookups find it directly, without coming here (a kernel call
        # on a 1 s clip makes about five such lookups).
        value = getattr(load(self._name), attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self):
        return f"<kernel module {__name__}.{self._name}, loaded on first use>"


def __getattr__(name):
    # Consulted by ``from fastspec._kernels import name`` before it would import the submodule.
    if name in _NAMES:
        return _Deferred(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
