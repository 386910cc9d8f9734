"""Windows (and, later, filterbanks): built once per parameter set and cached read-only."""

import functools

import numpy as np

from ._validate import ParameterError, positive_int


# Cosine-sum coefficients of the most used windows. Computing them here, the way
# scipy.signal.windows.general_cosine does (and tested bit-identical to it), spares the first
# call the import of scipy.signal (0.5 s on the 2-core machine).
_COSINE_WINDOWS = {
    "hann": (0.5, 0.5), "han": (0.5, 0.5),
    "hamming": (0.54, 1 - 0.54), "hamm": (0.54, 1 - 0.54),  # 1 - 0.54, as scipy computes it
    "blackman": (0.42, 0.50, 0.08), "black": (0.42, 0.50, 0.08), "blk": (0.42, 0.50, 0.08),
    "boxcar": (1.0,), "rectangular": (1.0,), "ones": (1.0,), "box": (1.0,), "rect": (1.0,),
}


def _periodic_cosine_window(coefficients, win_length):
    if win_length == 1:
        return np.ones(1)
    # A periodic window is the symmetric one of length win_length + 1 without its last sample.
    angle = np.linspace(-np.pi, np.pi, win_length + 1)
    win = np.zeros(win_length + 1)
    for k, a in enumerate(coefficients):
        win += a * np.cos(k * angle)
    return win[:-1]


@functools.lru_cache(maxsize=256)
def _named_window(window, win_length):
    if isinstance(window, str) and window.lower() in _COSINE_WINDOWS:
        return _periodic_cosine_window(_COSINE_WINDOWS[window.lower()], win_length)
    import scipy.signal

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
