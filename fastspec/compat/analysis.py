"""The seed's filtering and analysis: ``butter_bandpass*``, ``overlap``, ``stft``, ``pretty_spectrogram``."""

import numpy as np

from .. import _config, _engine
from .._kernels import seed as kernels
from .._validate import ParameterError
from ..filters import seed_hamming
from ._checks import as_index, blocks, count_windows, finite, signal_1d


def butter_bandpass(lowcut, highcut, fs, order=5):
    """Butterworth band-pass filter coefficients.

    Parameters
    ----------
    lowcut, highcut : float
        Band edges in Hz.
    fs : float
        Sample rate in Hz.
    order : int
        Filter order.

    Returns
    -------
    b, a : numpy.ndarray
        Numerator and denominator of ``scipy.signal.butter(order, [low, high], btype="band")``.
    """
    from scipy.signal import butter  # imported on use: scipy.signal costs ~0.1 s to import

    nyquist = 0.5 * fs
    return butter(order, [lowcut / nyquist, highcut / nyquist], btype="band")


def butter_bandpass_filter(data, lowcut, highcut, fs, order=5):
    """Band-pass filter ``data`` with :func:`butter_bandpass` (``scipy.signal.lfilter``).

    Parameters
    ----------
    data : array_like
        Signal (filtered along the last axis).
    lowcut, highcut : float
        Band edges in Hz.
    fs : float
        Sample rate in Hz.
    order : int
        Filter order.

    Returns
    -------
    numpy.ndarray
        The filtered signal, float64 for integer input.
    """
    data = finite(data, "data")
    from scipy.signal import lfilter

    b, a = butter_bandpass(lowcut, highcut, fs, order=order)
    return lfilter(b, a, data)


# ----- analysis -------------------------------------------------------------------------------
def overlap(X, window_size, window_step):
    """Overlapping frames of ``X`` after appending ``window_size - len(X) % window_size`` zeros.

    The padding is always between 1 and ``window_size`` zeros, so a signal whose length is a
    multiple of ``window_size`` still gains a whole window of zeros.

    Parameters
    ----------
    X : array_like, shape (n_samples,)
        Signal.
    window_size : int
        Frame length; must be even.
    window_step : int
        Hop between frames.

    Returns
    -------
    numpy.ndarray, shape (n_windows, window_size)
        ``n_windows = (n_padded - window_size) // window_step``; float64 (complex128 for complex
        input), as ``np.hstack`` with float64 zeros gives.

    Raises
    ------
    ValueError
        If ``window_size`` is odd.
    """
    window_size = as_index(window_size)
    window_step = as_index(window_step)
    x = finite(X, "X")
    if x.ndim != 1:
        raise ParameterError(f"X must be a 1-D signal, got shape {x.shape}")
    n_windows = count_windows(x.shape[0], window_size, window_step)
    dtype = np.result_type(x.dtype, np.float64)
    padded = np.zeros(x.shape[0] + window_size - x.shape[0] % window_size, dtype=dtype)
    padded[:x.shape[0]] = x
    view = np.lib.stride_tricks.sliding_window_view(padded, window_size)
    return np.array(view[:n_windows * window_step:window_step] if n_windows else view[:0])


def _centred(X, mean_normalize, name):
    """The seed's ``X -= X.mean()`` on a copy (same rounding, same errors for integer input)."""
    x = signal_1d(X, name)
    if mean_normalize:
        x = np.array(x, copy=True)
        x -= x.mean()
    return np.ascontiguousarray(x, dtype=np.float64)


def _forward(x, fftsize, step, n_frames, post):
    """Frame ``x`` (Hamming, zero-padded), r2c-transform in blocks, ``post(spec, start, count)``."""
    window = seed_hamming(fftsize)
    with _engine.PlanSet(_config.current()) as plans:
        for start, count in blocks(n_frames, fftsize):
            plan = plans.get("r2c", fftsize, count, np.float64)
            kernels.frame_centred(x, 0.0, start, step, window, plan.input)
            post(plan.execute(), start, count)


