"""Windows (and, later, filterbanks): built once per parameter set and cached read-only."""

import functools

import numpy as np
import scipy.signal

from ._validate import ParameterError, positive_int


@functools.lru_cache(maxsize=256)
def _named_window(window, win_length):
    try:
        return scipy.signal.get_window(window, win_length, fftbins=True)
    except (ValueError, TypeError) as err:
        raise ParameterError(
            f"window={window!r} is not a window scipy.signal.get_window knows ({err})"
        ) from None


def get_window(window, win_length, *, n_fft=None, dtype=np.float64):
    """Return a periodic analysis window, zero-padded and centred to ``n_fft``.

    Parameters
    ----------
    window : str, tuple, float, callable or array_like
        A name or ``(name, param)`` tuple that ``scipy.signal.get_window`` knows, a callable
        taking the length, or the samples themselves (length ``win_length``).
    win_length : int
        Window length before padding.
    n_fft : int, optional
        Length to zero-pad to, centring the window as librosa does
        (``(n_fft - win_length) // 2`` zeros on the left). Default: ``win_length``.
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    numpy.ndarray
        Read-only array of length ``n_fft``.
    """
    win_length = positive_int(win_length, "win_length")
    n_fft = win_length if n_fft is None else positive_int(n_fft, "n_fft")
    if win_length > n_fft:
        raise ParameterError(f"win_length={win_length} must be <= n_fft={n_fft}")
    if callable(window):
        win = np.asarray(window(win_length), dtype=np.float64)
    elif isinstance(window, (str, tuple)) or np.isscalar(window):
        win = _named_window(window, win_length)
    else:
        win = np.asarray(window, dtype=np.float64)
        if win.ndim != 1 or win.shape[0] != win_length:
            raise ParameterError(
                f"window array has shape {win.shape}, expected ({win_length},) for win_length={win_length}"
            )
    if win.shape != (win_length,) or not np.all(np.isfinite(win)):
        raise ParameterError(f"window={window!r} must give {win_length} finite samples")
    out = np.zeros(n_fft, dtype=dtype)
    lpad = (n_fft - win_length) // 2
    out[lpad:lpad + win_length] = win
    out.flags.writeable = False
    return out
