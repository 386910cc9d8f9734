"""The one gate for user input: every public function checks its arguments here."""

import numbers
import warnings

import numpy as np

from ._kernels import elementwise


class ParameterError(ValueError):
    """A parameter or input array that fastspec cannot work with; the message names it."""


MAX_SIZE = 2**40
"""Bound on sizes, hops and counts: past it array sizes and sample offsets overflow 64-bit arithmetic."""


def positive_int(value, name):
    """Return ``value`` as an int, raising unless it is an integer in ``[1, MAX_SIZE]`` (``True`` is not one)."""
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name}={value!r} must be a positive integer")
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ParameterError(f"{name}={value!r} must be a positive integer")
    if value < 1:
        raise ParameterError(f"{name}={value!r} must be a positive integer")
    if value > MAX_SIZE:
        raise ParameterError(f"{name}={value!r} is too large (at most 2**40)")
    return int(value)


def count(value, name):
    """Return ``value`` as an int, raising unless it is an integer >= 0 (an iteration count; not ``True``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        raise ParameterError(f"{name}={value!r} must be a non-negative integer")
    return int(value)


def positive_float(value, name, allow_zero=False):
    """Return ``value`` as a float, raising unless it is a finite number > 0 (>= 0 if allowed); text is not one."""
    if isinstance(value, (str, bytes)):
        raise ParameterError(f"{name}={value!r} must be a number, not text")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} must be a number") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ParameterError(f"{name}={value!r} must be a finite {bound} number")
    return v


def real_dtype(dtype, name="dtype"):
    """Return float32 or float64 for a real or complex dtype request."""
    dt = np.dtype(dtype)
    if dt in (np.float32, np.complex64):
        return np.dtype(np.float32)
    if dt in (np.float64, np.complex128):
        return np.dtype(np.float64)
    raise ParameterError(f"{name}={dt} is not supported; use float32/complex64 or float64/complex128")


def all_finite(x):
    """Whether every element of ``x`` is finite (complex: both parts)."""
    # One allocation-free pass (np.isfinite(x).all() allocates a mask: 3x slower on 1 s clips);
    # ravel(order="K") is a view for C- and F-ordered arrays (fastspec's own STFT layout).
    flat = x.ravel(order="K")
    if flat.dtype.kind == "c":
        flat = flat.view(flat.real.dtype)
    if flat.dtype.itemsize < 4:  # numba has no float16 arithmetic
        return bool(np.isfinite(flat).all())
    if elementwise.JIT_DISABLED:  # the loop then runs on numpy scalars, which warn on inf - inf
        with np.errstate(invalid="ignore"):
            return bool(elementwise.all_finite(flat))
    return bool(elementwise.all_finite(flat))


def audio(y, name="y", dtype=None):
    """Check a real signal of shape ``(..., n_samples)`` and return it as float32/float64.

    Float16 becomes float32; integer, boolean and complex input is refused (integer PCM needs
    an explicit scale). The caller's array is never copied unless the dtype changes.
    """
    if not isinstance(y, np.ndarray):
        y = np.asarray(y)
    if y.dtype.kind == "c":
        raise ParameterError(f"{name} must be real-valued, got complex dtype {y.dtype}")
    if y.dtype.kind != "f":
        raise ParameterError(
            f"{name} must be floating-point audio, got dtype {y.dtype}; "
            f"for integer PCM use e.g. y.astype(np.float32) / 32768"
        )
    if y.ndim < 1:
        raise ParameterError(f"{name} must have at least 1 dimension (..., n_samples), got a scalar")
    if y.shape[-1] == 0 or y.size == 0:
        raise ParameterError(f"{name} is empty (shape {y.shape})")
    if y.ndim >= 2 and y.shape[-1] <= 8 and y.shape[-2] >= 256 * y.shape[-1]:
        warnings.warn(f"{name} has shape {y.shape}: fastspec takes time on the last axis (..., n_samples), so "
                      f"this is {y.shape[-2]} signals of {y.shape[-1]} sample(s) each. For soundfile's "
                      f"(n_samples, n_channels) layout pass {name}.T", UserWarning, stacklevel=3)
    target = work_dtype(y, dtype)
    if y.dtype != target:
        y = y.astype(target)
    if not all_finite(y):
        raise ParameterError(f"{name} contains NaN or Inf values")
    return y


def spectrum(S, name="S", n_fft=None):
    """Check a complex or real spectrogram of shape ``(..., n_freq, n_frames)``."""
    if not isinstance(S, np.ndarray):
        S = np.asarray(S)
    if S.dtype.kind not in "fc":
        raise ParameterError(f"{name} must be a floating-point or complex array, got dtype {S.dtype}")
    if S.ndim < 2:
        raise ParameterError(f"{name} must have at least 2 dimensions (..., n_freq, n_frames), got shape {S.shape}")
    if S.size == 0:
        raise ParameterError(f"{name} is empty (shape {S.shape})")
    if not S.dtype.isnative:  # the kernels take native byte order; the values and precision stay
        S = S.astype(S.dtype.newbyteorder("="))
    if n_fft is not None and S.shape[-2] != n_fft // 2 + 1:
        raise ParameterError(
            f"{name} has {S.shape[-2]} frequency bins but n_fft={n_fft} needs {n_fft // 2 + 1}"
        )
    if not all_finite(S):
        raise ParameterError(f"{name} contains NaN or Inf values")
    return S


def magnitude(S, n_fft, name="S", noise=0.0):
    """Validate a non-negative real magnitude spectrogram ``(..., n_freq, n_frames)``.

    ``noise``: negative values down to ``-noise * max(S)`` pass (rounding left by a round trip).
    """
    if not isinstance(S, np.ndarray):
        S = np.asarray(S)
    if S.dtype.kind == "c":
        raise ParameterError(
            f"{name} must be a real magnitude spectrogram, got complex dtype {S.dtype}; pass np.abs({name})")
    if S.dtype.kind in "iub":
        S = S.astype(np.float32)
    S = spectrum(S, name=name, n_fft=n_fft)
    if S.min() < -noise * max(float(S.max()), 0.0):
        raise ParameterError(f"{name} has negative values (min {S.min():.3g}); magnitudes must be >= 0")
    return S


def work_dtype(x, dtype=None):
    """The real working precision: ``dtype`` if given, else that of ``x``'s values.

    ``dtype`` is taken as :func:`real_dtype` takes it; otherwise float64 for float64 or complex128
    ``x`` (either byte order) and float32 for anything else (float32, float16, integers). The one
    statement of fastspec's precision rule: float64 stays float64, the rest computes in float32.
    """
    if dtype is not None:
        return real_dtype(dtype)
    wide = (x.dtype.kind == "f" and x.dtype.itemsize == 8) or (x.dtype.kind == "c" and x.dtype.itemsize == 16)
    return np.dtype(np.float64 if wide else np.float32)
