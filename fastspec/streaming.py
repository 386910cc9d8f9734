"""Streaming analysis and resynthesis: push audio (or frames) as it arrives, get what became complete.

Every stream equals its offline function: concatenating the outputs of any sequence of
``push`` calls and the final ``flush`` gives the offline result of the concatenated input (to
the FFT's rounding; the frames are the same samples, windowed the same way). A centred stream
pads its start as the offline call does, once the first samples it needs have arrived, and its
end at ``flush``.

Latency (analysis): frame ``t`` is returned by the push that brings sample
``t * hop_length + n_fft - 1 - padding`` (``padding = n_fft // 2`` when centred, else 0), its
last sample; the first frames of a centred stream wait for the samples its start padding is
made of (``padding + 1`` for ``"reflect"``, ``padding`` for ``"symmetric"``, one for
``"edge"``/``"linear_ramp"``, none for ``"constant"``). The frames that reach into the end
padding come from ``flush``. Resynthesis: the samples before frame ``t``'s first sample are
final once frame ``t - 1`` is pushed, ``n_fft - hop_length`` samples behind the frames' end.

A stream holds at most one frame's worth of samples (plus, for a centred stream, the last
``padding + 1`` samples for the end padding); :meth:`copy` snapshots it. Each stream is one
sequence: calls on one object from several threads are taken one at a time (a lock), in the
order they get it; different objects never share state, so streams on different threads give
what each would alone.
"""

import copy as _copy
import threading

import numpy as np

from . import _config, _engine, _validate
from ._kernels import phase as phase_kernels
from ._kernels import pipeline
from ._validate import ParameterError
from .feature.mel import MelSpectrogram
from .feature.mfcc import MFCC
from .phase import window_centre, window_gamma
from .stft import Stft

__all__ = ["StreamingIstft", "StreamingMFCC", "StreamingMelSpectrogram", "StreamingPghi", "StreamingStft"]

_LOCAL_PAD_MODES = ("constant", "reflect", "edge", "symmetric", "linear_ramp")
"""Pad modes whose start depends only on the first samples and end only on the last ones."""


