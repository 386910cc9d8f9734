"""The benchmark registry: one list of cases for agreement checks, timing and the README table.

The same cases drive the agreement checks, pytest-benchmark timing, ``fastspec bench`` and the
README's table.

A case's ``setup()`` builds its inputs (untimed) and returns a dict mapping an implementation
name to a zero-argument callable. ``"fastspec"`` must be one of them; the others are outside
anchors: ``"reference"`` (fastspec.reference), ``"librosa"``, ``"psf"``, ``"torch"``, and
floors such as ``"fftw floor"`` / ``"scipy floor"`` (bare batched FFTs over pre-framed data,
whose results are not compared). ``check(name, fastspec_result, other_result)`` raises
AssertionError when ``name``'s result disagrees beyond the case's tolerance, so a fast wrong
answer fails.
"""

import dataclasses
import importlib.util
from collections.abc import Callable

FLOOR_SUFFIX = "floor"


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark task.

    Attributes
    ----------
    name : str
        Row label, e.g. ``"spectrogram 60 s 44.1 kHz n_fft=2048 hop=512 float32"``.
    group : str
        The area it belongs to (``"stft"``, ``"compat"``, ``"feature"``, ...).
    setup : callable
        ``setup() -> {implementation name: zero-argument callable}``.
    check : callable or None
        ``check(name, fastspec_result, other_result)``; raises AssertionError on disagreement.
    quick : bool
        Part of the quick tier (run by CI and by ``fastspec bench``).
    """

    name: str
    group: str
    setup: Callable[[], dict]
    check: Callable | None = None
    quick: bool = True


CASES = []


def register(case):
    """Add ``case`` to the registry and return it."""
    if any(c.name == case.name for c in CASES):
        raise ValueError(f"duplicate benchmark case name {case.name!r}")
    CASES.append(case)
    return case


def has_module(name):
    """Whether an optional outside anchor (librosa, torch, ...) is importable."""
    return importlib.util.find_spec(name) is not None


def is_floor(impl):
    """Floors (bare FFTs) are timed but their results are not compared."""
    return impl.endswith(FLOOR_SUFFIX)


def check_case(case, impls, results=None):
    """Run every implementation of ``case`` once and assert agreement with fastspec.

    Parameters
    ----------
    case : Case
    impls : dict
        What ``case.setup()`` returned.
    results : dict, optional
        Filled with each implementation's result.
    """
    results = {} if results is None else results
    for name, run in impls.items():
        results[name] = run()
    if case.check is not None:
        for name, value in results.items():
            if name != "fastspec" and not is_floor(name):
                case.check(name, results["fastspec"], value)
    return results
