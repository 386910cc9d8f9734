"""Mel and MFCC inversion: non-negative least squares back to a magnitude STFT, then Griffin-Lim.

The NNLS problem on the sparse mel filterbank is solved by accelerated projected gradient (FISTA)
in a numba kernel, from librosa's pseudo-inverse start, in fixed blocks of frames that run in
parallel. ``fastspec.phase`` re-exports these names for code written against it.
"""

import warnings

import numpy as np

from . import _config, _engine, _validate
from ._kernels import phase as kernels
from ._validate import ParameterError
from .phase import griffin_lim

__all__ = ["mel_to_audio", "mel_to_stft", "mfcc_to_audio", "mfcc_to_mel"]

# Frames per NNLS block of the mel inversion: a block's iterates (513 bins x 256 frames float32 is 0.5 MB)
# stay in the L2 cache, and blocks run in parallel.
NNLS_BLOCK = 256

_pinv_cache = {}


def _mel_inverse_setup(sr, n_fft, n_mels, dtype, fmin, fmax, htk, norm):
    """The sparse mel filterbank, its pseudo-inverse (dense) and FISTA's per-bin steps."""
    from . import filters

    fb = filters.sparse_mel(sr, n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=dtype)
    key = (id(fb), np.dtype(dtype))
    hit = _pinv_cache.get(key)
    if hit is None or hit[0] is not fb:
        dense = fb.astype(np.float64).dense
        pinv = np.linalg.pinv(dense).astype(dtype)
        # FISTA's diagonal metric: step[k] = 1 / (A.T A 1)[k] (0 for bins no band covers).
        curvature = dense.T @ (dense @ np.ones(dense.shape[1]))
        step = np.divide(1.0, curvature, out=np.zeros_like(curvature), where=curvature > 0)
        if len(_pinv_cache) > 16:
            _pinv_cache.clear()
        hit = _pinv_cache[key] = (fb, pinv, step)
    return hit


def mel_to_stft(M, *, sr=22050, n_fft=2048, power=2.0, n_iter=100, tol=1e-3, fmin=0.0, fmax=None,
                htk=False, norm="slaney", dtype=None):
    """Magnitude STFT whose mel projection best matches ``M``: non-negative least squares.

    Solves ``min_{X >= 0} ||mel_basis @ X - M||`` frame by frame, starting (as librosa does)
    from the pseudo-inverse solution clipped at 0, refined by ``n_iter`` FISTA steps
    (accelerated projected gradient) on the sparse filterbank in a numba kernel, then returns
    ``X ** (1 / power)``. librosa's ``mel_to_stft`` solves the same problem with L-BFGS-B.

    Parameters
    ----------
    M : numpy.ndarray, shape (..., n_mels, n_frames)
        Non-negative mel spectrogram (``power=2``: power; ``1``: magnitude); values down to
        ``-1e-3 * max(M)`` (a round trip's rounding) are solved as given.
    sr, n_fft : number, int
        Sample rate and FFT length of the STFT under ``M``.
    power : float
        Exponent of the magnitude in ``M``, > 0.
    n_iter : int
        Most FISTA iterations after the pseudo-inverse start, >= 0.
    tol : float
        Stop early once ``||mel_basis @ X - M|| <= tol * ||M||`` (0 never). The frames are solved in
        blocks of ``NNLS_BLOCK`` (in parallel), each stopping once it meets the bound on its own
        frames, which implies the bound for the whole spectrogram.
    fmin, fmax, htk, norm
        The mel filterbank (as :func:`fastspec.filters.mel`).
    dtype : numpy dtype, optional
        float32 or float64. Default: follows ``M``.

    Returns
    -------
    numpy.ndarray, shape (..., 1 + n_fft // 2, n_frames)
        Non-negative magnitudes.
    """
    # Slightly negative energies (the rounding of a dB or DCT round trip) are solved as librosa
    # solves them; clearly negative ones are a log spectrogram passed by mistake.
    M = _validate.magnitude(M, None, name="M", noise=1e-3)
    power = _validate.positive_float(power, "power")
    n_fft = _validate.positive_int(n_fft, "n_fft")
    n_iter = _validate.count(n_iter, "n_iter")
    tol = _validate.positive_float(tol, "tol", allow_zero=True)
    real = _validate.work_dtype(M, dtype)
    n_mels, n_frames = M.shape[-2:]
    fb, pinv, step = _mel_inverse_setup(sr, n_fft, n_mels, real, fmin, fmax, htk, norm)
    lead = M.shape[:-2]
    M3 = np.ascontiguousarray(M.reshape((-1, n_mels, n_frames)), dtype=real)
    n_freq = n_fft // 2 + 1
    out = np.empty((M3.shape[0], n_freq, n_frames), dtype=real)
    # Frames are independent: fixed blocks of them (the same for any thread count) share out the work.
    tasks = [(item, first) for item in range(M3.shape[0]) for first in range(0, n_frames, NNLS_BLOCK)]
    settings = _config.current()
    threads = _engine.thread_count(settings, len(tasks), M3.shape[0] * n_frames)

    def solve(slot, part):
        if not part:
            return
        width = min(NNLS_BLOCK, n_frames)
        y, grad = (np.empty((n_freq, width), dtype=real) for _ in range(2))
        residual = np.empty((n_mels, width), dtype=real)
        for item, first in part:
            frames = slice(first, min(first + NNLS_BLOCK, n_frames))
            n = frames.stop - frames.start
            target = np.ascontiguousarray(M3[item, :, frames])
            x = np.matmul(pinv, target)
            np.maximum(x, 0, out=x)
            kernels.nnls_fista(target, fb.starts, fb.offsets, fb.weights, step, int(n_iter), tol, x, y[:, :n],
                               residual[:, :n], grad[:, :n])
            out[item, :, frames] = x

    _engine.run(tasks, threads, solve)
    if power != 1.0:
        np.power(out, real.type(1.0 / power), out=out)
    return out.reshape(lead + (n_freq, n_frames))


