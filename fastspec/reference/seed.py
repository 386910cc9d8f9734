"""The seed notebook's algorithm, frame by frame, in plain NumPy: the oracle for ``fastspec.compat``.

Each function follows the notebook's own sequence of NumPy operations (a Python loop over frames,
``np.fft`` per frame, ``np.convolve`` for the offset search, ``scipy.ndimage.zoom`` for the mel
time axis), so its results and its speed are those of the notebook's code. Two things differ,
both shared with ``fastspec.compat``:

- sizes and steps may be integral floats (``fft_size / 16``): the notebook was written for a
  NumPy that accepted float sizes; a non-integral float raises ``TypeError`` as NumPy does;
- ``stft(mean_normalize=True)`` subtracts the mean from a copy, never from the caller's array.

Nothing here imports fastspec's kernels or plan cache.
"""

import copy
import operator

import numpy as np
import scipy.ndimage
from scipy.signal import butter, lfilter

LARGE_STEP_WARNING = (
    "WARNING: Large step size >50\\% detected! This code works best with high overlap - try "
    "with 75% or greater"
)


def as_index(value):
    """Return ``value`` as an int; integral floats are accepted (the notebook passes ``n / 16``).

    Raises ``TypeError`` for anything else, as NumPy does when given a float size.
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return operator.index(value)


def hamming(size):
    """The notebook's symmetric Hamming window ``0.54 - 0.46 cos(2 pi n / (size - 1))``."""
    return 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(size) / (size - 1))


def butter_bandpass(lowcut, highcut, fs, order=5):
    """Butterworth band-pass coefficients ``(b, a)`` for edges in Hz."""
    nyquist = 0.5 * fs
    return butter(order, [lowcut / nyquist, highcut / nyquist], btype="band")


def butter_bandpass_filter(data, lowcut, highcut, fs, order=5):
    """Filter ``data`` with :func:`butter_bandpass` (``scipy.signal.lfilter``)."""
    b, a = butter_bandpass(lowcut, highcut, fs, order=order)
    return lfilter(b, a, data)


def overlap(X, window_size, window_step):
    """Frames of ``X``, shape ``(n_windows, window_size)``, after appending 1..window_size zeros."""
    window_size = as_index(window_size)
    window_step = as_index(window_step)
    if window_size % 2 != 0:
        raise ValueError("Window size must be even!")
    padded = np.hstack((X, np.zeros(window_size - len(X) % window_size)))
    n_windows = (len(padded) - window_size) // window_step
    out = np.ndarray((n_windows, window_size), dtype=padded.dtype)
    for i in range(n_windows):
        start = i * window_step
        out[i] = padded[start:start + window_size]
    return out


def stft(X, fftsize=128, step=65, mean_normalize=True, real=False, compute_onesided=True):
    """The notebook's STFT: rows are frames; ``fftsize // 2`` bins when one-sided or ``real``."""
    fftsize = as_index(fftsize)
    if real:
        transform, cut = np.fft.rfft, -1
    else:
        transform, cut = np.fft.fft, None
    if compute_onesided:
        cut = fftsize // 2
    if mean_normalize:
        X = np.array(X, copy=True)
        X -= X.mean()
    frames = overlap(X, fftsize, step)
    return transform(frames * hamming(fftsize)[None])[:, :cut]


def pretty_spectrogram(d, log=True, thresh=5, fft_size=512, step_size=64):
    """Magnitude STFT; with ``log``, normalised to max 1, log10, floored at ``-thresh``."""
    specgram = np.abs(stft(d, fftsize=fft_size, step=step_size, real=False, compute_onesided=True))
    if log == True:  # noqa: E712 -- the notebook's test: a truthy non-True ``log`` goes linear
        specgram /= specgram.max()
        specgram = np.log10(specgram)
        specgram[specgram < -thresh] = -thresh
    else:
        specgram[specgram < thresh] = thresh
    return specgram


def invert_pretty_spectrogram(X_s, log=True, fft_size=512, step_size=512 / 4, n_iter=10):
    """Invert a :func:`pretty_spectrogram` with :func:`iterate_invert_spectrogram`."""
    if log == True:  # noqa: E712
        X_s = np.power(10, X_s)
    X_s = np.concatenate([X_s, X_s[:, ::-1]], axis=1)
    return iterate_invert_spectrogram(X_s, fft_size, step_size, n_iter=n_iter)


def iterate_invert_spectrogram(X_s, fftsize, step, n_iter=10, verbose=False):
    """Griffin-Lim-style iterations: invert, re-analyse, keep the phase, repeat."""
    return iterate_with_trace(X_s, fftsize, step, n_iter, verbose)


def iterate_with_trace(X_s, fftsize, step, n_iter=10, verbose=False, trace=None):
    """:func:`iterate_invert_spectrogram`, appending each inversion's frame offsets to ``trace``."""
    # NumPy 1's promotion, which the notebook was written for: a numpy scalar over a Python float
    # is float64. Under NumPy 2 (NEP 50) a float16 X_s keeps float16, 1e8 becomes inf and reg 0,
    # and silent frames then give 0 / 0 = NaN.
    reg = float(np.max(X_s)) / 1e8
    X_best = copy.deepcopy(X_s)
    for i in range(n_iter):
        if verbose:
            print(f"Runnning iter {i}")
        X_t = invert_with_trace(X_best, step, True, i == 0, trace)
        est = stft(X_t, fftsize=fftsize, step=step, compute_onesided=False)
        phase = est / np.maximum(reg, np.abs(est))
        X_best = X_s * phase[:len(X_s)]
    X_t = invert_with_trace(X_best, step, True, False, trace)
    return np.real(X_t)


