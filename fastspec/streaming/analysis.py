"""Streaming analysis: the framer that cuts pushed audio into whole frames, and the streams on it."""

import copy as _copy
import threading

import numpy as np

from .. import _config, _engine, _fft, _validate
from .._kernels import pipeline
from .._validate import ParameterError
from ..feature.mel import MelSpectrogram
from ..feature.mfcc import MFCC
from ..stft import Stft

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
    bookkeeping took 15 of its 21 us. The runner holds its plans (per frame count) and its
    scratch for the stream's life; a segment of more than one block goes to ``general`` (the
    transform's own call, on the call's threads). Each stream (and each copy) has its own.
    """

    def __init__(self, stft, kernel, args_of, width, out_dtype, finish, general):
        self._stft, self._kernel, self._args_of = stft, kernel, args_of
        self._width, self._out_dtype, self._finish, self._general = width, out_dtype, finish, general
        self._prepared = {}  # (n_frames, n_items, dtype) -> (tasks, plans, frames, spec, args), or None: general

    def fresh(self):
        """A runner like this one, with scratch of its own."""
        return _FrameRunner(self._stft, self._kernel, self._args_of, self._width, self._out_dtype, self._finish,
                            self._general)

    def _prepare(self, n_frames, n_items, dtype):
        tf = self._stft
        layout = _engine.layout(tf.n_fft, n_frames, dtype.itemsize, n_items)
        if len(layout.tasks) > 1 or len(self._prepared) >= 64:
            return None
        settings = _config.current()
        plans = _engine.Plans(settings, layout.plan_keys(settings, "r2c", dtype))  # released with the runner
        (frame_shape, real), (spec_shape, cplx) = layout.scratch_shapes(dtype, ("real", "complex"))
        return (layout.tasks, plans, _fft.aligned(frame_shape, real), _fft.aligned(spec_shape, cplx),
                (tf.framing, tf.window(dtype)), tuple(self._args_of(dtype)))

    def __call__(self, segment):
        tf = self._stft
        n = segment.shape[-1]
        y2 = segment.reshape(1, n) if segment.ndim == 1 else np.ascontiguousarray(segment.reshape(-1, n))
        dtype = y2.dtype
        n_frames = 1 + (n - tf.n_fft) // tf.hop_length
        key = (n_frames, y2.shape[0], dtype)
        prepared = self._prepared.get(key, False)
        if prepared is False:
            prepared = self._prepared[key] = self._prepare(n_frames, y2.shape[0], dtype)
        if prepared is None:
            return self._general(segment)
        tasks, plans, frames, spec, (framing, window), args = prepared
        out = np.empty((y2.shape[0], n_frames, self._width), dtype=self._out_dtype(dtype))
        self._kernel(y2, tasks, framing, window, plans.execute, plans.pointers, frames, spec, *args, out)
        if self._finish is not None:
            self._finish(out)
        if segment.ndim == 1:
            return out[0].T
        return np.swapaxes(out, -1, -2).reshape(segment.shape[:-1] + (self._width, n_frames))


class _Stream:
    """What the analysis streams share: a framer, and an uncentred transform of its segments."""

    def _setup(self, stft, apply, width, out_dtype):
        """``stft``: the offline framing (padding, hop); ``apply``: the uncentred transform of a segment."""
        self._lock = threading.Lock()
        self._framer = _Framer(stft.n_fft, stft.hop_length, stft.padding, stft.pad_mode)
        self._apply = apply
        self._width = width
        self._out_dtype = out_dtype

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
        if isinstance(self._apply, _FrameRunner):
            clone._apply = self._apply.fresh()
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
        self._setup(stft, _FrameRunner(framed, pipeline.forward_complex, lambda dtype: (), stft.n_freq, complex_of,
                                       None, framed.stft), stft.n_freq, complex_of)
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
        self._setup(mel.stft, _FrameRunner(framed.stft, pipeline.forward_filterbank, framed.pipeline_args, mel.n_mels,
                                           np.dtype, framed.finish_rows, framed), mel.n_mels, np.dtype)
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
