"""Windows, mel filterbanks and DCT bases: built once per parameter set and cached read-only.

One file, as ``librosa.filters`` is: the bases share their caches and parameter checks, and a
user looks for them together (the mel scale, the filterbank, its sparse form, the DCT).
"""

import functools
import warnings

import numpy as np

from ._validate import ParameterError, positive_float, positive_int, work_dtype

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


def seed_hamming(size):
    """The seed notebook's symmetric Hamming window ``0.54 - 0.46 cos(2 pi n / (size - 1))`` (float64).

    Written as the seed computes it (``0.46``, not scipy's ``1 - 0.54``), so compat's results match
    the seed's bit for bit; a 1-sample window is ``[0.08]``.
    """
    return 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(size) / max(size - 1, 1))


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


# ----- mel filterbanks ---------------------------------------------------------------------------
# The scale conversions restate librosa's formulas operation for operation, so that
# ``mel(...)`` reproduces ``librosa.filters.mel`` to the last bit rather than to a tolerance.

_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def htk_hz_to_mel(frequencies):
    """HTK's mel scale, ``2595 log10(1 + f / 700)``, in the arithmetic of ``frequencies`` (the one statement of it).

    A float32 array stays float32 and a Python number gives a float64, as the seed's ``hz2mel``.
    """
    return 2595 * np.log10(1 + frequencies / 700.0)


def htk_mel_to_hz(mels):
    """Inverse of :func:`htk_hz_to_mel`: ``700 (10 ** (mel / 2595) - 1)``, in the arithmetic of ``mels``."""
    return 700 * (10 ** (mels / 2595.0) - 1)


def hz_to_mel(frequencies, *, htk=False):
    """Convert Hz to mels (Slaney's auditory-toolbox scale, or HTK's ``2595 log10(1 + f/700)``).

    Parameters
    ----------
    frequencies : float or array_like
        Frequencies in Hz.
    htk : bool
        Use the HTK formula instead of Slaney's (linear below 1 kHz, logarithmic above).

    Returns
    -------
    float or numpy.ndarray
        Mels, float64.
    """
    frequencies = np.asanyarray(frequencies, dtype=np.float64)
    if htk:
        return htk_hz_to_mel(frequencies)
    mels = frequencies / _SLANEY_F_SP
    above = np.maximum(frequencies, _SLANEY_MIN_LOG_HZ)
    log_part = _SLANEY_MIN_LOG_MEL + np.log(above / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return np.where(frequencies >= _SLANEY_MIN_LOG_HZ, log_part, mels)


def mel_to_hz(mels, *, htk=False):
    """Convert mels to Hz; the inverse of :func:`hz_to_mel`.

    Parameters
    ----------
    mels : float or array_like
        Mel values.
    htk : bool
        Use the HTK formula instead of Slaney's.

    Returns
    -------
    float or numpy.ndarray
        Frequencies in Hz, float64.
    """
    mels = np.asanyarray(mels, dtype=np.float64)
    if htk:
        return htk_mel_to_hz(mels)
    freqs = _SLANEY_F_SP * mels
    above = np.maximum(mels, _SLANEY_MIN_LOG_MEL)
    log_part = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (above - _SLANEY_MIN_LOG_MEL))
    return np.where(mels >= _SLANEY_MIN_LOG_MEL, log_part, freqs)


def mel_frequencies(n_mels=128, *, fmin=0.0, fmax=11025.0, htk=False):
    """Return ``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``.

    Parameters
    ----------
    n_mels : int
        Number of frequencies.
    fmin, fmax : float
        End points in Hz.
    htk : bool
        Use the HTK mel formula.

    Returns
    -------
    numpy.ndarray, shape (n_mels,)
    """
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n_mels)
    return mel_to_hz(mels, htk=htk)


def fft_frequencies(*, sr=22050, n_fft=2048):
    """Centre frequencies (Hz) of the ``1 + n_fft // 2`` bins of a real FFT.

    Parameters
    ----------
    sr : float
        Sample rate.
    n_fft : int
        FFT length.

    Returns
    -------
    numpy.ndarray, shape (1 + n_fft // 2,)
    """
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