def invert_spectrogram(X_s, step, calculate_offset=True, set_zero_phase=True):
    """Overlap-add of reversed per-frame inverse FFTs, each shifted by :func:`xcorr_offset`."""
    return invert_with_trace(X_s, step, calculate_offset, set_zero_phase)


def invert_with_trace(X_s, step, calculate_offset=True, set_zero_phase=True, trace=None):
    """:func:`invert_spectrogram`, appending the array of per-frame offsets to ``trace``."""
    step = as_index(step)
    size = int(X_s.shape[1] // 2)
    wave = np.zeros(X_s.shape[0] * step + size, dtype=np.float64)
    total_windowing_sum = np.zeros(X_s.shape[0] * step + size)
    win = hamming(size)
    est_start = int(size // 2) - 1
    est_end = est_start + size
    offsets = np.zeros(X_s.shape[0], dtype=np.int64)
    for i in range(X_s.shape[0]):
        wave_start = step * i
        wave_end = wave_start + size
        spectral_slice = X_s[i].real + 0j if set_zero_phase else X_s[i]
        wave_est = np.real(np.fft.ifft(spectral_slice))[::-1]
        offset = 0
        if calculate_offset and i > 0:
            offset_size = size - step
            if offset_size <= 0:
                print(LARGE_STEP_WARNING)
                offset_size = step
            offset = xcorr_offset(
                wave[wave_start:wave_start + offset_size],
                wave_est[est_start:est_start + offset_size],
            )
        offsets[i] = offset
        wave[wave_start:wave_end] += win * wave_est[est_start - offset:est_end - offset]
        total_windowing_sum[wave_start:wave_end] += win
    if trace is not None:
        trace.append(offsets)
    return np.real(wave) / (total_windowing_sum + 1e-6)


def xcorr_offset(x1, x2):
    """Lag of the float32 cross-correlation peak, searched within +-half the frame length."""
    x1 = x1 - x1.mean()
    x2 = x2 - x2.mean()
    half = len(x2) // 2
    corrs = np.convolve(x1.astype("float32"), x2[::-1].astype("float32"))
    corrs[:half] = -1e30
    corrs[-half:] = -1e30
    return corrs.argmax() - len(x1)


def make_mel(spectrogram, mel_filter, shorten_factor=1):
    """Mel spectrogram ``(n_mel, n_frames')``, time axis zoomed by ``1 / shorten_factor``, float16."""
    mel_spec = np.transpose(mel_filter).dot(np.transpose(spectrogram))
    mel_spec = scipy.ndimage.zoom(mel_spec.astype("float32"), [1, 1.0 / shorten_factor]).astype("float16")
    return mel_spec[:, 1:-1]


def mel_to_spectrogram(mel_spec, mel_inversion_filter, spec_thresh, shorten_factor):
    """Back from :func:`make_mel` to a ``(n_bins, n_frames)`` log spectrogram, float16."""
    mel_spec = mel_spec + spec_thresh
    uncompressed = np.transpose(np.transpose(mel_spec).dot(mel_inversion_filter))
    uncompressed = scipy.ndimage.zoom(uncompressed.astype("float32"), [1, shorten_factor]).astype("float16")
    return uncompressed - 4


def hz2mel(hz):
    """Hertz to mels, ``2595 log10(1 + hz / 700)``."""
    return 2595 * np.log10(1 + hz / 700.0)


def mel2hz(mel):
    """Mels to Hertz, the inverse of :func:`hz2mel`."""
    return 700 * (10 ** (mel / 2595.0) - 1)


def get_filterbanks(nfilt=20, nfft=512, samplerate=16000, lowfreq=0, highfreq=None):
    """Triangular mel filters in rows, shape ``(nfilt, nfft // 2)``."""
    highfreq = highfreq or samplerate / 2
    if highfreq > samplerate / 2:
        raise AssertionError("highfreq is greater than samplerate/2")
    melpoints = np.linspace(hz2mel(lowfreq), hz2mel(highfreq), nfilt + 2)
    bins = np.floor((nfft + 1) * mel2hz(melpoints) / samplerate)
    fbank = np.zeros([nfilt, nfft // 2])
    for j in range(nfilt):
        for i in range(int(bins[j]), int(bins[j + 1])):
            fbank[j, i] = (i - bins[j]) / (bins[j + 1] - bins[j])
        for i in range(int(bins[j + 1]), int(bins[j + 2])):
            fbank[j, i] = (bins[j + 2] - i) / (bins[j + 2] - bins[j + 1])
    return fbank


def create_mel_filter(fft_size, n_freq_components=64, start_freq=300, end_freq=8000, samplerate=44100):
    """``(mel_filter, mel_inversion_filter)``: area-normalised filters (columns) and the raw rows."""
    mel_inversion_filter = get_filterbanks(
        nfilt=n_freq_components, nfft=fft_size, samplerate=samplerate, lowfreq=start_freq, highfreq=end_freq
    )
    mel_filter = mel_inversion_filter.T / mel_inversion_filter.sum(axis=1)
    return mel_filter, mel_inversion_filter
