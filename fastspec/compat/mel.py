"""The seed's mel compression and its inverse, and the filterbanks behind them."""

import numpy as np

from .._kernels import seed as kernels
from ..filters import htk_hz_to_mel, htk_mel_to_hz
from ._checks import finite, kernel_dtype


def _spans(weights):
    """Per row, the half-open span of non-zero entries (empty spans are ``(0, 0)``)."""
    nonzero = weights != 0
    any_nz = nonzero.any(axis=1)
    lo = np.where(any_nz, nonzero.argmax(axis=1), 0)
    hi = np.where(any_nz, weights.shape[1] - nonzero[:, ::-1].argmax(axis=1), 0)
    return lo.astype(np.int64), hi.astype(np.int64)


def _zoom_time(rows32, factor):
    """``scipy.ndimage.zoom(rows32, [1, factor])`` (cubic spline, constant mode), float32."""
    n = rows32.shape[1]
    n_out = int(round(n * factor))
    out = np.empty((rows32.shape[0], n_out), dtype=np.float32)
    zoom = (n - 1) / (n_out - 1) if n_out > 1 else 1.0
    kernels.zoom_rows(rows32, zoom, np.empty(n), out)
    return out


def make_mel(spectrogram, mel_filter, shorten_factor=1):
    """Mel spectrogram with the time axis shortened by ``shorten_factor``.

    Parameters
    ----------
    spectrogram : array_like, shape (n_frames, n_bins)
        E.g. a :func:`pretty_spectrogram`.
    mel_filter : array_like, shape (n_bins, n_mel)
        The first result of :func:`create_mel_filter`.
    shorten_factor : float
        Time-axis zoom is ``1 / shorten_factor`` (cubic spline), then one column is trimmed at
        each end.

    Returns
    -------
    numpy.ndarray, float16, shape (n_mel, round(n_frames / shorten_factor) - 2)
    """
    S = finite(spectrogram, "spectrogram")
    F = finite(mel_filter, "mel_filter")
    if S.ndim != 2 or F.ndim != 2 or F.shape[0] != S.shape[1]:
        raise ValueError(f"shapes {np.shape(np.transpose(F))} and {np.shape(np.transpose(S))} not aligned")
    weights = np.ascontiguousarray(np.transpose(F), dtype=np.float64)
    lo, hi = _spans(weights)
    mel = np.empty((weights.shape[0], S.shape[0]), dtype=np.float32)
    kernels.sparse_rows(weights, lo, hi, kernel_dtype(S), mel)
    return _zoom_time(mel, 1.0 / shorten_factor).astype(np.float16)[:, 1:-1]


def mel_to_spectrogram(mel_spec, mel_inversion_filter, spec_thresh, shorten_factor):
    """Spectrogram for :func:`invert_pretty_spectrogram` from a :func:`make_mel` result.

    Parameters
    ----------
    mel_spec : array_like, shape (n_mel, n_frames)
        Mel spectrogram (float16 from :func:`make_mel`).
    mel_inversion_filter : array_like, shape (n_mel, n_bins)
        The second result of :func:`create_mel_filter`.
    spec_thresh : float
        Added to ``mel_spec`` first (the floor of the log spectrogram).
    shorten_factor : float
        Time-axis zoom (cubic spline).

    Returns
    -------
    numpy.ndarray, float16, shape (n_bins, round(n_frames * shorten_factor))
        Transpose it for :func:`invert_pretty_spectrogram`.
    """
    M = finite(mel_spec, "mel_spec")
    F = finite(mel_inversion_filter, "mel_inversion_filter")
    if M.ndim != 2 or F.ndim != 2 or F.shape[0] != M.shape[0]:
        raise ValueError(f"shapes {np.shape(np.transpose(M))} and {np.shape(F)} not aligned")
    shifted = M + spec_thresh  # in mel_spec's dtype, as the seed rounds it
    weights = np.ascontiguousarray(np.transpose(F), dtype=np.float64)
    lo, hi = _spans(weights)
    spec = np.empty((weights.shape[0], shifted.shape[1]), dtype=np.float32)
    kernels.sparse_rows(weights, lo, hi, np.ascontiguousarray(np.transpose(kernel_dtype(shifted))), spec)
    out = _zoom_time(spec, shorten_factor).astype(np.float16)
    out -= np.float16(4)
    return out


