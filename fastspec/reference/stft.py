"""Textbook STFT and ISTFT: pad, loop over frames, window, FFT; overlap-add and normalise."""

import numpy as np
import scipy.signal


def window_samples(window, win_length, n_fft):
    """The periodic window of ``win_length`` samples (or the given samples), zero-padded and centred in ``n_fft``."""
    if isinstance(window, (str, tuple)) or np.isscalar(window):
        win = scipy.signal.get_window(window, win_length, fftbins=True)
    else:
        win = np.asarray(window, dtype=np.float64)
    padded = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    padded[left:left + win_length] = win
    return padded


def stft(y, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, pad_mode="constant"):
    """STFT of a 1-D signal, computed in float64, shape ``(1 + n_fft // 2, n_frames)``."""
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 4 if hop_length is None else hop_length
    y = np.asarray(y, dtype=np.float64)
    if center:
        y = np.pad(y, n_fft // 2, mode=pad_mode)
    win = window_samples(window, win_length, n_fft)
    n_frames = 1 + (len(y) - n_fft) // hop_length
    out = np.empty((n_fft // 2 + 1, n_frames), dtype=np.complex128)
    for t in range(n_frames):
        frame = y[t * hop_length: t * hop_length + n_fft]
        out[:, t] = np.fft.rfft(win * frame)
    return out


def istft(S, hop_length=None, win_length=None, n_fft=None, window="hann", center=True, length=None):
    """Least-squares ISTFT of a 2-D complex STFT (overlap-add / window sum-square), float64."""
    n_fft = 2 * (S.shape[0] - 1) if n_fft is None else n_fft
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 4 if hop_length is None else hop_length
    win = window_samples(window, win_length, n_fft)
    n_frames = S.shape[1]
    total = n_fft + hop_length * (n_frames - 1)
    y = np.zeros(total)
    wss = np.zeros(total)
    for t in range(n_frames):
        frame = np.fft.irfft(S[:, t], n=n_fft)
        y[t * hop_length: t * hop_length + n_fft] += win * frame
        wss[t * hop_length: t * hop_length + n_fft] += win ** 2
    covered = wss > np.finfo(np.float64).tiny
    y[covered] /= wss[covered]
    if center:
        y = y[n_fft // 2:]
        if length is None:
            y = y[:len(y) - n_fft // 2]
    if length is not None:
        y = np.pad(y[:length], (0, max(0, length - len(y))))
    return y
