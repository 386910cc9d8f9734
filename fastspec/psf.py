"""python_speech_features' API on fastspec: ``mfcc``, ``fbank``, ``logfbank``, ``ssc`` and ``delta``.

Same signatures, defaults and semantics as python_speech_features 0.6: window length and step in
seconds, frames in rows (``(n_frames, n_features)``), pre-emphasis 0.97, a rectangular window
unless ``winfunc`` says otherwise, frames longer than ``nfft`` truncated with psf's warning
(``nfft=None`` picks the smallest power of two that holds a frame, as psf's later versions do),
integer PCM taken as psf takes it (unscaled), and float64 results. The numbers are psf's to
floating-point rounding; the transforms run on fastspec (``preset="psf"``).

Examples
--------
>>> import fastspec
>>> from fastspec import psf
>>> psf.mfcc(fastspec.data.speech(16000, 1.0)).shape
(99, 13)
"""

import decimal
import math

import numpy as np

from ._validate import ParameterError

__all__ = ["delta", "fbank", "logfbank", "mfcc", "ssc"]


def _rectangular(n):
    return np.ones((n,))


def _samples(seconds, samplerate):
    # psf's rounding of window lengths in samples: half up.
    return int(decimal.Decimal(seconds * samplerate).quantize(decimal.Decimal("1"), rounding=decimal.ROUND_HALF_UP))


def _signal(signal, preemph):
    """The pre-emphasised signal in float64, computed as psf does (so in float32 for a float32 signal)."""
    y = np.asarray(signal)
    if y.ndim != 1:
        raise ParameterError(f"signal must be 1-D (python_speech_features' N*1 array), got shape {y.shape}")
    if y.dtype.kind not in "biuf" or y.size == 0:
        raise ParameterError(f"signal must be a non-empty array of real numbers, got {y.dtype} {y.shape}")
    if preemph:
        y = np.append(y[0], y[1:] - preemph * y[:-1])  # psf's expression: numpy's types decide the precision
    return y.astype(np.float64)  # integer PCM unscaled, as psf takes it


def _nfft(nfft, samplerate, winlen):
    if nfft is not None:
        return nfft
    return 1 << max(0, math.ceil(math.log2(max(1, winlen * samplerate))))


def _window(winfunc, frame_len):
    return np.asarray(winfunc(frame_len), dtype=np.float64)


def _mel(samplerate, winlen, winstep, nfilt, nfft, lowfreq, highfreq, winfunc, log=None):
    from .feature import MelSpectrogram

    frame_len = _samples(winlen, samplerate)
    return MelSpectrogram(preset="psf", sr=samplerate, n_fft=nfft, win_length=frame_len,
                          hop_length=_samples(winstep, samplerate), window=_window(winfunc, frame_len),
                          n_mels=nfilt, fmin=lowfreq, fmax=highfreq or samplerate / 2, preemphasis=0.0, log=log)


def fbank(signal, samplerate=16000, winlen=0.025, winstep=0.01, nfilt=26, nfft=512, lowfreq=0, highfreq=None,
          preemph=0.97, winfunc=_rectangular):
    """Mel filterbank energies and the energy of each frame, as ``python_speech_features.fbank``.

    Returns
    -------
    feat : numpy.ndarray, float64, shape (n_frames, nfilt)
    energy : numpy.ndarray, float64, shape (n_frames,)
        Total power of each frame (zeros replaced by float64 eps, as psf does).
    """
    y = _signal(signal, preemph)
    nfft = _nfft(nfft, samplerate, winlen)
    mel = _mel(samplerate, winlen, winstep, nfilt, nfft, lowfreq, highfreq, winfunc)
    pspec = _power_frames(y, samplerate, winlen, winstep, nfft, winfunc)  # one pass gives both results
    eps = np.finfo(float).eps
    feat = pspec @ mel.filterbank.astype(np.float64).T
    energy = pspec.sum(axis=1)
    return np.where(feat == 0, eps, feat), np.where(energy == 0, eps, energy)


def logfbank(signal, samplerate=16000, winlen=0.025, winstep=0.01, nfilt=26, nfft=512, lowfreq=0, highfreq=None,
             preemph=0.97):
    """Log mel filterbank energies, as ``python_speech_features.logfbank``: ``(n_frames, nfilt)`` float64."""
    y = _signal(signal, preemph)
    nfft = _nfft(nfft, samplerate, winlen)
    return _mel(samplerate, winlen, winstep, nfilt, nfft, lowfreq, highfreq, _rectangular,
                log="ln")(y, dtype=np.float64).T