def _normalize_rows(weights, norm):
    """librosa.util.normalize(weights, norm=norm, axis=-1): rows of (near) zero length stay as they are."""
    mag = np.abs(weights).astype(np.float64)
    if norm == np.inf:
        length = mag.max(axis=-1, keepdims=True)
    elif norm == -np.inf:
        length = mag.min(axis=-1, keepdims=True)
    elif norm == 0:
        length = np.sum(mag > 0, axis=-1, keepdims=True, dtype=mag.dtype)
    else:
        length = np.sum(mag ** norm, axis=-1, keepdims=True) ** (1.0 / norm)
    length[length < np.finfo(weights.dtype).tiny] = 1.0
    return (weights / length).astype(weights.dtype)


def check_mel_args(sr, n_mels, fmin, fmax, norm, style):
    """Validate mel filterbank parameters (``n_fft`` is the caller's); return ``(sr, n_mels, fmin, fmax, norm)``."""
    sr = positive_float(sr, "sr")
    n_mels = positive_int(n_mels, "n_mels")
    fmin = positive_float(fmin, "fmin", allow_zero=True)
    fmax = sr / 2 if fmax is None else positive_float(fmax, "fmax")
    if fmax > sr / 2:
        raise ParameterError(f"fmax={fmax} must be <= sr / 2 = {sr / 2} (the Nyquist frequency)")
    if fmin >= fmax:
        raise ParameterError(f"fmin={fmin} must be below fmax={fmax}")
    if isinstance(norm, str):
        if norm != "slaney":
            raise ParameterError(f"norm={norm!r} must be 'slaney', None or a number (a p-norm)")
    elif norm is not None:
        try:
            norm = float(norm)
        except (TypeError, ValueError):
            raise ParameterError(f"norm={norm!r} must be 'slaney', None or a number (a p-norm)") from None
        if not (norm >= 0 or norm == -np.inf):
            raise ParameterError(f"norm={norm!r} must be 'slaney', None, a p >= 0 or +-inf")
    if style not in ("librosa", "torchaudio", "psf"):
        raise ParameterError(f"style={style!r} must be 'librosa', 'torchaudio' or 'psf'")
    return sr, n_mels, fmin, fmax, norm


