"""Textbook phase reconstruction in plain NumPy: (fast) Griffin-Lim, PGHI, spectral convergence.

Slow and readable, one spectrogram at a time, float64 throughout; built on the reference
STFT/ISTFT of this package, never on fastspec's kernels or plans.
"""

import heapq

import numpy as np

from .stft import istft, stft, window_samples


def griffin_lim(S, init_phase, n_iter=32, hop_length=None, win_length=None, n_fft=None, window="hann",
                center=True, length=None, momentum=0.99):
    """Fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013) in librosa's update order.

    ``init_phase`` is the starting phase (radians, shape of ``S``). Each iteration:
    ``x = istft(c)``; ``t = stft(x)``; ``c = S * a / (|a| + tiny)`` with
    ``a = t - momentum / (1 + momentum) * t_prev`` (no momentum term in the first iteration).
    """
    n_fft = 2 * (S.shape[0] - 1) if n_fft is None else n_fft
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 4 if hop_length is None else hop_length
    S = np.asarray(S, dtype=np.float64)
    eps = np.finfo(np.float64).tiny
    coeffs = S * np.exp(1j * np.asarray(init_phase, dtype=np.float64))
    previous = None
    for _ in range(n_iter):
        x = istft(coeffs, hop_length=hop_length, win_length=win_length, n_fft=n_fft, window=window,
                  center=center, length=length)
        rebuilt = stft(x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                       center=center)
        a = rebuilt.copy()
        if previous is not None:
            a -= momentum / (1 + momentum) * previous
        coeffs = S * a / (np.abs(a) + eps)
        previous = rebuilt
    return istft(coeffs, hop_length=hop_length, win_length=win_length, n_fft=n_fft, window=window,
                 center=center, length=length)


def spectral_convergence(S, y, n_fft=None, hop_length=None, win_length=None, window="hann", center=True):
    """``20 log10(||S - |STFT(y)||| / ||S||)`` in dB over one spectrogram (frames cut/zero-padded to S's)."""
    n_fft = 2 * (S.shape[0] - 1) if n_fft is None else n_fft
    X = np.abs(stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center))
    n = S.shape[1]
    if X.shape[1] < n:
        X = np.pad(X, ((0, 0), (0, n - X.shape[1])))
    X = X[:, :n]
    return 20 * np.log10(np.linalg.norm(S - X) / np.linalg.norm(S))


def pghi(S, hop_length, gamma, n_fft=None, win_length=None, window="hann", tol=1e-5):
    """Phase Gradient Heuristic Integration (Průša, Balazs & Søndergaard 2017), with ``heapq``.

    ``gamma`` (samples**2) is the window's Gaussian parameter, ``exp(-pi t**2 / gamma)``.
    Returns the complex STFT ``S * exp(1j * phase)`` in the frame-start phase convention of
    :func:`fastspec.reference.stft`.
    """
    n_fft = 2 * (S.shape[0] - 1) if n_fft is None else n_fft
    win_length = n_fft if win_length is None else win_length
    S = np.asarray(S, dtype=np.float64)
    n_freq, n_frames = S.shape
    top = S.max()
    s = np.log(np.maximum(S, top * 1e-12))
    # Phase derivatives (centre-of-window phase): d/dt in rad/sample, d/dw in rad per cycle/sample.
    ds_dw = np.zeros_like(s)
    ds_dw[1:-1] = (s[2:] - s[:-2]) * n_fft / 2
    if n_fft % 2:
        ds_dw[-1] = (s[-1] - s[-2]) * n_fft
    ds_dt = np.gradient(s, hop_length, axis=1) if n_frames > 1 else np.zeros_like(s)
    w = np.arange(n_freq)[:, None] / n_fft
    dphi_dt = ds_dw / gamma + 2 * np.pi * w
    dphi_dw = -gamma * ds_dt
    step_time = hop_length * dphi_dt       # phase change per frame
    step_freq = dphi_dw / n_fft             # phase change per bin
    phase = np.zeros_like(s)
    todo = S > tol * top
    while todo.any():
        k0, t0 = np.unravel_index(np.argmax(np.where(todo, S, -1)), S.shape)
        todo[k0, t0] = False
        heap = [(-S[k0, t0], k0, t0)]
        while heap:
            _, k, t = heapq.heappop(heap)
            for dk, dt in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                kk, tt = k + dk, t + dt
                if 0 <= kk < n_freq and 0 <= tt < n_frames and todo[kk, tt]:
                    if dt:
                        phase[kk, tt] = phase[k, t] + dt * 0.5 * (step_time[k, t] + step_time[kk, tt])
                    else:
                        phase[kk, tt] = phase[k, t] + dk * 0.5 * (step_freq[k, t] + step_freq[kk, tt])
                    todo[kk, tt] = False
                    heapq.heappush(heap, (-S[kk, tt], kk, tt))
    win = window_samples(window, win_length, n_fft)
    centre = np.sum(np.arange(n_fft) * win) / np.sum(win)
    phase -= 2 * np.pi * centre / n_fft * np.arange(n_freq)[:, None]
    return S * np.exp(1j * phase)


def nnls(A, B):
    """Exact non-negative least squares ``min_{x >= 0} ||A x - b||`` for each column ``b`` of ``B``.

    ``scipy.optimize.nnls``, an active-set method.
    """
    import scipy.optimize

    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    return np.stack([scipy.optimize.nnls(A, B[:, j])[0] for j in range(B.shape[1])], axis=1)