def stft(X, fftsize=128, step=65, mean_normalize=True, real=False, compute_onesided=True):
    """Short-time Fourier transform of a real 1-D signal, frames in rows.

    Parameters
    ----------
    X : array_like, shape (n_samples,)
        Real signal. Never modified (the seed subtracts the mean in place).
    fftsize : int
        Frame and FFT length (even).
    step : int
        Hop between frames.
    mean_normalize : bool
        Subtract the signal's mean first.
    real : bool
        Use a real FFT and drop its last bin.
    compute_onesided : bool
        Keep the first ``fftsize // 2`` bins (no Nyquist bin).

    Returns
    -------
    numpy.ndarray, complex128, shape (n_frames, n_bins)
        ``n_bins`` is ``fftsize`` when neither ``real`` nor ``compute_onesided``, else
        ``fftsize // 2``.
    """
    fftsize = as_index(fftsize)
    step = as_index(step)
    x = _centred(X, mean_normalize, "X")
    n_frames = count_windows(x.shape[0], fftsize, step)
    n_bins = fftsize if not (real or compute_onesided) else fftsize // 2
    out = np.empty((n_frames, n_bins), dtype=np.complex128)
    full = n_bins == fftsize

    def post(spec, start, count):
        rows = out[start:start + count]
        if full:
            kernels.two_sided(spec, rows)
        else:
            kernels.copy_bins(spec, rows)

    _forward(x, fftsize, step, n_frames, post)
    return out


def pretty_spectrogram(d, log=True, thresh=5, fft_size=512, step_size=64):
    """Magnitude spectrogram; with ``log``, normalised to a maximum of 1, log10, floored.

    Parameters
    ----------
    d : array_like, shape (n_samples,)
        Real signal (never modified).
    log : bool
        ``log10(|S| / max|S|)`` floored at ``-thresh`` when ``log == True``; otherwise ``|S|``
        floored at ``thresh``.
    thresh : float
        Floor, see ``log``.
    fft_size : int
        Frame and FFT length (even).
    step_size : int
        Hop between frames.

    Returns
    -------
    numpy.ndarray, float64, shape (n_frames, fft_size // 2)
    """
    fft_size = as_index(fft_size)
    step_size = as_index(step_size)
    x = _centred(d, True, "d")
    n_frames = count_windows(x.shape[0], fft_size, step_size)
    out = np.empty((n_frames, fft_size // 2))
    take_log = log == True  # noqa: E712 -- the seed's test: a truthy value other than True goes linear
    if take_log:
        if out.size == 0:  # the seed's normalisation raises numpy's ValueError here
            raise ParameterError(f"d has {x.shape[0]} samples: no frames of fft_size={fft_size} to normalise")
        peak = _log_power(x, fft_size, step_size, out)
        if peak == 0:
            out[...] = np.nan  # silence: the seed's 0 / 0
        else:
            kernels.log_finish(out, np.log(peak), float(thresh))
    else:
        _forward(x, fft_size, step_size, n_frames, lambda spec, start, count: kernels.magnitude_rows(
            spec, out[start:start + count]))
        kernels.raise_floor(out, float(thresh))
    return out


def _log_power(x, fft_size, step, out):
    """``out = ln |STFT|^2`` (the seed's frames) on the call's threads; return the largest power.

    log10 |X| = ln(|X|^2) / (2 ln 10): NumPy's ln (10% faster than its log10) runs on each
    thread's frames as soon as they are squared, and normalising by the peak becomes a
    subtraction once the peak is known. One compiled pass per thread frames, transforms and
    squares its blocks (Python driving each block cost 1 ms of the notebook's 8).
    """
    settings = _config.current()
    n_frames = out.shape[0]
    layout = _engine.layout(fft_size, n_frames, 8)
    tasks = layout.tasks
    threads = _engine.thread_count(settings, len(tasks), n_frames)
    plans = layout.plans(settings, "r2c", np.float64)
    shapes = layout.scratch_shapes(np.float64, ("real", "complex"))
    window = seed_hamming(fft_size)
    peaks = [0] * threads

    def work(slot, part):
        if not len(part):
            return
        frames, spec = scratch = _engine.scratch(shapes)
        try:
            peaks[slot] = kernels.pretty_power(x, part, step, window, plans.execute, plans.pointers, frames, spec,
                                               out)
        finally:
            _engine.give_back(settings, shapes, scratch)
        rows = out[part[0, 1]:part[-1, 1] + part[-1, 2]]
        with np.errstate(divide="ignore"):
            np.log(rows, out=rows)

    try:
        _engine.run(tasks, threads, work)
    finally:
        plans.done()
    return np.int64(max(peaks)).view(np.float64)