class _Framer:
    """Cuts a pushed signal into segments of whole frames of the (virtually) padded signal.

    Frame ``t`` of the padded signal ``v`` covers ``v[t * hop : t * hop + n_fft]``; a segment
    handed out is ``v[t0 * hop : (t1 - 1) * hop + n_fft]`` for the frames ``t0 ... t1 - 1`` that
    became complete, which an uncentred transform turns into exactly those frames.
    """

    def __init__(self, n_fft, hop, padding, pad_mode):
        if padding and pad_mode not in _LOCAL_PAD_MODES:
            raise ParameterError(f"pad_mode={pad_mode!r} cannot stream: its padding needs the whole signal; "
                                 f"use one of {', '.join(_LOCAL_PAD_MODES)}")
        self.n_fft, self.hop, self.padding, self.pad_mode = n_fft, hop, padding, pad_mode
        # Samples the start padding is made of: reflect's reach, symmetric's, one edge value, none.
        self._reach = {"constant": 0, "edge": 1, "linear_ramp": 1, "symmetric": padding,
                       "reflect": padding + 1}[pad_mode] if padding else 0
        # The end padding is made of the last padding + 1 samples. The buffer keeps at least
        # n_fft - hop of them, which is enough unless the hop is over half the frame.
        self._keeps_recent = bool(padding) and n_fft - hop < padding + 1
        self.reset()

    def reset(self):
        self._data = None  # (..., capacity): v from the next frame's first sample on, once started
        self._fill = 0  # samples held in self._data
        self._started = False  # whether the start padding is in place (before: the raw first samples)
        self._pending = 0  # samples the last segment consumed, dropped at the next call
        self._recent = None  # the last padding + 1 samples, for the end padding
        self._n_recent = 0
        self._n_seen = 0
        self._lead = self._dtype = None

    def _check(self, chunk):
        if not isinstance(chunk, np.ndarray):
            chunk = np.asarray(chunk)
        if chunk.ndim >= 1 and chunk.shape[-1] == 0:
            chunk = chunk.astype(np.float32 if chunk.dtype.kind != "f" else chunk.dtype)
        else:
            chunk = _validate.audio(chunk, "chunk")
        if self._lead is None:
            self._lead, self._dtype = chunk.shape[:-1], chunk.dtype
        elif chunk.shape[:-1] != self._lead or chunk.dtype != self._dtype:
            raise ParameterError(f"chunk has shape {chunk.shape} and dtype {chunk.dtype}; this stream takes "
                                 f"{self._lead + ('n',)} {self._dtype} chunks")
        return chunk

    def _append(self, samples):
        n = samples.shape[-1]
        if self._data is None or self._fill + n > self._data.shape[-1]:
            grown = np.empty(self._lead + (max(2 * self._fill + n, 2 * self.n_fft),), dtype=self._dtype)
            if self._data is not None:
                grown[..., :self._fill] = self._data[..., :self._fill]
            self._data = grown
        self._data[..., self._fill:self._fill + n] = samples
        self._fill += n

    def _remember(self, chunk):
        # The last padding + 1 samples (the end padding's reach), kept apart: the buffer may hold fewer.
        keep = self.padding + 1
        if self._recent is None:
            self._recent = np.zeros(self._lead + (keep,), dtype=self._dtype)
        n = min(chunk.shape[-1], keep)
        self._recent[..., :keep - n] = self._recent[..., n:].copy()
        self._recent[..., keep - n:] = chunk[..., -n:]
        self._n_recent = min(keep, self._n_recent + chunk.shape[-1])

    def push(self, chunk):
        """Take ``chunk``; return the segment of frames it completed (a view, valid until the next call) or None."""
        chunk = self._check(chunk)
        self._drop()
        if chunk.shape[-1] == 0:
            return None
        self._n_seen += chunk.shape[-1]
        if self._keeps_recent:
            self._remember(chunk)
        self._append(chunk)
        if not self._started:
            if self._fill < self._reach:
                return None
            head = self._pad(self._data[..., :self._fill].copy(), (self.padding, 0))
            self._fill = 0
            self._append(head)
            self._started = True
        return self._take()

    def flush(self):
        """The segment of the remaining frames (end padding included), or None; the stream starts anew."""
        try:
            self._drop()
            if not self._started:
                if not self._fill:
                    return None
                # Too short to have started: pad both ends at once, as the offline call does.
                whole = self._pad(self._data[..., :self._fill], (self.padding, self.padding))
                return whole if whole.shape[-1] >= self.n_fft else None
            if self.padding:
                if self._keeps_recent:
                    recent = self._recent[..., self.padding + 1 - self._n_recent:]
                else:  # the buffer's last samples are pushed ones (the start padding is before them)
                    recent = self._data[..., self._fill - min(self._fill, self._n_seen, self.padding + 1):self._fill]
                self._append(self._pad(recent.copy(), (0, self.padding))[..., -self.padding:])
            return self._take()
        finally:
            self.reset()

    def _pad(self, y, widths):
        if not any(widths):
            return y
        return np.pad(y, [(0, 0)] * (y.ndim - 1) + [widths], mode=self.pad_mode)

    def _take(self):
        if self._fill < self.n_fft:
            return None
        n_frames = 1 + (self._fill - self.n_fft) // self.hop
        self._pending = n_frames * self.hop
        return self._data[..., :(n_frames - 1) * self.hop + self.n_fft]

    def _drop(self):
        if self._pending:
            rest = self._fill - self._pending
            self._data[..., :rest] = self._data[..., self._pending:self._fill]  # numpy copes with the overlap
            self._fill, self._pending = rest, 0

    @property
    def lead_shape(self):
        return self._lead

    @property
    def dtype(self):
        return self._dtype


