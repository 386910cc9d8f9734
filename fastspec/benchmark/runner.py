"""Time the registry's cases side by side and render the ratio table (``fastspec bench``)."""

import contextlib
import time

from .._config import get_num_threads
from .registry import CASES, check_case, is_floor


def time_callable(fn, min_time=0.3, max_repeats=200, min_repeats=3, warm_up=True):
    """Best-of-N wall time of ``fn()`` in seconds.

    Parameters
    ----------
    fn : callable
    min_time : float
        Keep repeating until this much time has been spent (or ``max_repeats``); calls slower
        than ``min_time`` run ``min_repeats`` times only while that takes under ``3 * min_time``
        (a 40 s reference run is timed once).
    max_repeats, min_repeats : int
    warm_up : bool
        Make one untimed call first (compilation, planning); pass False when the caller has
        just run ``fn``, as :func:`check_case` does.

    Returns
    -------
    float
    """
    if warm_up:
        fn()
    best = float("inf")
    spent = 0.0
    n = 0
    while (n < min_repeats and spent < 3 * min_time) or (spent < min_time and n < max_repeats):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        n += 1
    return best


def limit_blas_threads(threads):
    """Limit BLAS/OpenMP pools (librosa's and torch's matrix products) to ``threads``.

    Comparisons are like for like only when every library gets the same threads; OpenBLAS
    otherwise spins a thread per core beside the timed one. Needs threadpoolctl (a librosa
    dependency); without it this does nothing.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads)


def run(cases=None, quick=True, groups=None, progress=None, min_time=0.3):
    """Check and time cases; return ``{case name: {implementation: seconds}}``.

    Parameters
    ----------
    cases : list of Case, optional
        Default: the registry (quick tier if ``quick``).
    quick : bool
        Only the quick tier.
    groups : iterable of str, optional
        Only these groups.
    progress : callable, optional
        Called with a line of text per case.
    min_time : float
        Seconds spent timing each implementation.
    """
    cases = CASES if cases is None else cases
    timings = {}
    for case in cases:
        if quick and not case.quick:
            continue
        if groups and case.group not in groups:
            continue
        impls = case.setup()
        check_case(case, impls)
        with limit_blas_threads(get_num_threads()):
            timings[case.name] = {name: time_callable(fn, min_time=min_time, warm_up=False)
                                  for name, fn in impls.items()}
        if progress is not None:
            progress(f"{case.name}: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in timings[case.name].items()))
    return timings


def render_table(timings):
    """Render timings as a markdown table of ratios.

    Columns: fastspec's time, each anchor's time as a multiple of fastspec's (> 1 means
    fastspec is faster), and fastspec's time as a multiple of, and its excess over, the faster
    FFT floor (the per-call overhead that matters for short clips).
    """
    anchors = []
    for row in timings.values():
        for name in row:
            if name != "fastspec" and not is_floor(name) and name not in anchors:
                anchors.append(name)
    header = ["task", "fastspec"] + [f"{a} / fastspec" for a in anchors] + ["fastspec / FFT floor",
                                                                           "fastspec - FFT floor"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in timings.items():
        fast = row["fastspec"]
        cells = [name, _fmt_time(fast)]
        for a in anchors:
            cells.append(f"{row[a] / fast:.2f}x" if a in row else "")
        floors = [v for k, v in row.items() if is_floor(k)]
        cells.append(f"{fast / min(floors):.2f}x" if floors else "")
        cells.append(_fmt_time(fast - min(floors)) if floors else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt_time(seconds):
    return f"{seconds * 1e3:.2f} ms" if abs(seconds) >= 1e-3 else f"{seconds * 1e6:.0f} us"
