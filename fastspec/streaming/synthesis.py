"""Streaming resynthesis: frames to samples (StreamingIstft), magnitudes to samples (StreamingPghi)."""

import copy as _copy
import threading

import numpy as np

from .. import _validate
from .._kernels import phase as phase_kernels
from .._kernels import rtpghi
from .._validate import ParameterError
from ..phase import window_centre, window_gamma
from ..stft import Stft


class StreamingIstft:
    """The inverse STFT of frames pushed a few at a time, equal to :func:`fastspec.istft` of them all.

    Each push returns the samples no later frame can change: after frame ``t`` those before
    frame ``t + 1``'s first sample, ``n_fft - hop_length`` behind the frames' end. ``flush``
    returns the rest, up to the length :func:`fastspec.istft` gives (``length=None``).

    Parameters
    ----------
    n_fft : int, default 2048
    hop_length : int or None, default None (``win_length // 4``)
    win_length : int or None, default None (``n_fft``)
    window : str, tuple or array_like, default "hann"
    center : bool, default True
    """

    def __init__(self, *, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True):
        self.stft = Stft(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self):
        self._sums = None  # overlap-add of the frames so far, from sample self._start of the padded signal
        self._weights = None  # their window sum-square
        self._start = 0  # padded-signal index of self._sums[..., 0]
        self._n_frames = 0
        self._dtype = None

    def copy(self):
        """An independent copy of the stream, in its current state."""
        with self._lock:
            clone = _copy.copy(self)
            clone._sums, clone._weights = _copy.deepcopy((self._sums, self._weights))
        clone._lock = threading.Lock()
        return clone

    def push(self, frames):
        """Add STFT frames; return the samples that became final.

        Parameters
        ----------
        frames : numpy.ndarray, shape (..., 1 + n_fft // 2, n_new_frames)
            The next frames (complex64 or complex128), the same leading shape every push.

        Returns
        -------
        numpy.ndarray, shape (..., n_final_samples)
        """
        with self._lock:
            return self._push(frames)

    def _push(self, frames):
        tf = self.stft
        n_fft, hop = tf.n_fft, tf.hop_length
        S = _validate.spectrum(frames, "frames", n_fft=n_fft) if np.shape(frames)[-1:] != (0,) else np.asarray(frames)
        if S.ndim < 2 or S.shape[-2] != tf.n_freq or S.dtype.kind != "c":
            raise ParameterError(f"frames has shape {S.shape} and dtype {S.dtype}; expected complex "
                                 f"(..., {tf.n_freq}, n) frames")
        real = np.dtype(np.float32 if S.dtype == np.complex64 else np.float64)
        if self._sums is None:
            self._dtype = real
            self._sums = np.zeros(S.shape[:-2] + (0,), dtype=real)
            self._weights = np.zeros(0, dtype=real)
        elif S.shape[:-2] != self._sums.shape[:-1] or real != self._dtype:
            raise ParameterError(f"frames has shape {S.shape} and dtype {S.dtype}; this stream takes "
                                 f"{self._sums.shape[:-1] + (tf.n_freq, 'n')} {np.result_type(self._dtype, 1j)}")
        k = S.shape[-1]
        if k:
            window = tf.window(real)
            first = self._n_frames * hop  # padded-signal index of the first new frame's first sample
            end = first + (k - 1) * hop + n_fft
            grow = end - self._start - self._sums.shape[-1]
            if grow > 0:
                self._sums = np.concatenate([self._sums, np.zeros(self._sums.shape[:-1] + (grow,), real)], axis=-1)
                self._weights = np.concatenate([self._weights, np.zeros(grow, real)])
            rows = np.fft.irfft(np.moveaxis(S, -1, -2), n=n_fft, axis=-1).astype(real, copy=False) * window
            squared = window * window
            for j in range(k):
                at = first + j * hop - self._start
                self._sums[..., at:at + n_fft] += rows[..., j, :]
                self._weights[at:at + n_fft] += squared
            self._n_frames += k
        return self._emit(self._n_frames * hop)

    def flush(self):
        """End the stream: the remaining samples, up to :func:`fastspec.istft`'s length; the object can start anew.

        Returns
        -------
        numpy.ndarray, shape (..., n_last_samples)
        """
        with self._lock:
            return self._flush()

    def _flush(self):
        try:
            if self._sums is None:
                return np.zeros(0, dtype=np.float32)
            tf = self.stft
            if self._n_frames == 0:
                return self._emit(self._start)
            tf.inverse_geometry(self._n_frames)  # too few frames for a centred output: istft's error
            return self._emit(tf.n_fft + tf.hop_length * (self._n_frames - 1) - tf.padding)
        finally:
            self._reset()

    def _emit(self, stop):
        """The final samples from ``self._start`` to padded-signal index ``stop``, centre padding left out."""
        count = max(0, stop - self._start)
        sums, weights = self._sums[..., :count], self._weights[:count]
        tiny = np.finfo(self._dtype).tiny
        scale = np.zeros_like(weights)
        np.divide(1, weights, out=scale, where=weights > tiny)
        out = sums * scale
        skip = max(0, self.stft.padding - self._start)
        self._sums, self._weights = self._sums[..., count:], self._weights[count:]
        self._start += count
        return out[..., skip:]


