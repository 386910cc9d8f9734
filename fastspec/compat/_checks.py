"""Input checks and helpers the seed functions share."""

import operator

import numpy as np

from .. import _engine
from .._validate import ParameterError, all_finite

LARGE_STEP_WARNING = (
    "WARNING: Large step size >50\\% detected! This code works best with high overlap - try "
    "with 75% or greater"
)


def blocks(n_frames, n_fft):
    """``(start, count)`` blocks of the engine's size for float64 covering ``n_frames``; the last may be shorter."""
    block = _engine.block_size(n_fft, 8)
    return [(start, min(block, n_frames - start)) for start in range(0, n_frames, block)]


# ----- input checks --------------------------------------------------------------------------
def as_index(value):
    """Return ``value`` as an int; integral floats pass, other values raise ``TypeError``.

    The notebook passes ``fft_size / 16``; NumPy raises ``TypeError`` for other float sizes.
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return operator.index(value)


def positive_index(value, name):
    """:func:`as_index` of a hop or iteration count that must be >= ``1``; the kernels index by it."""
    value = as_index(value)
    if value < 1:
        raise ParameterError(f"{name}={value} must be a positive integer")
    return value


def finite(a, name):
    """``a`` as an array; NaN or Inf raise ParameterError (the seed would return NaN garbage)."""
    a = np.asarray(a)
    if a.dtype.kind in "fc" and a.size and not all_finite(a):
        raise ParameterError(f"{name} contains NaN or Inf values")
    return a


def signal_1d(X, name):
    """A finite, real, 1-D signal (the seed's ``overlap`` fails on other shapes)."""
    x = finite(X, name)
    if x.ndim != 1:
        raise ParameterError(f"{name} must be a 1-D signal, got shape {x.shape}")
    if x.dtype.kind == "c":
        raise ParameterError(f"{name} must be real-valued, got dtype {x.dtype}")
    if x.dtype.kind not in "biuf":
        raise ParameterError(f"{name} must be numeric, got dtype {x.dtype}")
    return x


def count_windows(n_samples, window_size, window_step):
    """Frames ``overlap`` makes of ``n_samples``, raising what the seed raises for bad sizes."""
    if window_size % 2 != 0:
        raise ValueError("Window size must be even!")
    padded = n_samples + window_size - n_samples % window_size
    n_windows = (padded - window_size) // window_step
    if padded < n_samples or n_windows < 0:
        raise ValueError("negative dimensions are not allowed")
    return n_windows


def kernel_dtype(X):
    """Values of ``X`` in a dtype the kernels take (float16 widens exactly to float32)."""
    if X.dtype == np.float16:
        return X.astype(np.float32)
    if X.dtype.kind in "biu":
        return X.astype(np.float64)
    return np.ascontiguousarray(X)
