"""Decibel conversions with librosa's semantics (``ref``, ``amin``, ``top_db``)."""

import numbers

import numpy as np

from . import _validate
from ._validate import ParameterError


def _float_array(S, name):
    S = np.asarray(S)
    if S.dtype.kind not in "biufc":
        raise ParameterError(f"{name} must be a numeric array, got dtype {S.dtype}")
    if S.dtype.kind == "c":
        S = np.abs(S)
    elif S.dtype.kind != "f":
        S = S.astype(np.float64)
    return S


def _reference_value(ref, magnitude):
    if callable(ref):
        if magnitude.size == 0:
            raise ParameterError("ref is a function of S, but S is empty")
        value = ref(magnitude)
    elif isinstance(ref, (numbers.Number, np.number)) and not isinstance(ref, (bool, np.bool_)):
        value = np.abs(ref)
    else:
        raise ParameterError(f"ref={ref!r} must be a number or a function of S (such as numpy.max)")
    if not np.all(np.isfinite(value)):
        raise ParameterError(f"ref gives {value!r}; the reference must be finite")
    return value


def _top_db(top_db):
    return None if top_db is None else _validate.positive_float(top_db, "top_db", allow_zero=True)


def power_to_db(S, *, ref=1.0, amin=1e-10, top_db=80.0):
    """Convert a power spectrogram to decibels: ``10 * log10(max(S, amin) / ref)``.

    Parameters
    ----------
    S : array_like
        Power values (complex input uses its magnitude).
    ref : float or callable
        Reference power (0 dB), or a function of the array such as ``np.max``.
    amin : float
        Floor applied to ``S`` and ``ref`` before the logarithm, > 0.
    top_db : float or None
        If given, clip the result to ``max - top_db``.

    Returns
    -------
    numpy.ndarray
        Same shape; the floating dtype of ``S`` is kept.
    """
    S = _float_array(S, "S")
    amin = _validate.positive_float(amin, "amin")
    ref_value = _reference_value(ref, S)
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= (10.0 * np.log10(np.maximum(amin, ref_value))).astype(log_spec.dtype)
    top_db = _top_db(top_db)
    if top_db is not None and np.size(log_spec):
        log_spec = np.maximum(log_spec, np.max(log_spec) - top_db)  # not in place: a 0-d input gives a scalar
    return log_spec


def amplitude_to_db(S, *, ref=1.0, amin=1e-5, top_db=80.0):
    """Convert an amplitude spectrogram to decibels: ``20 * log10(max(S, amin) / ref)``.

    Parameters
    ----------
    S : array_like
        Amplitudes (complex input uses its magnitude).
    ref : float or callable
        Reference amplitude (0 dB), or a function of the array such as ``np.max``.
    amin : float
        Floor applied before the logarithm, > 0.
    top_db : float or None
        If given, clip the result to ``max - top_db``.

    Returns
    -------
    numpy.ndarray
    """
    S = _float_array(S, "S")
    magnitude = np.abs(S)
    ref_value = _reference_value(ref, magnitude)
    power = np.square(magnitude)
    return power_to_db(power, ref=ref_value ** 2, amin=_validate.positive_float(amin, "amin") ** 2,
                       top_db=top_db)


def db_to_power(S_db, *, ref=1.0):
    """Invert :func:`power_to_db`: ``ref * 10 ** (S_db / 10)``.

    Parameters
    ----------
    S_db : array_like
        Decibels.
    ref : float
        Reference power.

    Returns
    -------
    numpy.ndarray
    """
    S_db = _float_array(S_db, "S_db")
    if isinstance(ref, (bool, np.bool_)) or not isinstance(ref, (numbers.Number, np.number)) or not np.isfinite(ref):
        raise ParameterError(f"ref={ref!r} must be a finite number")
    return ref * np.power(S_db.dtype.type(10.0), S_db * S_db.dtype.type(0.1))


def db_to_amplitude(S_db, *, ref=1.0):
    """Invert :func:`amplitude_to_db`: ``ref * 10 ** (S_db / 20)``.

    Parameters
    ----------
    S_db : array_like
        Decibels.
    ref : float
        Reference amplitude.

    Returns
    -------
    numpy.ndarray
    """
    return db_to_power(S_db, ref=ref ** 2) ** 0.5