class StreamingPghi:
    """Sound from magnitude frames alone, as they arrive: real-time PGHI (Průša & Holighaus 2016).

    Each frame's phase is integrated from the previous frame's and along its own bins, largest
    coefficients first (:func:`fastspec.pghi`'s rule, one frame at a time); the time derivative
    of the log-magnitude is a central difference with ``lookahead=1`` (so a frame is resolved
    when the next one arrives) or a backward one with ``lookahead=0``. The frames then go through
    a :class:`StreamingIstft`. The magnitude's running maximum sets the ``tol`` threshold.

    Parameters
    ----------
    n_fft : int, default 2048
    hop_length : int or None, default None (``win_length // 4``)
    win_length : int or None, default None (``n_fft``)
    window : str, tuple or array_like, default "hann"
    center : bool, default True
    lookahead : {1, 0}, default 1
        Frames waited for before a frame's phase is set.
    tol : float, default 1e-5
        Relative magnitude at or below which a coefficient gets phase 0.
    gamma : float or None, default None
        The window's Gaussian ``gamma`` (samples**2); None: :func:`fastspec.phase.window_gamma`.
    """

    def __init__(self, *, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, lookahead=1,
                 tol=1e-5, gamma=None):
        self._istft = StreamingIstft(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                                     center=center)
        tf = self.stft = self._istft.stft
        if lookahead not in (0, 1) or isinstance(lookahead, bool):
            raise ParameterError(f"lookahead={lookahead!r} must be 0 or 1 (frames)")
        self._lookahead = lookahead
        self._tol = _validate.positive_float(tol, "tol", allow_zero=True)
        self._gamma = window_gamma(tf) if gamma is None else _validate.positive_float(gamma, "gamma")
        self._slope = 2 * np.pi * window_centre(tf) / tf.n_fft
        n = tf.n_freq
        self._keys, self._items, self._todo = np.empty(2 * n), np.empty(2 * n, np.int64), np.empty(n, np.int64)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self):
        self._mags = []  # the frames not yet resolved (at most lookahead + 1), float64
        self._prev = None  # (logmag, phase, dphi_time) of the last resolved frame
        self._prev_mag = None  # and its magnitudes
        self._top = 0.0
        self._dtype = None

    def copy(self):
        """An independent copy of the stream, in its current state."""
        with self._lock:
            clone = _copy.copy(self)
            clone._mags, clone._prev = list(self._mags), _copy.deepcopy(self._prev)
            clone._istft = self._istft.copy()
        clone._keys, clone._items, clone._todo = np.empty_like(self._keys), np.empty_like(self._items), \
            np.empty_like(self._todo)
        clone._lock = threading.Lock()
        return clone

    def push(self, frames):
        """Add magnitude frames; return the samples that became final.

        Parameters
        ----------
        frames : numpy.ndarray, shape (1 + n_fft // 2, n_new_frames)
            Non-negative magnitudes, float32 or float64.

        Returns
        -------
        numpy.ndarray, shape (n_final_samples,)
        """
        with self._lock:
            empty = np.shape(frames)[-1:] == (0,)
            S = np.asarray(frames) if empty else _validate.magnitude(frames, self.stft.n_fft, "frames")
            if S.ndim != 2 or S.shape[0] != self.stft.n_freq:
                raise ParameterError(f"frames has shape {S.shape}; expected ({self.stft.n_freq}, n) magnitudes")
            if self._dtype is None:
                self._dtype = np.dtype(np.float32 if S.dtype == np.float32 else np.float64)
            out = []
            for t in range(S.shape[1]):
                column = S[:, t].astype(np.float64)
                self._top = max(self._top, float(column.max()))
                self._mags.append(column)
                if len(self._mags) > self._lookahead:
                    out.append(self._resolve(final=False))
            return self._samples(out)

    def flush(self):
        """End the stream: resolve the frames held back, and return the remaining samples.

        Returns
        -------
        numpy.ndarray, shape (n_last_samples,)
        """
        with self._lock:
            try:
                out = []
                while self._mags:
                    out.append(self._resolve(final=True))
                tail = self._samples(out)
                return np.concatenate([tail, self._istft.flush()]).astype(tail.dtype, copy=False)
            finally:
                self._reset()

    def _resolve(self, final):
        """Set the phase of the oldest held frame; return it as a complex STFT frame."""
        tf = self.stft
        floor = self._top * 1e-12 if self._top > 0 else 1e-300
        window = [self._mags[0]] if self._prev is None else [self._prev_mag, self._mags[0]]
        if self._lookahead and len(self._mags) > 1:
            window.append(self._mags[1])
        logmag = np.log(np.maximum(np.array(window), floor))
        dphi_time, dphi_freq = np.empty_like(logmag), np.empty_like(logmag)
        phase_kernels.pghi_gradients(logmag, float(tf.hop_length), float(tf.n_fft), float(self._gamma), 0.0,
                                     dphi_time, dphi_freq)
        row = 0 if self._prev is None else 1
        phase = np.empty(tf.n_freq)
        threshold = np.log(self._tol * self._top) if self._tol > 0 and self._top > 0 else -np.inf
        if self._prev is None:
            empty = np.zeros(tf.n_freq)
            rtpghi.rtpghi_frame(empty, empty, empty, False, logmag[row], dphi_time[row], dphi_freq[row],
                                       threshold, phase, self._keys, self._items, self._todo)
        else:
            prev_logmag, prev_phase, prev_dphi_time = self._prev
            rtpghi.rtpghi_frame(prev_logmag, prev_phase, prev_dphi_time, True, logmag[row], dphi_time[row],
                                       dphi_freq[row], threshold, phase, self._keys, self._items, self._todo)
        mag = self._mags.pop(0)
        self._prev = (logmag[row], phase, dphi_time[row])
        self._prev_mag = mag
        frame = np.empty((1, tf.n_freq), dtype=np.result_type(self._dtype, np.complex64))
        phase_kernels.polar(mag[None, :], phase[None, :], self._slope, frame)
        return frame[0]

    def _samples(self, frames):
        if not frames:
            return self._istft.push(np.zeros((self.stft.n_freq, 0), np.result_type(self._dtype or np.float32,
                                                                                     np.complex64)))
        return self._istft.push(np.stack(frames, axis=-1))
