"""One place for the runtime settings: threads, FFTW planner effort, reproducibility, plan cache bound.

Process-wide values are read once from the environment (``FASTSPEC_NUM_THREADS``,
``FASTSPEC_PLANNER_EFFORT``, ``FASTSPEC_REPRODUCIBLE``,
``FASTSPEC_PLAN_CACHE_MB``) and changed through the ``set_*`` functions. :func:`config` overrides
them for the calling thread (or asyncio task) only, so one thread of a server or a Dask worker can
ask for one thread or reproducible plans without touching the others.

Every public call reads the settings once, through :func:`current`, and passes that snapshot down:
a setting changed while a call runs takes effect at the next call.
"""

import contextlib
import contextvars
import os
import typing

_EFFORTS = ("FFTW_ESTIMATE", "FFTW_MEASURE", "FFTW_PATIENT", "FFTW_EXHAUSTIVE")


def _parse_effort(value):
    from ._validate import ParameterError

    name = str(value).upper()
    if not name.startswith("FFTW_"):
        name = "FFTW_" + name
    if name not in _EFFORTS:
        raise ParameterError(f"planner effort {value!r} is not one of {', '.join(_EFFORTS)}")
    return name


def _parse_threads(value):
    from ._validate import ParameterError

    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ParameterError(f"num_threads={value!r} must be a positive integer") from None
    if n < 1:
        raise ParameterError(f"num_threads={value!r} must be a positive integer")
    return n


def _parse_flag(value, name="reproducible"):
    from ._validate import ParameterError

    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
    elif isinstance(value, (bool, int)):
        return bool(value)
    raise ParameterError(f"{name}={value!r} must be true or false")


def _parse_megabytes(value):
    from ._validate import ParameterError

    try:
        mb = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"plan_cache_mb={value!r} must be a number >= 0") from None
    if not mb >= 0:
        raise ParameterError(f"plan_cache_mb={value!r} must be a number >= 0")
    return mb


class Settings(typing.NamedTuple):
    """A snapshot of the settings one call runs with."""

    num_threads: int
    planner_effort: str
    reproducible: bool
    plan_cache_mb: float

    @property
    def plan_effort(self):
        """The effort plans are built with: ESTIMATE, apart from wisdom, when reproducible."""
        return "reproducible" if self.reproducible else self.planner_effort


_PARSERS = {"num_threads": _parse_threads, "planner_effort": _parse_effort, "reproducible": _parse_flag,
            "plan_cache_mb": _parse_megabytes}

_global = Settings(
    num_threads=_parse_threads(os.environ.get("FASTSPEC_NUM_THREADS", os.cpu_count() or 1)),
    planner_effort=_parse_effort(os.environ.get("FASTSPEC_PLANNER_EFFORT", "FFTW_MEASURE")),
    reproducible=_parse_flag(os.environ.get("FASTSPEC_REPRODUCIBLE", "0")),
    plan_cache_mb=_parse_megabytes(os.environ.get("FASTSPEC_PLAN_CACHE_MB", 256)),
)
_override = contextvars.ContextVar("fastspec_settings", default=None)


def current():
    """The settings in force for this thread: its :func:`config` override, else the process-wide ones."""
    local = _override.get()
    return _global if local is None else local


def _set(name, value):
    global _global
    old = getattr(_global, name)
    _global = _global._replace(**{name: _PARSERS[name](value)})
    return old


@contextlib.contextmanager
def config(**settings):
    """Override settings for the calling thread (or asyncio task) inside a ``with`` block.

    Other threads keep the process-wide settings, so this is the way to change them in a thread pool,
    a threaded Dask worker or a web server.

    Parameters
    ----------
    **settings
        Any of ``num_threads`` (int >= 1), ``planner_effort`` (as :func:`set_planner_effort`),
        ``reproducible`` (as :func:`set_reproducible`), ``plan_cache_mb`` (as :func:`set_plan_cache_size`).

    Examples
    --------
    >>> import numpy as np, fastspec
    >>> with fastspec.config(num_threads=1, reproducible=True):
    ...     S = fastspec.spectrogram(np.ones(4096, dtype=np.float32))
    """
    from ._validate import ParameterError

    unknown = sorted(set(settings) - set(_PARSERS))
    if unknown:
        raise ParameterError(f"config() got unknown settings {unknown}; known: {', '.join(_PARSERS)}")
    parsed = {name: _PARSERS[name](value) for name, value in settings.items()}
    token = _override.set(current()._replace(**parsed))
    try:
        yield
    finally:
        _override.reset(token)


def set_num_threads(n):
    """Set the number of threads fastspec uses for FFTs and kernels (process-wide).

    Parameters
    ----------
    n : int
        Threads, at least 1. Work is split into blocks of frames and each thread runs its own
        single-threaded FFTW plan and numba kernels on its blocks, so the two runtimes never
        spin against each other. Results do not depend on the thread count.

    Returns
    -------
    int
        The previous setting.
    """
    return _set("num_threads", n)


def get_num_threads():
    """Return the number of threads fastspec uses in this thread (see :func:`set_num_threads`)."""
    return current().num_threads


def set_planner_effort(effort):
    """Set the FFTW planner effort for plans built from now on (process-wide).

    Parameters
    ----------
    effort : str
        One of ``"FFTW_ESTIMATE"``, ``"FFTW_MEASURE"`` (default), ``"FFTW_PATIENT"``,
        ``"FFTW_EXHAUSTIVE"``; the ``FFTW_`` prefix and case are optional. Planning a new shape
        is capped at about a second whatever the effort.

    Returns
    -------
    str
        The previous setting.
    """
    return _set("planner_effort", effort)


def set_reproducible(on=True):
    """Make results bit-identical across runs and processes (process-wide).

    Plans measured by FFTW (``FFTW_MEASURE``, the default) can pick a different algorithm in
    another process, which changes the last bits of results (about
    1e-11 relative in float64). Reproducible mode builds every plan with FFTW's ``FFTW_ESTIMATE``
    heuristic, ignoring accumulated wisdom, so the same inputs give the same bytes in every run on
    the same machine and library versions. Within one process, results never depend on the thread
    count or on concurrent calls, in either mode. For the sizes fastspec's blocks use, ESTIMATE plans
    ran within a few percent of measured ones here.

    Parameters
    ----------
    on : bool
        Turn reproducible mode on (default) or off. Also set by ``FASTSPEC_REPRODUCIBLE=1``.

    Returns
    -------
    bool
        The previous setting.
    """
    return _set("reproducible", on)


def set_plan_cache_size(megabytes):
    """Bound the memory that idle FFT plans and their buffers may keep (process-wide).

    Plans not in use are kept for reuse up to this size; the least recently used go first.
    Plans in use by running calls are not counted.

    Parameters
    ----------
    megabytes : float
        The bound, >= 0 (0 keeps no idle plan). Default 256, or ``FASTSPEC_PLAN_CACHE_MB``.

    Returns
    -------
    float
        The previous setting.
    """
    return _set("plan_cache_mb", megabytes)