def mfcc(signal, samplerate=16000, winlen=0.025, winstep=0.01, numcep=13, nfilt=26, nfft=512, lowfreq=0,
         highfreq=None, preemph=0.97, ceplifter=22, appendEnergy=True, winfunc=_rectangular):  # noqa: N803
    """MFCCs, as ``python_speech_features.mfcc``: ``(n_frames, numcep)`` float64.

    ``appendEnergy`` replaces coefficient 0 by the log of each frame's energy; ``ceplifter`` is
    psf's lifter ``1 + L/2 sin(pi n / L)``.
    """
    from .feature import MFCC

    y = _signal(signal, preemph)
    nfft = _nfft(nfft, samplerate, winlen)
    frame_len = _samples(winlen, samplerate)
    transform = MFCC(preset="psf", sr=samplerate, n_mfcc=numcep, n_mels=nfilt, n_fft=nfft, win_length=frame_len,
                     hop_length=_samples(winstep, samplerate), window=_window(winfunc, frame_len), fmin=lowfreq,
                     fmax=highfreq or samplerate / 2, preemphasis=0.0, lifter=ceplifter,
                     append_energy=appendEnergy)
    return transform(y, dtype=np.float64).T


def _power_frames(y, samplerate, winlen, winstep, nfft, winfunc):
    """The power spectrum of psf's frames, ``|rfft(frame, nfft)|**2 / nfft``: ``(n_frames, nfft // 2 + 1)``.

    psf's framing of the pre-emphasised ``y``: frames of ``winlen`` every ``winstep`` from sample 0, the last one
    zero-padded, each windowed and truncated to ``nfft`` or zero-padded to it.
    """
    from .stft import spectrogram

    frame_len, step = _samples(winlen, samplerate), _samples(winstep, samplerate)
    n_frames = 1 if y.size <= frame_len else 1 + math.ceil((y.size - frame_len) / step)
    padded = np.zeros((n_frames - 1) * step + max(frame_len, nfft))
    used = min(y.size, (n_frames - 1) * step + frame_len)
    padded[:used] = y[:used]
    window = np.zeros(nfft)
    window[:min(frame_len, nfft)] = _window(winfunc, frame_len)[:nfft]
    S = spectrogram(padded, n_fft=nfft, hop_length=step, window=window, center=False, power=2.0,
                    dtype=np.float64)
    return S[:, :n_frames].T / nfft


def ssc(signal, samplerate=16000, winlen=0.025, winstep=0.01, nfilt=26, nfft=512, lowfreq=0, highfreq=None,
        preemph=0.97, winfunc=_rectangular):
    """Spectral subband centroids, as ``python_speech_features.ssc``: ``(n_frames, nfilt)`` float64.

    The centroid of each band in Hz, over psf's ``linspace(1, samplerate / 2, n_bins)`` frequency
    grid, weighted by the band's filter and the frame's power spectrum.
    """
    y = _signal(signal, preemph)
    nfft = _nfft(nfft, samplerate, winlen)
    mel = _mel(samplerate, winlen, winstep, nfilt, nfft, lowfreq, highfreq, winfunc)
    pspec = _power_frames(y, samplerate, winlen, winstep, nfft, winfunc)
    pspec = np.where(pspec == 0, np.finfo(float).eps, pspec)
    fb = mel.filterbank.astype(np.float64)
    grid = np.linspace(1, samplerate / 2, pspec.shape[1])
    return (pspec * grid) @ fb.T / (pspec @ fb.T)


def delta(feat, N):  # noqa: N803
    """Delta features, as ``python_speech_features.delta``: the regression over ``N`` frames each side.

    ``d[t] = sum_n n (c[t + n] - c[t - n]) / (2 sum_n n**2)``, ``n = 1 .. N``, with the first and last
    frames repeated at the edges. ``feat`` is ``(n_frames, n_features)``.
    """
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ParameterError(f"N={N!r} must be an integer >= 1")
    feat = np.asarray(feat)
    if feat.ndim != 2:
        raise ParameterError(f"feat must be (n_frames, n_features), got shape {feat.shape}")
    n_frames = feat.shape[0]
    padded = np.pad(feat, ((N, N), (0, 0)), mode="edge")
    out = np.zeros(feat.shape, dtype=np.result_type(feat.dtype, np.float64))
    for n in range(-N, N + 1):  # psf's dot with arange(-N, N + 1), term by term in its order
        out += n * padded[N + n:N + n + n_frames]
    return out / (2 * sum(i * i for i in range(1, N + 1)))