def mel_to_audio(M, *, sr=22050, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True,
                 pad_mode="constant", power=2.0, n_iter=32, length=None, momentum=0.99, init="random",
                 rng=None, nnls_iter=100, nnls_tol=1e-2, fmin=0.0, fmax=None, htk=False, norm="slaney", dtype=None):
    """Audio from a mel spectrogram: :func:`mel_to_stft`, then :func:`griffin_lim`.

    Parameters
    ----------
    M : numpy.ndarray, shape (..., n_mels, n_frames)
        Non-negative mel spectrogram.
    sr, n_fft, hop_length, win_length, window, center, pad_mode, power
        The analysis that produced ``M`` (librosa's defaults).
    n_iter, length, momentum, init, rng
        As for :func:`griffin_lim`.
    nnls_iter, nnls_tol, fmin, fmax, htk, norm
        ``n_iter``, ``tol`` and the filterbank of :func:`mel_to_stft`. The looser default
        tolerance (1 % mel residual) spares NNLS iterations that the phase retrieval's own
        error would hide (librosa's L-BFGS-B stops at 1.5-10 % on the benchmark signals).
    dtype : numpy dtype, optional
        float32 or float64. Default: follows ``M``.

    Returns
    -------
    numpy.ndarray, shape (..., n_samples)
    """
    S = mel_to_stft(M, sr=sr, n_fft=n_fft, power=power, n_iter=nnls_iter, tol=nnls_tol, fmin=fmin, fmax=fmax,
                    htk=htk, norm=norm, dtype=dtype)
    return griffin_lim(S, n_iter=n_iter, hop_length=hop_length, win_length=win_length, n_fft=n_fft,
                       window=window, center=center, length=length, pad_mode=pad_mode, momentum=momentum,
                       init=init, rng=rng, dtype=dtype)


def mfcc_to_mel(mfcc, *, n_mels=128, dct_type=2, norm="ortho", ref=1.0, lifter=0):
    """Mel power spectrogram from MFCCs: undo the liftering, inverse DCT, dB to power (librosa's).

    Parameters
    ----------
    mfcc : numpy.ndarray, shape (..., n_mfcc, n_frames)
    n_mels : int
        Mel bands to reconstruct (the DCT is zero-padded).
    dct_type : {1, 2, 3}
    norm : None or "ortho"
    ref : float
        Reference power of the dB scale.
    lifter : float
        The liftering used by :func:`fastspec.mfcc`, >= 0.

    Returns
    -------
    numpy.ndarray, shape (..., n_mels, n_frames)
    """
    import scipy.fft

    from .decibel import db_to_power

    mfcc = _validate.spectrum(mfcc, name="mfcc")
    if mfcc.dtype.kind == "c":
        raise ParameterError(f"mfcc must be real, got {mfcc.dtype}")
    n_mels = _validate.positive_int(n_mels, "n_mels")
    lifter = _validate.positive_float(lifter, "lifter", allow_zero=True)
    if lifter > 0:
        idx = np.arange(1, 1 + mfcc.shape[-2], dtype=mfcc.dtype)[:, None]
        lifter_sine = 1 + lifter * 0.5 * np.sin(np.pi * idx / lifter)
        if np.any(np.abs(lifter_sine) < np.finfo(lifter_sine.dtype).eps):
            warnings.warn("lifter array includes critical values that may invoke underflow", stacklevel=2)
        mfcc = mfcc / (lifter_sine + np.finfo(mfcc.dtype).tiny)
    logmel = scipy.fft.idct(mfcc, axis=-2, type=dct_type, norm=norm, n=n_mels)
    return db_to_power(logmel, ref=ref)


def mfcc_to_audio(mfcc, *, n_mels=128, dct_type=2, norm="ortho", ref=1.0, lifter=0, **kwargs):
    """Audio from MFCCs: :func:`mfcc_to_mel`, then :func:`mel_to_audio` (``**kwargs``).

    Returns
    -------
    numpy.ndarray, shape (..., n_samples)
    """
    mel = mfcc_to_mel(mfcc, n_mels=n_mels, dct_type=dct_type, norm=norm, ref=ref, lifter=lifter)
    return mel_to_audio(mel, **kwargs)
