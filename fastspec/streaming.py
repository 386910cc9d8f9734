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

from . import _validate
from ._validate import ParameterError
from .feature.mel import MelSpectrogram
from .feature.mfcc import MFCC
from .stft import Stft

__all__ = ["StreamingIstft", "StreamingMFCC", "StreamingMelSpectrogram", "StreamingStft"]

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
        self.reset()

    def reset(self):
        self._buffer = None  # v from the next frame's first sample on, once the start is padded
        self._head = None  # the samples pushed before then
        self._recent = None  # the last padding + 1 samples, for the end padding
        self._n_seen = 0

    def _check(self, chunk):
        if not isinstance(chunk, np.ndarray):
            chunk = np.asarray(chunk)
        if chunk.ndim >= 1 and chunk.shape[-1] == 0:
            chunk = chunk.astype(np.float32 if chunk.dtype.kind != "f" else chunk.dtype)
        else:
            chunk = _validate.audio(chunk, "chunk")
        reference = self._buffer if self._buffer is not None else self._head
        if reference is not None and (chunk.shape[:-1] != reference.shape[:-1] or chunk.dtype != reference.dtype):
            raise ParameterError(f"chunk has shape {chunk.shape} and dtype {chunk.dtype}; this stream takes "
                                 f"{reference.shape[:-1] + ('n',)} {reference.dtype} chunks")
        return chunk

    def push(self, chunk):
        """Take ``chunk``; return the segment of frames it completed, or None (and the frame count)."""
        chunk = self._check(chunk)
        if chunk.shape[-1] == 0:
            if self._buffer is None and self._head is None:
                self._head = chunk
            return None
        self._n_seen += chunk.shape[-1]
        if self.padding:
            kept = chunk if self._recent is None else np.concatenate([self._recent, chunk], axis=-1)
            self._recent = kept[..., -(self.padding + 1):]
        if self._buffer is None:
            self._head = chunk if self._head is None else np.concatenate([self._head, chunk], axis=-1)
            if self._head.shape[-1] < self._reach:
                return None
            self._buffer = self._pad(self._head, (self.padding, 0))
            self._head = None
        else:
            self._buffer = np.concatenate([self._buffer, chunk], axis=-1)
        return self._take(self._buffer.shape[-1])

    def flush(self):
        """The segment of the remaining frames (end padding included), or None; the stream starts anew."""
        try:
            if self._buffer is None:
                if self._head is None or self._head.shape[-1] == 0:
                    return None
                # Too short to have started: pad both ends at once, as the offline call does.
                whole = self._pad(self._head, (self.padding, self.padding))
                return whole if whole.shape[-1] >= self.n_fft else None
            if self.padding:
                tail = self._pad(self._recent, (0, self.padding))[..., -self.padding:]
                self._buffer = np.concatenate([self._buffer, tail], axis=-1)
            return self._take(self._buffer.shape[-1])
        finally:
            self.reset()

    def _pad(self, y, widths):
        if not any(widths):
            return y
        return np.pad(y, [(0, 0)] * (y.ndim - 1) + [widths], mode=self.pad_mode)

    def _take(self, available):
        if available < self.n_fft:
            return None
        n_frames = 1 + (available - self.n_fft) // self.hop
        end = (n_frames - 1) * self.hop + self.n_fft
        segment = self._buffer[..., :end]
        self._buffer = self._buffer[..., n_frames * self.hop:]
        return segment

    @property
    def lead_shape(self):
        reference = self._buffer if self._buffer is not None else self._head
        return None if reference is None else reference.shape[:-1]

    @property
    def dtype(self):
        reference = self._buffer if self._buffer is not None else self._head
        return None if reference is None else reference.dtype


class _Stream:
    """What the analysis streams share: a framer, and an uncentred transform of its segments."""

    def _setup(self, stft, framed, width, out_dtype):
        self._lock = threading.Lock()
        self._framer = _Framer(stft.n_fft, stft.hop_length, stft.padding, stft.pad_mode)
        self._framed = framed
        self._width = width
        self._out_dtype = out_dtype

    def _empty(self):
        lead = self._framer.lead_shape or ()
        dtype = self._framer.dtype if self._framer.dtype is not None else np.dtype(np.float32)
        return np.empty(lead + (self._width, 0), dtype=self._out_dtype(dtype))

    def _apply(self, segment):
        raise NotImplementedError

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
        self._setup(stft, framed, stft.n_freq, lambda real: np.result_type(real, np.complex64))
        self.stft = stft

    def _apply(self, segment):
        return self._framed.stft(segment)


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
        self.mel = mel

    def _apply(self, segment):
        return self._framed(segment)


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

    def _apply(self, segment):
        return self._framed(segment)


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
