"""One place for the runtime settings: thread count, FFTW planner effort, FFT backend.

Read once from the environment (``FASTSPEC_NUM_THREADS``, ``FASTSPEC_PLANNER_EFFORT``,
``FASTSPEC_FFT_BACKEND``) and changed at run time through :func:`set_num_threads`,
:func:`set_planner_effort` and :func:`set_fft_backend`.
"""

import os

_EFFORTS = ("FFTW_ESTIMATE", "FFTW_MEASURE", "FFTW_PATIENT", "FFTW_EXHAUSTIVE")
_BACKENDS = ("auto", "fftw", "scipy")


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


def _parse_backend(value):
    from ._validate import ParameterError

    name = str(value).lower()
    if name not in _BACKENDS:
        raise ParameterError(f"fft backend {value!r} is not one of {', '.join(_BACKENDS)}")
    return name


class _Settings:
    def __init__(self):
        self.num_threads = _parse_threads(os.environ.get("FASTSPEC_NUM_THREADS", os.cpu_count() or 1))
        self.planner_effort = _parse_effort(os.environ.get("FASTSPEC_PLANNER_EFFORT", "FFTW_MEASURE"))
        self.fft_backend = _parse_backend(os.environ.get("FASTSPEC_FFT_BACKEND", "auto"))


settings = _Settings()


def set_num_threads(n):
    """Set the number of threads fastspec uses for FFTs and kernels.

    Parameters
    ----------
    n : int
        Threads, at least 1. Work is split into blocks of frames and each thread runs its own
        single-threaded FFTW plan and numba kernels on its blocks, so the two runtimes never
        spin against each other.

    Returns
    -------
    int
        The previous setting.
    """
    old = settings.num_threads
    settings.num_threads = _parse_threads(n)
    return old


def get_num_threads():
    """Return the number of threads fastspec uses (see :func:`set_num_threads`)."""
    return settings.num_threads


def set_planner_effort(effort):
    """Set the FFTW planner effort for plans built from now on.

    Parameters
    ----------
    effort : str
        One of ``"FFTW_ESTIMATE"``, ``"FFTW_MEASURE"`` (default), ``"FFTW_PATIENT"``,
        ``"FFTW_EXHAUSTIVE"``; the ``FFTW_`` prefix and case are optional.

    Returns
    -------
    str
        The previous setting.
    """
    old = settings.planner_effort
    settings.planner_effort = _parse_effort(effort)
    return old


def set_fft_backend(backend):
    """Choose the FFT engine: ``"auto"`` (default), ``"fftw"`` or ``"scipy"``.

    ``"auto"`` times a pyFFTW plan and ``scipy.fft`` once for each new transform shape and keeps
    the faster, the way FFTW's own planner picks among its algorithms.

    Parameters
    ----------
    backend : str
        ``"auto"``, ``"fftw"`` or ``"scipy"``.

    Returns
    -------
    str
        The previous setting.
    """
    old = settings.fft_backend
    settings.fft_backend = _parse_backend(backend)
    return old