@functools.lru_cache(maxsize=64)
def cached_mel(sr, n_fft, n_mels, fmin, fmax, htk, norm, style, dtype):
    """The (read-only) dense mel filterbank of checked parameters and whether some band is empty; cached."""
    n_freq = 1 + n_fft // 2
    weights = np.zeros((n_mels, n_freq), dtype=dtype)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    if style != "psf":
        # Triangles over the bin frequencies, as librosa.filters.mel computes them (rows
        # assigned into ``weights`` so float32 rounds where librosa's does). torchaudio places
        # the bins on ``linspace(0, sr // 2)``: the same grid unless ``sr`` is odd.
        bins = (np.linspace(0, sr // 2, n_freq) if style == "torchaudio"
                else fft_frequencies(sr=sr, n_fft=n_fft))
        fdiff = np.diff(mel_f)
        ramps = np.subtract.outer(mel_f, bins)
        for i in range(n_mels):
            lower = -ramps[i] / fdiff[i]
            upper = ramps[i + 2] / fdiff[i + 1]
            weights[i] = np.maximum(0, np.minimum(lower, upper))
    else:
        # python_speech_features / the seed: edges snapped down to FFT bins, integer ramps, peak 1.
        edges = np.floor((n_fft + 1) * mel_f / sr)
        for j in range(n_mels):
            lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
            rise = np.arange(int(lo), int(mid))
            weights[j, rise] = (rise - lo) / (mid - lo)
            fall = np.arange(int(mid), min(int(hi), n_freq))
            weights[j, fall] = (hi - fall) / (hi - mid)
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    elif norm is not None:
        weights = _normalize_rows(weights, norm)
    # librosa's test: a band is empty when its weights are all zero and its lower edge is above 0 Hz.
    empty = not np.all((mel_f[:-2] == 0) | (weights.max(axis=1) > 0))
    weights.flags.writeable = False
    return weights, empty


def empty_bands_notice(n_mels, n_fft, sr):
    """The warning text librosa gives for a filterbank with empty bands (``n_mels`` too large for ``n_fft``)."""
    return (f"Empty filters detected in mel frequency basis (n_mels={n_mels}, n_fft={n_fft}, sr={sr:g}). "
            "Some channels will produce empty responses. Try increasing your sampling rate (and fmax) "
            "or reducing n_mels.")


def mel(sr, n_fft, *, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney", dtype=np.float32,
        style="librosa"):
    """Mel filterbank matrix, equal to ``librosa.filters.mel`` (``style="librosa"``).

    Built once per parameter set and cached: repeated calls return the same read-only array.

    Parameters
    ----------
    sr : float
        Sample rate of the signal.
    n_fft : int
        FFT length; the filterbank has ``1 + n_fft // 2`` columns.
    n_mels : int
        Number of mel bands.
    fmin : float
        Lowest edge of the first band, Hz.
    fmax : float, optional
        Highest edge of the last band, Hz, <= ``sr / 2``. Default ``sr / 2``.
    htk : bool
        HTK mel formula (``2595 log10(1 + f / 700)``) instead of Slaney's.
    norm : {"slaney", None} or float
        ``"slaney"``: divide each triangle by its bandwidth (constant energy per band);
        ``None``: peak 1; a number ``p``: unit ``p``-norm rows (``numpy.inf`` for max-norm).
    dtype : numpy dtype
        Output dtype (librosa's default float32).
    style : {"librosa", "torchaudio", "psf"}
        ``"librosa"``: triangles evaluated at each bin's exact frequency.
        ``"torchaudio"``: the same on ``torchaudio.functional.melscale_fbanks``' bin grid
        ``linspace(0, sr // 2, 1 + n_fft // 2)`` (differs from librosa's for odd ``sr``).
        ``"psf"``: python_speech_features' filterbank (also the seed notebook's): band edges
        snapped down to FFT bins as ``floor((n_fft + 1) * f / sr)``, linear ramps between
        bins, peak 1; pass ``htk=True, norm=None`` for psf's exact matrix.

    Returns
    -------
    numpy.ndarray, shape (n_mels, 1 + n_fft // 2)
        Read-only.

    Raises
    ------
    ParameterError
        On ``fmax > sr / 2``, ``fmin >= fmax`` or an unknown ``norm``/``style``.

    Warns
    -----
    UserWarning
        When some bands are empty (``n_mels`` too large for the FFT resolution), as librosa does.
    """
    n_fft = positive_int(n_fft, "n_fft")
    sr, n_mels, fmin, fmax, norm = check_mel_args(sr, n_mels, fmin, fmax, norm, style)
    weights, empty = cached_mel(sr, n_fft, n_mels, fmin, fmax, bool(htk), norm, style, np.dtype(dtype))
    if empty:  # outside the cache: every call warns, as librosa's does
        warnings.warn(empty_bands_notice(n_mels, n_fft, sr), UserWarning, stacklevel=2)
    return weights


class SparseFilterbank:
    """A banded filterbank stored without its zeros, applied by numba kernels.

    Band ``m`` covers bins ``starts[m] : starts[m] + widths[m]`` with weights
    ``weights[offsets[m] : offsets[m + 1]]`` (``widths = numpy.diff(offsets)``). Zeros inside a
    band's span are kept; bands with no non-zero weight have width 0. Instances are immutable
    and their arrays read-only.

    Parameters
    ----------
    dense : array_like, shape (n_bands, n_freq)
        The filterbank matrix (e.g. :func:`mel`). Its dtype is kept (float32 or float64).

    Examples
    --------
    >>> import numpy as np
    >>> from fastspec import filters
    >>> fb = filters.SparseFilterbank(filters.mel(22050, 2048, n_mels=128))
    >>> fb.n_bands, fb.n_freq, fb.weights.size < 2100
    (128, 1025, True)
    >>> S = np.ones((1025, 10), dtype=np.float32)
    >>> bool(np.allclose(fb.apply(S), fb.dense @ S))
    True
    """

    def __init__(self, dense):
        dense = np.asarray(dense)
        if dense.ndim != 2 or dense.dtype.kind != "f":
            raise ParameterError(
                f"a filterbank must be a 2-D real array (n_bands, n_freq), got {dense.dtype} {dense.shape}")
        dtype = work_dtype(dense)
        n_bands, n_freq = dense.shape
        starts = np.zeros(n_bands, dtype=np.int64)
        offsets = np.zeros(n_bands + 1, dtype=np.int64)
        pieces = []
        for m in range(n_bands):
            nonzero = np.flatnonzero(dense[m])
            if nonzero.size:
                starts[m] = nonzero[0]
                pieces.append(dense[m, nonzero[0]:nonzero[-1] + 1])
                offsets[m + 1] = offsets[m] + pieces[-1].size
            else:
                offsets[m + 1] = offsets[m]
        weights = np.concatenate(pieces).astype(dtype) if pieces else np.zeros(0, dtype=dtype)
        for a in (starts, offsets, weights):
            a.flags.writeable = False
        self._n_freq = n_freq
        self.starts, self.offsets, self.weights = starts, offsets, weights
        self._as = {dtype: self}

    n_bands = property(lambda self: self.starts.shape[0], doc="Number of bands (rows).")
    n_freq = property(lambda self: self._n_freq, doc="Number of frequency bins (columns).")
    dtype = property(lambda self: self.weights.dtype, doc="dtype of the weights.")

    @property
    def dense(self):
        """The full ``(n_bands, n_freq)`` matrix (a new array)."""
        out = np.zeros((self.n_bands, self._n_freq), dtype=self.dtype)
        for m in range(self.n_bands):
            lo, hi = self.offsets[m], self.offsets[m + 1]
            out[m, self.starts[m]:self.starts[m] + hi - lo] = self.weights[lo:hi]
        return out

    def astype(self, dtype):
        """The same filterbank with weights in ``dtype`` (float32 or float64), cached."""
        dtype = np.dtype(dtype)
        other = self._as.get(dtype)
        if other is None:
            other = object.__new__(SparseFilterbank)
            other._n_freq, other.starts, other.offsets = self._n_freq, self.starts, self.offsets
            other.weights = self.weights.astype(dtype)
            other.weights.flags.writeable = False
            other._as = self._as
            self._as[dtype] = other
        return other

    def _rows(self, x, width, name):
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[-2] != width:
            raise ParameterError(f"{name} has shape {x.shape}; expected (..., {width}, n_frames)")
        dtype = work_dtype(x)
        frames_major = np.swapaxes(x, -1, -2).reshape((-1, width))
        return np.ascontiguousarray(frames_major, dtype=dtype), dtype

    def apply(self, S):
        """Band energies ``dense @ S`` of a real spectrogram.

        Parameters
        ----------
        S : numpy.ndarray, shape (..., n_freq, n_frames)
            Real spectrogram (float32 or float64; other real dtypes become float32).

        Returns
        -------
        numpy.ndarray, shape (..., n_bands, n_frames)
            In ``S``'s precision, frames-major in memory.
        """
        from ._kernels import filterbank

        rows, dtype = self._rows(S, self._n_freq, "S")
        fb = self.astype(dtype)
        out = np.empty((rows.shape[0], self.n_bands), dtype=dtype)
        filterbank.apply(rows, fb.starts, fb.offsets, fb.weights, out)
        lead = np.shape(S)[:-2]
        return np.swapaxes(out.reshape(lead + (np.shape(S)[-1], self.n_bands)), -1, -2)

    def apply_transpose(self, M):
        """The adjoint ``dense.T @ M``: spread band values back over their bins.

        Parameters
        ----------
        M : numpy.ndarray, shape (..., n_bands, n_frames)
            Band values (e.g. a mel spectrogram).

        Returns
        -------
        numpy.ndarray, shape (..., n_freq, n_frames)
            In ``M``'s precision, frames-major in memory.
        """
        from ._kernels import filterbank

        rows, dtype = self._rows(M, self.n_bands, "M")
        fb = self.astype(dtype)
        out = np.empty((rows.shape[0], self._n_freq), dtype=dtype)
        filterbank.apply_transpose(rows, fb.starts, fb.offsets, fb.weights, out)
        lead = np.shape(M)[:-2]
        return np.swapaxes(out.reshape(lead + (np.shape(M)[-1], self._n_freq)), -1, -2)

    def __repr__(self):
        return (f"SparseFilterbank(n_bands={self.n_bands}, n_freq={self._n_freq}, nnz={self.weights.size}, "
                f"dtype={self.dtype})")


@functools.lru_cache(maxsize=64)
def cached_sparse_mel(sr, n_fft, n_mels, fmin, fmax, htk, norm, style, dtype):
    """:class:`SparseFilterbank` of :func:`cached_mel`; cached."""
    return SparseFilterbank(cached_mel(sr, n_fft, n_mels, fmin, fmax, htk, norm, style, dtype)[0])


def sparse_mel(sr, n_fft, *, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney", dtype=np.float32,
               style="librosa"):
    """The :func:`mel` filterbank as a cached :class:`SparseFilterbank`.

    Parameters
    ----------
    sr, n_fft, n_mels, fmin, fmax, htk, norm, dtype, style
        As for :func:`mel`.

    Returns
    -------
    SparseFilterbank
    """
    n_fft = positive_int(n_fft, "n_fft")
    sr, n_mels, fmin, fmax, norm = check_mel_args(sr, n_mels, fmin, fmax, norm, style)
    key = (sr, n_fft, n_mels, fmin, fmax, bool(htk), norm, style, np.dtype(dtype))
    if cached_mel(*key)[1]:
        warnings.warn(empty_bands_notice(n_mels, n_fft, sr), UserWarning, stacklevel=2)
    return cached_sparse_mel(*key)


@functools.lru_cache(maxsize=64)
def _dct_cached(n_out, n_in, dct_type, norm, dtype):
    import scipy.fft

    basis = scipy.fft.dct(np.eye(n_in), type=dct_type, norm=norm, axis=0)[:n_out].astype(dtype)
    basis.flags.writeable = False
    return basis


def dct(n_out, n_in, *, dct_type=2, norm="ortho", dtype=np.float32):
    """DCT basis: ``dct(n_out, n_in) @ x == scipy.fft.dct(x, type=dct_type, norm=norm)[:n_out]``.

    Cached; repeated calls return the same read-only array.

    Parameters
    ----------
    n_out : int
        Coefficients kept (e.g. ``n_mfcc``), <= ``n_in``.
    n_in : int
        Length of the transformed axis (e.g. ``n_mels``).
    dct_type : {1, 2, 3}
        DCT type.
    norm : {"ortho", None}
        Normalisation, as ``scipy.fft.dct``.
    dtype : numpy dtype
        Output dtype.

    Returns
    -------
    numpy.ndarray, shape (n_out, n_in)
    """
    n_out = positive_int(n_out, "n_out")
    n_in = positive_int(n_in, "n_in")
    if n_out > n_in:
        raise ParameterError(f"n_out={n_out} must be <= n_in={n_in}")
    if dct_type not in (1, 2, 3):
        raise ParameterError(f"dct_type={dct_type!r} must be 1, 2 or 3")
    if norm not in ("ortho", None):
        raise ParameterError(f"norm={norm!r} must be 'ortho' or None")
    if dct_type == 1 and n_in < 2:
        raise ParameterError(f"a type-1 DCT needs n_in >= 2, got n_in={n_in}")
    return _dct_cached(n_out, n_in, dct_type, norm, np.dtype(dtype))
