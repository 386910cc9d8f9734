"""Streaming resynthesis: frames to samples (StreamingIstft), magnitudes to samples (StreamingPghi)."""

import copy as _copy
import threading

import numpy as np

from .. import _config, _engine, _fft, _validate
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
        self._one_frame = {}  # dtype -> (held one-frame c2r Plans, their input and output buffers)
        self._reset()

    def _reset(self):
        self._sums = None  # (..., capacity): overlap-add of the frames so far, from padded sample self._start
        self._weights = None  # (capacity,): their window sum-square
        self._fill = 0  # samples of both in use
        self._start = 0  # padded-signal index of self._sums[..., 0]
        self._n_frames = 0
        self._dtype = None

    def copy(self):
        """An independent copy of the stream, in its current state."""
        with self._lock:
            clone = _copy.copy(self)
            clone._sums, clone._weights = _copy.deepcopy((self._sums, self._weights))
        clone._lock = threading.Lock()
        clone._one_frame = {}  # its own plan buffers (they are scratch)
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
            return self._push_unlocked(frames)

    def _push_unlocked(self, frames):
        tf = self.stft
        empty = np.shape(frames)[-1:] == (0,)
        S = np.asarray(frames) if empty else _validate.spectrum(frames, "frames", n_fft=tf.n_fft)
        if S.ndim < 2 or S.shape[-2] != tf.n_freq or S.dtype.kind != "c":
            raise ParameterError(f"frames has shape {S.shape} and dtype {S.dtype}; expected complex "
                                 f"(..., {tf.n_freq}, n) frames")
        real = np.dtype(np.float32 if S.dtype == np.complex64 else np.float64)
        if self._sums is None:
            self._dtype = real
            self._sums = np.zeros(S.shape[:-2] + (2 * tf.n_fft,), dtype=real)
            self._weights = np.zeros(2 * tf.n_fft, dtype=real)
            self._window = tf.window(real)
            self._squared = self._window * self._window
            self._scaled_window = self._window / real.type(tf.n_fft)  # FFTW's c2r does not scale
        elif S.shape[:-2] != self._sums.shape[:-1] or real != self._dtype:
            raise ParameterError(f"frames has shape {S.shape} and dtype {S.dtype}; this stream takes "
                                 f"{self._sums.shape[:-1] + (tf.n_freq, 'n')} {np.result_type(real, 1j)}")
        return self._add(S)

    def _add(self, S):
        """Overlap-add checked frames ``S`` (``(..., n_freq, k)``, this stream's dtype); emit what became final."""
        tf = self.stft
        n_fft, hop = tf.n_fft, tf.hop_length
        k = S.shape[-1]
        if k:
            first = self._n_frames * hop - self._start  # buffer index of the first new frame's first sample
            need = first + (k - 1) * hop + n_fft
            if need > self._weights.shape[0]:
                sums = np.zeros(self._sums.shape[:-1] + (2 * need,), dtype=self._dtype)
                weights = np.zeros(2 * need, dtype=self._dtype)
                sums[..., :self._fill], weights[:self._fill] = self._sums[..., :self._fill], self._weights[:self._fill]
                self._sums, self._weights = sums, weights
            if need > self._fill:
                self._sums[..., self._fill:need] = 0
                self._weights[self._fill:need] = 0
                self._fill = need
            if S.ndim == 2 and k <= 4:
                # One frame at a time through an FFTW plan held by the stream: numpy's irfft costs
                # 11-13 us a call at n_fft 1024, most of a one-frame push.
                plans, spectrum, row = self._plan()
                for j in range(k):
                    at = first + j * hop
                    spectrum[0] = S[:, j]
                    plans.execute(plans.pointers[0], spectrum.ctypes.data, row.ctypes.data)
                    self._sums[at:at + n_fft] += row[0] * self._scaled_window
                    self._weights[at:at + n_fft] += self._squared
            else:
                rows = np.fft.irfft(S, n=n_fft, axis=-2)  # (..., n_fft, k)
                for j in range(k):
                    at = first + j * hop
                    self._sums[..., at:at + n_fft] += rows[..., :, j] * self._window
                    self._weights[at:at + n_fft] += self._squared
            self._n_frames += k
        return self._emit(self._n_frames * hop)

    def _plan(self):
        """The stream's one-frame c2r plan and its (aligned) buffers, made on first use."""
        found = self._one_frame.get(self._dtype)
        if found is None:
            settings = _config.current()
            # Held as the analysis streams hold theirs: handed back when the stream is collected.
            plans = _engine.Plans(settings, (_fft.plan_key("c2r", self.stft.n_fft, 1, self._dtype,
                                                           settings.plan_effort),))
            cplx = np.result_type(self._dtype, np.complex64)
            found = self._one_frame[self._dtype] = (plans, _fft.aligned((1, self.stft.n_freq), cplx),
                                                    _fft.aligned((1, self.stft.n_fft), self._dtype))
        return found

    def flush(self):
        """End the stream: the remaining samples, up to :func:`fastspec.istft`'s length; the object can start anew.

        Returns
        -------
        numpy.ndarray, shape (..., n_last_samples)
        """
        with self._lock:
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
        count = min(max(0, stop - self._start), self._fill)
        weights = self._weights[:count]
        scale = np.zeros(count, dtype=self._dtype)
        np.divide(1, weights, out=scale, where=weights > np.finfo(self._dtype).tiny)
        out = self._sums[..., :count] * scale
        rest = self._fill - count
        self._sums[..., :rest] = self._sums[..., count:self._fill]
        self._weights[:rest] = self._weights[count:self._fill]
        self._fill = rest
        skip = max(0, self.stft.padding - self._start)
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
        self._scratch = (np.empty(2 * n), np.empty(2 * n, np.int64), np.empty(n, np.int64))
        self._lock = threading.Lock()
        self._reset()

    def _reset(self):
        self._held = []  # (magnitude, log-magnitude) of the frames not yet resolved, float64
        self._prev = None  # (log-magnitude, phase, dphi_time) of the last resolved frame
        self._top = 0.0
        self._dtype = None

    def copy(self):
        """An independent copy of the stream, in its current state."""
        with self._lock:
            clone = _copy.copy(self)
            clone._held, clone._prev = list(self._held), self._prev  # their arrays are never written again
            clone._istft = self._istft.copy()
        clone._scratch = tuple(np.empty_like(a) for a in self._scratch)
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
            resolved = []
            for t in range(S.shape[1]):
                column = S[:, t].astype(np.float64)
                self._top = max(self._top, float(column.max()))
                # The log floor (1e-12 of the running maximum) is PGHI's; it only bounds log(0).
                self._held.append((column, np.log(np.maximum(column, self._top * 1e-12 or 1e-300))))
                if len(self._held) > self._lookahead:
                    resolved.append(self._resolve())
            return self._samples(resolved)

    def flush(self):
        """End the stream: resolve the frames held back, and return the remaining samples.

        Returns
        -------
        numpy.ndarray, shape (n_last_samples,)
        """
        with self._lock:
            try:
                resolved = []
                while self._held:
                    resolved.append(self._resolve())
                tail = self._samples(resolved)
                return np.concatenate([tail, self._istft.flush()]).astype(tail.dtype, copy=False)
            finally:
                self._reset()

    def _resolve(self):
        """Set the phase of the oldest held frame; return it as a complex STFT frame."""
        tf = self.stft
        n = tf.n_freq
        mag, here = self._held.pop(0)
        has_after = bool(self._lookahead and self._held)
        after = self._held[0][1] if has_after else here
        if self._prev is None:
            before, prev_phase, prev_dphi_time = here, here, here  # not read: there is no previous frame
        else:
            before, prev_phase, prev_dphi_time = self._prev
        threshold = np.log(self._tol * self._top) if self._tol > 0 and self._top > 0 else -np.inf
        dphi_time, dphi_freq, phase = np.empty(n), np.empty(n), np.empty(n)
        frame = np.empty(n, dtype=np.result_type(self._dtype, np.complex64))
        rtpghi.rtpghi_step(before, here, after, self._prev is not None, has_after, float(tf.hop_length),
                           float(tf.n_fft), float(self._gamma), float(threshold), prev_phase, prev_dphi_time, mag,
                           self._slope, dphi_time, dphi_freq, phase, *self._scratch, frame)
        self._prev = (here, phase, dphi_time)
        return frame

    def _samples(self, frames):
        cplx = np.result_type(self._dtype or np.float32, np.complex64)
        S = np.stack(frames, axis=-1) if frames else np.zeros((self.stft.n_freq, 0), cplx)
        with self._istft._lock:
            if self._istft._sums is None:  # its first frames: let it set itself up (and check them once)
                return self._istft._push_unlocked(S)
            return self._istft._add(S)
