"""Textbook mel filterbanks, mel spectrograms, MFCCs and deltas, and torchaudio's and psf's algorithms.

The restatements of what torchaudio and python_speech_features compute let tests fail without
those libraries.

Everything is float64 and dense: the filterbank is a full matrix, mel energies are one matrix
product, cepstra come from ``scipy.fft.dct``.
"""

import numpy as np
import scipy.fft

from .stft import stft


# ----- mel scale and filterbanks -----------------------------------------------------------------
def hz_to_mel(f, htk=False):
    """Hz to mels: HTK ``2595 log10(1 + f / 700)``, or Slaney's (linear to 1 kHz, then log)."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = 3.0 * f / 200.0
    log = 15.0 + 27.0 * np.log(np.maximum(f, 1000.0) / 1000.0) / np.log(6.4)
    return np.where(f >= 1000.0, log, linear)


def mel_to_hz(m, htk=False):
    """Mels to Hz, the inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = 200.0 * m / 3.0
    log = 1000.0 * np.exp(np.log(6.4) / 27.0 * (np.maximum(m, 15.0) - 15.0))
    return np.where(m >= 15.0, log, linear)


def mel_filterbank(sr, n_fft, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney", grid="librosa"):
    """Triangular mel filters evaluated bin by bin, shape ``(n_mels, 1 + n_fft // 2)``.

    ``grid="librosa"`` puts bin ``k`` at ``k * sr / n_fft``; ``"torchaudio"`` at
    ``linspace(0, sr // 2, n_freq)[k]``. ``norm``: ``"slaney"`` (divide by the band's width
    in Hz / 2), ``None`` (peak 1) or ``p`` (unit p-norm rows).
    """
    fmax = sr / 2 if fmax is None else fmax
    n_freq = 1 + n_fft // 2
    freqs = np.linspace(0, sr // 2, n_freq) if grid == "torchaudio" else np.arange(n_freq) * sr / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    weights = np.zeros((n_mels, n_freq))
    for m in range(n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for k in range(n_freq):
            rising = (freqs[k] - left) / (centre - left)
            falling = (right - freqs[k]) / (right - centre)
            weights[m, k] = max(0.0, min(rising, falling))
        if norm == "slaney":
            weights[m] *= 2.0 / (right - left)
    if norm is not None and norm != "slaney":
        lengths = np.linalg.norm(weights, ord=norm, axis=1)
        weights /= np.where(lengths > 0, lengths, 1.0)[:, None]
    return weights


def psf_filterbank(sr, n_fft, n_mels=26, fmin=0.0, fmax=None):
    """python_speech_features' filterbank: HTK mel edges snapped to bins, integer ramps, peak 1."""
    fmax = sr / 2 if fmax is None else fmax
    mels = np.linspace(hz_to_mel(fmin, True), hz_to_mel(fmax, True), n_mels + 2)
    bins = np.floor((n_fft + 1) * mel_to_hz(mels, True) / sr).astype(int)
    weights = np.zeros((n_mels, 1 + n_fft // 2))
    for m in range(n_mels):
        for k in range(bins[m], bins[m + 1]):
            weights[m, k] = (k - bins[m]) / (bins[m + 1] - bins[m])
        for k in range(bins[m + 1], bins[m + 2]):
            weights[m, k] = (bins[m + 2] - k) / (bins[m + 2] - bins[m + 1])
    return weights


# ----- librosa ---------------------------------------------------------------------------------------
def melspectrogram(y, sr=22050, n_fft=2048, hop_length=512, win_length=None, window="hann", center=True,
                   pad_mode="constant", power=2.0, mel_basis=None, **mel_kwargs):
    """``mel_basis @ |STFT(y)|**power`` for a 1-D signal (librosa's defaults)."""
    if mel_basis is None:
        mel_basis = mel_filterbank(sr, n_fft, **mel_kwargs)
    S = np.abs(stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                    center=center, pad_mode=pad_mode)) ** power
    return mel_basis @ S


def power_to_db(S, amin=1e-10, top_db=80.0):
    """``10 log10(max(S, amin))``, clipped to ``max - top_db`` over the whole array."""
    S_db = 10.0 * np.log10(np.maximum(amin, S))
    if top_db is not None:
        S_db = np.maximum(S_db, S_db.max() - top_db)
    return S_db


def mfcc(y, sr=22050, n_mfcc=20, dct_type=2, norm="ortho", lifter=0.0, top_db=80.0, **mel_kwargs):
    """Librosa's MFCC: DCT of the dB mel spectrogram, then the lifter ``1 + L/2 sin(pi n / L)``, n = 1..n_mfcc."""
    S_db = power_to_db(melspectrogram(y, sr=sr, **mel_kwargs), top_db=top_db)
    M = scipy.fft.dct(S_db, type=dct_type, norm=norm, axis=0)[:n_mfcc]
    if lifter > 0:
        M *= (1 + lifter / 2 * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lifter))[:, None]
    return M


def delta(data, width=9, order=1):
    """Savitzky-Golay derivative along the last axis, as librosa's ``mode="interp"``.

    A degree-``order`` polynomial least-squares fit over each ``width`` window, differentiated
    at its centre (at the edges, the fit over the first / last ``width`` points, differentiated
    at each point).
    """
    data = np.asarray(data, dtype=np.float64)
    n = data.shape[-1]
    half = width // 2
    out = np.empty_like(data)
    for t in range(n):
        lo = min(max(t - half, 0), n - width)
        x = np.arange(lo, lo + width) - t
        V = np.vander(x, order + 1, increasing=True)
        coef = np.linalg.lstsq(V, data.reshape(-1, n)[:, lo:lo + width].T, rcond=None)[0]
        out.reshape(-1, n)[:, t] = coef[order] * float(np.prod(np.arange(1, order + 1)))
    return out


# ----- torchaudio, restated --------------------------------------------------------------------------
def torchaudio_melspectrogram(y, sample_rate=16000, n_fft=400, win_length=None, hop_length=None, f_min=0.0,
                              f_max=None, n_mels=128, power=2.0, norm=None, mel_scale="htk"):
    """torchaudio.transforms.MelSpectrogram's algorithm; ``y`` may have leading axes.

    Periodic Hann, reflect-padded centred frames, ``|STFT|**power``, then filters on the
    ``linspace(0, sr // 2)`` grid.
    """
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 2 if hop_length is None else hop_length
    fb = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, htk=mel_scale == "htk", norm=norm,
                        grid="torchaudio")
    y = np.asarray(y, dtype=np.float64)
    out = [fb @ np.abs(stft(row, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                             pad_mode="reflect")) ** power for row in y.reshape(-1, y.shape[-1])]
    return np.stack(out).reshape(y.shape[:-1] + out[0].shape)


def torchaudio_amplitude_to_db(x, amin=1e-10, top_db=None):
    """AmplitudeToDB("power"): ``10 log10(max(x, amin))``.

    ``top_db`` clips each group of the last three axes (the whole array when it is 2-D).
    """
    x_db = 10.0 * np.log10(np.maximum(x, amin))
    if top_db is not None:
        groups = x_db.reshape((-1,) + x_db.shape[-3:]) if x_db.ndim > 2 else x_db[None]
        floors = groups.max(axis=tuple(range(1, groups.ndim))) - top_db
        x_db = np.maximum(groups, floors.reshape((-1,) + (1,) * (groups.ndim - 1))).reshape(x_db.shape)
    return x_db


def torchaudio_mfcc(y, sample_rate=16000, n_mfcc=40, top_db=80.0, **mel_kwargs):
    """torchaudio.transforms.MFCC's algorithm: dB mel (top_db 80), then its DCT matrix.

    The ortho DCT-II matrix is ``sqrt(2 / N) cos(pi / N (n + 1/2) k)`` with row 0 scaled by
    ``1 / sqrt(2)``.
    """
    mel = torchaudio_melspectrogram(y, sample_rate=sample_rate, **mel_kwargs)
    mel_db = torchaudio_amplitude_to_db(mel, top_db=top_db)
    n_mels = mel.shape[-2]
    k = np.arange(n_mfcc)[:, None]
    basis = np.cos(np.pi / n_mels * (np.arange(n_mels)[None, :] + 0.5) * k) * np.sqrt(2.0 / n_mels)
    basis[0] /= np.sqrt(2.0)
    return np.einsum("cm,...mt->...ct", basis, mel_db)


# ----- python_speech_features, restated ------------------------------------------------------------
def _round_half_up(x):
    return int(np.floor(x + 0.5))


def psf_fbank(signal, samplerate=16000, winlen=0.025, winstep=0.01, nfilt=26, nfft=512, lowfreq=0,
              highfreq=None, preemph=0.97):
    """python_speech_features.fbank: ``(features (n_frames, nfilt), energy (n_frames,))``.

    Pre-emphasis, rectangular frames from sample 0 (last one zero-padded),
    ``|rfft(frame, nfft)|**2 / nfft``, snapped filters; zeros become float64 eps.
    """
    x = np.asarray(signal)
    x = np.append(x[0], x[1:] - preemph * x[:-1]).astype(np.float64)
    frame_len, step = _round_half_up(winlen * samplerate), _round_half_up(winstep * samplerate)
    n_frames = 1 if len(x) <= frame_len else 1 + int(np.ceil((len(x) - frame_len) / step))
    x = np.concatenate([x, np.zeros((n_frames - 1) * step + frame_len - len(x))])
    fb = psf_filterbank(samplerate, nfft, nfilt, lowfreq, highfreq)
    eps = np.finfo(np.float64).eps
    feat = np.empty((n_frames, nfilt))
    energy = np.empty(n_frames)
    for t in range(n_frames):
        pspec = np.abs(np.fft.rfft(x[t * step:t * step + frame_len], nfft)) ** 2 / nfft
        energy[t] = pspec.sum()
        feat[t] = fb @ pspec
    return np.where(feat == 0, eps, feat), np.where(energy == 0, eps, energy)


def psf_mfcc(signal, samplerate=16000, numcep=13, ceplifter=22, appendEnergy=True, **fbank_kwargs):
    """python_speech_features.mfcc, shape (n_frames, numcep).

    Ortho DCT-II of log filterbank energies, lifter ``1 + L/2 sin(pi n / L)`` (n from 0), then
    c0 = log(frame energy).
    """
    feat, energy = psf_fbank(signal, samplerate, **fbank_kwargs)
    cep = scipy.fft.dct(np.log(feat), type=2, axis=1, norm="ortho")[:, :numcep]
    if ceplifter > 0:
        cep *= 1 + ceplifter / 2 * np.sin(np.pi * np.arange(numcep) / ceplifter)
    if appendEnergy:
        cep[:, 0] = np.log(energy)
    return cep
