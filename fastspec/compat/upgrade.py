"""The seed upgrade: the notebook's "pretty" spectrogram, taken as it is, back to audio by PGHI + fast Griffin-Lim."""

import numpy as np

from .. import _validate, filters
from .._validate import ParameterError
from ..phase import griffin_lim, stft_spectral_convergence
from ..stft import Stft

__all__ = ["pretty_spectral_convergence", "pretty_to_audio"]

def seed_stft(fft_size, step_size):
    """The seed's transform: symmetric Hamming of ``fft_size``, frames from sample 0, no centring."""
    fft_size = _validate.positive_int(fft_size, "fft_size")
    step_size = _validate.positive_int(step_size, "step_size")
    return Stft(n_fft=fft_size, hop_length=step_size, window=filters.seed_hamming(fft_size), center=False)


def pretty_magnitude(X_s, fft_size, log):
    """The seed's (frames, fft_size // 2) log10 spectrogram -> (fft_size // 2 + 1, frames) magnitudes."""
    X_s = np.asarray(X_s)
    if X_s.dtype.kind not in "fiu" or X_s.ndim < 2:
        raise ParameterError(f"X_s must be a real (..., n_frames, fft_size // 2) array, got {X_s.dtype} {X_s.shape}")
    if X_s.shape[-1] != fft_size // 2:
        raise ParameterError(f"X_s has {X_s.shape[-1]} bins per frame but fft_size={fft_size} gives {fft_size // 2}")
    if not np.all(np.isfinite(X_s)):
        raise ParameterError("X_s contains NaN or Inf values")
    work = _validate.work_dtype(X_s)
    mag = np.power(10, X_s.astype(work)) if log else X_s.astype(work)
    if mag.min() < 0:
        raise ParameterError("X_s has negative magnitudes; pass log=True for a log10 spectrogram")
    # The seed drops the Nyquist bin; it carries no weight in its band-passed spectrograms.
    mag = np.concatenate([mag, np.zeros(mag.shape[:-1] + (1,), dtype=work)], axis=-1)
    return np.swapaxes(mag, -1, -2)


def pretty_to_audio(X_s, *, fft_size=512, step_size=64, log=True, n_iter=32, momentum=0.99,
                    init="pghi", rng=None, return_history=False):
    """Audio from the seed notebook's "pretty" spectrogram, by PGHI + fast Griffin-Lim.

    The upgrade for ``invert_pretty_spectrogram(X_s, fft_size=..., step_size=..., n_iter=10)``:
    takes the seed's array as it is (frames x ``fft_size // 2`` bins, log10 of the magnitude
    normalised to max 1 and floored at ``-thresh``, symmetric Hamming window, frames starting
    at sample 0 every ``step_size``) and returns a signal whose spectrogram matches it far
    better (measured on the benchmark signals: see the README) in a fraction of the time.

    Parameters
    ----------
    X_s : numpy.ndarray, shape (..., n_frames, fft_size // 2)
        The seed's ``pretty_spectrogram`` output (``log=True``), or linear magnitudes.
    fft_size, step_size : int
        The seed's parameters used to make ``X_s``.
    log : bool
        Whether ``X_s`` is log10 magnitude (the seed's default).
    n_iter, momentum, init, rng, return_history
        As for :func:`griffin_lim`.

    Returns
    -------
    numpy.ndarray, shape (..., fft_size + step_size * (n_frames - 1))
        float64 for float64 input, else float32; the scale of ``10**X_s``.
    """
    tf = seed_stft(fft_size, step_size)
    S = pretty_magnitude(X_s, tf.n_fft, log)
    return griffin_lim(S, n_iter=n_iter, n_fft=tf.n_fft, hop_length=tf.hop_length, window=tf.window(),
                       center=False, momentum=momentum, init=init, rng=rng, return_history=return_history)


def pretty_spectral_convergence(X_s, y, *, fft_size=512, step_size=64, log=True):
    """:func:`spectral_convergence` of ``y`` against the seed's pretty spectrogram ``X_s``.

    In the seed's transform, on linear magnitudes ``10**X_s``, Nyquist bin excluded.
    """
    tf = seed_stft(fft_size, step_size)
    return stft_spectral_convergence(tf, pretty_magnitude(X_s, tf.n_fft, log)[..., :-1, :], y, drop_nyquist=True)
