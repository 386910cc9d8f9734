"""The presets' defaults, the resolution of ``PRESET`` arguments, and the cache of built transforms."""

import contextlib
import decimal
import functools
import threading
import warnings

import numpy as np

from .._validate import ParameterError


class _PresetDefault:
    def __repr__(self):
        return "PRESET"  # help() then shows n_fft=PRESET; the docstrings list each preset's value


PRESET = _PresetDefault()
"""Sentinel default: the value comes from the ``preset`` (see the module docstring)."""

_PSF_EPS = float(np.finfo(np.float64).eps)

PRESETS = {
    "librosa": dict(
        sr=22050, n_fft=2048, hop_length=512, win_length=None, window="hann", center=True,
        pad_mode="constant", power=2.0, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney",
        preemphasis=0.0, amin=1e-10, top_db=80.0, n_mfcc=20, mfcc_top_db=80.0, lifter=0.0,
        append_energy=False, framing="stft", mel_style="librosa", mel_dtype=np.float32,
        floor="clamp", lifter_style="librosa", top_db_axes="all",
    ),
    "torchaudio": dict(
        sr=16000, n_fft=400, hop_length=None, win_length=None, window="hann", center=True,
        pad_mode="reflect", power=2.0, n_mels=128, fmin=0.0, fmax=None, htk=True, norm=None,
        preemphasis=0.0, amin=1e-10, top_db=None, n_mfcc=40, mfcc_top_db=80.0, lifter=0.0,
        append_energy=False, framing="stft", mel_style="torchaudio", mel_dtype=np.float32,
        floor="clamp", lifter_style="librosa", top_db_axes="last3",
    ),
    "psf": dict(
        sr=16000, n_fft=512, hop_length=None, win_length=None, window="boxcar", center=False,
        pad_mode="constant", power=2.0, n_mels=26, fmin=0.0, fmax=None, htk=True, norm=None,
        preemphasis=0.97, amin=_PSF_EPS, top_db=None, n_mfcc=13, mfcc_top_db=None, lifter=22.0,
        append_energy=True, framing="psf", mel_style="psf", mel_dtype=np.float64,
        floor="zero", lifter_style="psf", top_db_axes="all",
    ),
}
"""Defaults and conventions of each preset (read-only by convention)."""

LOGS = (None, "db", "ln")


def round_half_up(x):
    """``x`` rounded half up to an int: python_speech_features' rounding of frame lengths in samples."""
    return int(decimal.Decimal(x).quantize(decimal.Decimal("1"), rounding=decimal.ROUND_HALF_UP))


def resolve(preset, **given):
    """The defaults of the preset named ``preset`` overridden by every argument that is not ``PRESET``."""
    try:
        values = dict(PRESETS[preset])
    except (KeyError, TypeError):
        raise ParameterError(f"preset={preset!r} must be one of {', '.join(map(repr, PRESETS))}") from None
    values.update({k: v for k, v in given.items() if v is not PRESET})
    return values


_quiet = threading.local()


@contextlib.contextmanager
def quiet():
    """Context manager: transforms built or called in it by this thread give no warnings.

    For a caller that reports the warnings itself (:attr:`MelSpectrogram.notices`), such as the
    batch converter, which builds each transform once per worker and sample rate. Thread-local, so
    other threads keep theirs (``warnings.catch_warnings`` is process-wide).
    """
    before = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = before


def warn_all(notices, stacklevel):
    """Give each of a transform's warnings (``UserWarning``), attributed ``stacklevel`` frames up."""
    if getattr(_quiet, "on", False):
        return
    for text in notices:
        warnings.warn(text, UserWarning, stacklevel=stacklevel + 1)


def build(cls, setup_args):
    """An instance of ``cls`` from resolved parameters, without its warnings (the caller gives them)."""
    obj = object.__new__(cls)
    obj._setup(*setup_args)
    return obj


@functools.lru_cache(maxsize=32)
def _cached_build(cls, frozen, *rest):
    return build(cls, (dict(frozen), *rest))


def cached(cls, p, *rest, warn=True):
    """:func:`_build` cached on the resolved parameters when they are hashable; warns as the call should (``warn``)."""
    try:
        obj = _cached_build(cls, tuple(sorted(p.items())), *rest)
    except TypeError:  # an unhashable window (array): build one for this call
        obj = build(cls, (p, *rest))
    if warn:
        warn_all(obj._notices, stacklevel=3)
    return obj