def hz2mel(hz):
    """Hertz to mels: ``2595 log10(1 + hz / 700)``.

    Parameters
    ----------
    hz : float or array_like

    Returns
    -------
    float or numpy.ndarray
    """
    return htk_hz_to_mel(hz)


def mel2hz(mel):
    """Mels to Hertz: ``700 (10 ** (mel / 2595) - 1)``.

    Parameters
    ----------
    mel : float or array_like

    Returns
    -------
    float or numpy.ndarray
    """
    return htk_mel_to_hz(mel)


def _ranges(starts, stops):
    """Row ``j`` and column ``i`` of every ``i in range(starts[j], stops[j])``, row by row."""
    counts = np.maximum(stops - starts, 0)
    rows = np.repeat(np.arange(counts.size), counts)
    cols = np.arange(counts.sum()) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return rows, cols


def get_filterbanks(nfilt=20, nfft=512, samplerate=16000, lowfreq=0, highfreq=None):
    """Triangular mel filterbank (python_speech_features' construction, ``nfft // 2`` bins).

    Parameters
    ----------
    nfilt : int
        Number of filters.
    nfft : int
        FFT size.
    samplerate : float
        Sample rate in Hz.
    lowfreq : float
        Lowest band edge in Hz.
    highfreq : float, optional
        Highest band edge in Hz, default ``samplerate / 2``.

    Returns
    -------
    numpy.ndarray, float64, shape (nfilt, nfft // 2)

    Raises
    ------
    AssertionError
        If ``highfreq > samplerate / 2`` (the seed's assert, kept under ``python -O``).
    """
    highfreq = highfreq or samplerate / 2
    if highfreq > samplerate / 2:
        raise AssertionError("highfreq is greater than samplerate/2")
    melpoints = np.linspace(hz2mel(lowfreq), hz2mel(highfreq), nfilt + 2)
    bins = np.floor((nfft + 1) * mel2hz(melpoints) / samplerate)
    fbank = np.zeros([nfilt, nfft // 2])
    edges = np.array([int(b) for b in bins])  # int() of each edge, as the seed's range() bounds
    # The seed's two loops per filter, for all filters at once: fancy indexing wraps negative
    # bins as its indexing does, and the same expressions give the same values.
    rows, cols = _ranges(edges[:-2], edges[1:-1])
    fbank[rows, cols] = (cols - bins[rows]) / (bins[rows + 1] - bins[rows])
    rows, cols = _ranges(edges[1:-1], edges[2:])
    fbank[rows, cols] = (bins[rows + 2] - cols) / (bins[rows + 2] - bins[rows + 1])
    return fbank


def create_mel_filter(fft_size, n_freq_components=64, start_freq=300, end_freq=8000, samplerate=44100):
    """The mel filter and its inversion filter.

    Parameters
    ----------
    fft_size : int
        FFT size.
    n_freq_components : int
        Number of mel bands.
    start_freq, end_freq : float
        Band edges in Hz.
    samplerate : float
        Sample rate in Hz.

    Returns
    -------
    mel_filter : numpy.ndarray, shape (fft_size // 2, n_freq_components)
        Filters in columns, each normalised to unit sum (for :func:`make_mel`).
    mel_inversion_filter : numpy.ndarray, shape (n_freq_components, fft_size // 2)
        The raw filters in rows (for :func:`mel_to_spectrogram`).
    """
    mel_inversion_filter = get_filterbanks(
        nfilt=n_freq_components, nfft=fft_size, samplerate=samplerate, lowfreq=start_freq, highfreq=end_freq
    )
    mel_filter = mel_inversion_filter.T / mel_inversion_filter.sum(axis=1)
    return mel_filter, mel_inversion_filter