class _FrameRunner:
    """A forward pipeline over every frame of a short uncentred segment, on the calling thread.

    A push of one hop makes one frame: the general call's checks, thread split and output
    bookkeeping took 15 of its 21 us. A segment of more than one block goes to ``general``
    (the transform's own call, on the call's threads).
    """

    def __init__(self, stft, kernel, args_of, width, out_dtype, finish, general):
        self._stft, self._kernel, self._args_of = stft, kernel, args_of
        self._width, self._out_dtype, self._finish, self._general = width, out_dtype, finish, general

    def __call__(self, segment):
        tf = self._stft
        lead, n = segment.shape[:-1], segment.shape[-1]
        y2 = np.ascontiguousarray(segment.reshape(-1, n))
        dtype = y2.dtype
        n_frames = tf.n_frames(n)
        layout = _engine.layout(tf.n_fft, n_frames, dtype.itemsize, y2.shape[0])
        if len(layout.tasks) > 1:
            return self._general(segment)
        settings = _config.current()
        out = np.empty((y2.shape[0], n_frames, self._width), dtype=self._out_dtype(dtype))
        plans = layout.plans(settings, "r2c", dtype)
        shapes = layout.scratch_shapes(dtype, ("real", "complex"))
        frames, spec = scratch = _engine.scratch(shapes)
        try:
            self._kernel(y2, layout.tasks, tf.framing, tf.window(dtype), plans.execute, plans.pointers, frames, spec,
                         *self._args_of(dtype), out)
        finally:
            _engine.give_back(settings, shapes, scratch)
            plans.done()
        if self._finish is not None:
            self._finish(out)
        return np.swapaxes(out, -1, -2).reshape(lead + (self._width, n_frames))


class _Stream:
    """What the analysis streams share: a framer, and an uncentred transform of its segments."""

    def _setup(self, stft, framed, width, out_dtype):
        self._lock = threading.Lock()
        self._framer = _Framer(stft.n_fft, stft.hop_length, stft.padding, stft.pad_mode)
        self._framed = framed
        self._width = width
        self._out_dtype = out_dtype
        self._apply = framed

    def _empty(self):
        lead = self._framer.lead_shape or ()
        dtype = self._framer.dtype if self._framer.dtype is not None else np.dtype(np.float32)
        return np.empty(lead + (self._width, 0), dtype=self._out_dtype(dtype))

    def push(self, chunk):
        """Add ``chunk`` (shape ``(..., n)``, any ``n`` >= 0) to the stream.

        Parameters
        ----------
        chunk : numpy.ndarray, shape (..., n_samples)
            The next samples; every chunk of one stream has the same leading shape and dtype.

        Returns
        -------
        numpy.ndarray, shape (..., width, n_new_frames)
            The frames this chunk completed (possibly none).
        """
        with self._lock:
            segment = self._framer.push(chunk)
            return self._empty() if segment is None else self._apply(segment)

    def flush(self):
        """End the stream: return its last frames (those reaching into the end padding); the object can start a new one.

        Returns
        -------
        numpy.ndarray, shape (..., width, n_last_frames)
        """
        with self._lock:
            empty = self._empty()
            segment = self._framer.flush()
            return empty if segment is None else self._apply(segment)

    def copy(self):
        """An independent copy of the stream, in its current state."""
        with self._lock:
            clone = _copy.copy(self)
            clone._framer = _copy.deepcopy(self._framer)
        clone._lock = threading.Lock()
        return clone


class StreamingStft(_Stream):
    """The STFT of a signal pushed chunk by chunk; the outputs concatenated equal :func:`fastspec.stft`.

    Parameters
    ----------
    n_fft : int, default 2048
    hop_length : int or None, default None (``win_length // 4``)
    win_length : int or None, default None (``n_fft``)
    window : str, tuple or array_like, default "hann"
    center : bool, default True
    pad_mode : {"constant", "reflect", "edge", "symmetric", "linear_ramp"}, default "constant"
        Padding when centred (modes that need the whole signal, such as ``"wrap"``, cannot stream).

    Examples
    --------
    >>> import numpy as np, fastspec
    >>> y = fastspec.data.speech(16000, 1.0)
    >>> stream = fastspec.StreamingStft(n_fft=512, hop_length=160)
    >>> parts = [stream.push(y[i:i + 1000]) for i in range(0, y.size, 1000)] + [stream.flush()]
    >>> np.allclose(np.concatenate(parts, axis=-1), fastspec.stft(y, n_fft=512, hop_length=160), atol=1e-5)
    True
    """

    def __init__(self, *, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True,
                 pad_mode="constant"):
        stft = Stft(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
                    pad_mode=pad_mode)
        framed = Stft(n_fft=stft.n_fft, hop_length=stft.hop_length, win_length=stft.win_length, window=window,
                      center=False)
        complex_of = lambda real: np.result_type(real, np.complex64)  # noqa: E731
        self._setup(stft, framed, stft.n_freq, complex_of)
        self._apply = _FrameRunner(framed, pipeline.forward_complex, lambda dtype: (), stft.n_freq, complex_of,
                                   None, framed.stft)
        self.stft = stft


def _frame_local(transform, what, clips):
    if not transform.frame_local:
        raise ParameterError(f"{what} with these parameters is not computed frame by frame (pre-emphasis, or the "
                             "python_speech_features framing), so it cannot stream")
    if clips and transform.top_db is not None:
        raise ParameterError(f"top_db={transform.top_db} clips against the whole signal's maximum, which a stream "
                             "never knows; pass top_db=None")


class StreamingMelSpectrogram(_Stream):
    """A mel (or log-mel) spectrogram of a signal pushed chunk by chunk, equal to :class:`MelSpectrogram`'s.

    Parameters
    ----------
    **kwargs
        :class:`fastspec.MelSpectrogram`'s parameters (``log=`` included). The transform must
        be frame-local: no pre-emphasis, no ``preset="psf"`` framing, ``top_db=None`` and a
        number as ``ref`` (a whole-signal clip or reference cannot stream).

    Examples
    --------
    >>> import numpy as np, fastspec
    >>> y = fastspec.data.speech(16000, 1.0)
    >>> kw = dict(sr=16000, n_fft=512, hop_length=160, n_mels=80, log="db", top_db=None)
    >>> stream = fastspec.StreamingMelSpectrogram(**kw)
    >>> parts = [stream.push(y[i:i + 160]) for i in range(0, y.size, 160)] + [stream.flush()]
    >>> np.allclose(np.concatenate(parts, axis=-1), fastspec.MelSpectrogram(**kw)(y), atol=1e-3)
    True
    """

    def __init__(self, **kwargs):
        if callable(kwargs.get("ref")):
            raise ParameterError(f"ref={kwargs['ref']!r} is a function of the whole spectrogram, which a stream "
                                 "never has; pass a number")
        mel = MelSpectrogram(**kwargs)
        _frame_local(mel, "MelSpectrogram", clips=mel.log == "db")
        framed = MelSpectrogram(**{**kwargs, "center": False})
        self._setup(mel.stft, framed, mel.n_mels, np.dtype)
        self._apply = _FrameRunner(framed.stft, pipeline.forward_filterbank, framed.pipeline_args, mel.n_mels,
                                   np.dtype, framed.finish_rows, framed)
        self.mel = mel


class StreamingMFCC(_Stream):
    """MFCCs of a signal pushed chunk by chunk, equal to :class:`MFCC`'s.

    Parameters
    ----------
    **kwargs
        :class:`fastspec.MFCC`'s parameters; ``top_db=None`` (MFCC's default of 80 dB clips
        against the whole signal), and a frame-local mel spectrogram (see
        :class:`StreamingMelSpectrogram`).
    """

    def __init__(self, **kwargs):
        mfcc = MFCC(**kwargs)
        _frame_local(mfcc, "MFCC", clips=True)
        framed = MFCC(**{**kwargs, "center": False})
        self._setup(mfcc.mel.stft, framed, mfcc.n_mfcc, np.dtype)
        self.mfcc = mfcc


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
            S = _validate.magnitude(frames, self.stft.n_fft, "frames") if np.shape(frames)[-1:] != (0,) else np.asarray(frames)
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
            phase_kernels.rtpghi_frame(empty, empty, empty, False, logmag[row], dphi_time[row], dphi_freq[row],
                                       threshold, phase, self._keys, self._items, self._todo)
        else:
            prev_logmag, prev_phase, prev_dphi_time = self._prev
            phase_kernels.rtpghi_frame(prev_logmag, prev_phase, prev_dphi_time, True, logmag[row], dphi_time[row],
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
