"""Mel spectrograms: :class:`MelSpectrogram` and :func:`melspectrogram`."""


import numpy as np

from .. import _validate, filters
from .._kernels import filterbank, pipeline
from .._validate import ParameterError
from ..decibel import power_to_db
from ..stft import Stft
from .presets import LOGS, PRESET, cached, resolve, round_half_up, warn_all


class MelSpectrogram:
    """A reusable mel spectrogram: STFT plans, window and sparse mel filterbank built once.

    Each parameter shown as ``PRESET`` takes the preset's default, listed per preset below.

    Parameters
    ----------
    sr : float, default 22050 (librosa), 16000 (torchaudio), 16000 (psf)
        Sample rate.
    n_fft : int, default 2048 (librosa), 400 (torchaudio), 512 (psf)
        FFT length.
    hop_length : int or None, default 512 (librosa), None (torchaudio), None (psf)
        Samples between frames. None: ``win_length // 4`` (librosa's rule), ``win_length // 2``
        with ``preset="torchaudio"``, ``round(0.01 * sr)`` with ``preset="psf"``.
    win_length : int or None, default None (librosa), None (torchaudio), None (psf)
        Window length (<= ``n_fft``, except with ``preset="psf"``, which truncates frames to
        ``n_fft`` and warns, as python_speech_features does). None: ``n_fft``, or
        ``round(0.025 * sr)`` with ``preset="psf"``.
    window : str, tuple, callable or array_like, default "hann" (librosa), "hann" (torchaudio), "boxcar" (psf)
        Analysis window (periodic form for names; a callable gets ``win_length``).
    center : bool, default True (librosa), True (torchaudio), False (psf)
        Centre frames (pad ``n_fft // 2`` at both ends). Ignored by ``preset="psf"``.
    pad_mode : {"constant", "reflect", "edge"}, default "constant" (librosa), "reflect" (torchaudio), "constant" (psf)
        Padding when centred.
    power : float, default 2.0 (librosa), 2.0 (torchaudio), 2.0 (psf)
        Exponent of the magnitude, > 0 (1 magnitude, 2 power).
    n_mels : int, default 128 (librosa), 128 (torchaudio), 26 (psf)
        Number of mel bands.
    fmin : float, default 0.0 (librosa), 0.0 (torchaudio), 0.0 (psf)
        Lowest band edge in Hz.
    fmax : float or None, default None (librosa), None (torchaudio), None (psf)
        Highest band edge in Hz, <= ``sr / 2`` (None: ``sr / 2``).
    htk : bool, default False (librosa), True (torchaudio), True (psf)
        HTK mel formula instead of Slaney's.
    norm : {"slaney", None} or float, default "slaney" (librosa), None (torchaudio), None (psf)
        Filter normalisation (:func:`fastspec.filters.mel`).
    preemphasis : float, default 0.0 (librosa), 0.0 (torchaudio), 0.97 (psf)
        Coefficient of the pre-emphasis ``y[n] - c * y[n - 1]`` (0: none).
    log : {None, "db", "ln"}
        ``None``: mel energies. ``"db"``: ``10 log10(max(S, amin) / ref)``, clipped at ``top_db``
        below the maximum. ``"ln"``: natural log of the floored energies (psf's ``logfbank``).
    amin : float, default 1e-10 (librosa), 1e-10 (torchaudio), 2.220446049250313e-16 (psf)
        Floor before the logarithm, > 0. With ``preset="psf"`` exact zeros are replaced by it
        (``numpy.where(S == 0, eps, S)``, also without ``log``); otherwise values below it
        are raised to it.
    ref : float or callable
        Reference power of 0 dB (``log="db"``), or a function of the mel energies such as
        ``numpy.max`` (as ``power_to_db(S, ref=numpy.max)``).
    top_db : float or None, default 80.0 (librosa), None (torchaudio), None (psf)
        Dynamic range kept by ``log="db"``.
    preset : {"librosa", "torchaudio", "psf"}
        Whose defaults and conventions to follow.

    Examples
    --------
    >>> import fastspec
    >>> from fastspec.feature import MelSpectrogram
    >>> mel = MelSpectrogram(sr=22050, log="db")
    >>> mel(fastspec.data.chirp(22050, 1.0)).shape
    (128, 44)
    """

    def __init__(self, *, sr=PRESET, n_fft=PRESET, hop_length=PRESET, win_length=PRESET, window=PRESET,
                 center=PRESET, pad_mode=PRESET, power=PRESET, n_mels=PRESET, fmin=PRESET, fmax=PRESET,
                 htk=PRESET, norm=PRESET, preemphasis=PRESET, log=None, amin=PRESET, ref=1.0,
                 top_db=PRESET, preset="librosa"):
        self._setup(resolve(preset, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                             window=window, center=center, pad_mode=pad_mode, power=power, n_mels=n_mels,
                             fmin=fmin, fmax=fmax, htk=htk, norm=norm, preemphasis=preemphasis, amin=amin,
                             top_db=top_db),
                    log, ref, preset)
        warn_all(self._notices, stacklevel=2)

    def _setup(self, p, log, ref, preset):
        """Validate the resolved parameters ``p`` once and build the transform and filterbank.

        Warnings are kept in ``_notices`` and given at each public call (as librosa warns per call).
        """
        self._preset = preset
        self._notices = []
        self._sr = _validate.positive_float(p["sr"], "sr")
        self._power = _validate.positive_float(p["power"], "power")
        if log not in LOGS:
            raise ParameterError(f"log={log!r} must be None, 'db' or 'ln'")
        self._log = log
        self._amin = _validate.positive_float(p["amin"], "amin")
        # A function of the spectrogram as ref (librosa's power_to_db(S, ref=np.max)) needs the
        # energies whole: the pass then computes them, and power_to_db takes the logarithm after.
        self._ref_of = ref if callable(ref) and log == "db" else None
        if callable(ref) and log != "db":
            raise ParameterError(f"ref={ref!r} is a function, which only log='db' uses")
        self._fused_log = None if self._ref_of is not None else log
        self._ref_db = 0.0 if self._ref_of is not None else \
            10.0 * np.log10(max(self._amin, _validate.positive_float(ref, "ref")))
        top_db = p["top_db"]
        self._top_db = None if top_db is None else _validate.positive_float(top_db, "top_db", allow_zero=True)
        self._top_db_axes = p["top_db_axes"]
        self._floor = p["floor"] if (self._fused_log is not None or p["floor"] == "zero") else None
        self._preemphasis = float(p["preemphasis"])
        if not np.isfinite(self._preemphasis):
            raise ParameterError(f"preemphasis={p['preemphasis']!r} must be a finite number")
        self._framing = p["framing"]
        if self._framing == "psf":
            self._setup_psf_framing(p, _validate.positive_int(p["n_fft"], "n_fft"))
        else:
            win_length = None if p["win_length"] is None else _validate.positive_int(p["win_length"], "win_length")
            hop = p["hop_length"]
            n_fft = p["n_fft"]
            if hop is None and p["mel_style"] == "torchaudio":  # torchaudio: win_length // 2
                hop = max(1, (_validate.positive_int(n_fft, "n_fft") if win_length is None else win_length) // 2)
            # Otherwise None is librosa's win_length // 4, the Stft's own default.
            self._stft = Stft(n_fft=n_fft, hop_length=hop, win_length=win_length, window=p["window"],
                              center=p["center"], pad_mode=p["pad_mode"])
            self._scale = 1.0
        n_fft = self._stft.n_fft  # validated by the Stft
        sr, n_mels, fmin, fmax, norm = filters.check_mel_args(
            self._sr, p["n_mels"], p["fmin"], p["fmax"], p["norm"], p["mel_style"])
        key = (sr, n_fft, n_mels, fmin, fmax, bool(p["htk"]), norm, p["mel_style"], np.dtype(p["mel_dtype"]))
        self._basis, empty = filters.cached_mel(*key)
        if empty:
            self._notices.append(filters.empty_bands_notice(n_mels, n_fft, sr))
        self._sparse = filters.cached_sparse_mel(*key)
        self._args = {}  # (dtype, energy column) -> pipeline_args
        self._n_mels = n_mels

    def _setup_psf_framing(self, p, n_fft):
        frame_len = (round_half_up(0.025 * self._sr) if p["win_length"] is None
                     else _validate.positive_int(p["win_length"], "win_length"))
        step = (round_half_up(0.01 * self._sr) if p["hop_length"] is None
                else _validate.positive_int(p["hop_length"], "hop_length"))
        win = filters.get_window(p["window"], frame_len)
        if frame_len > n_fft:
            self._notices.append(f"frame length ({frame_len}) is greater than FFT size ({n_fft}), frame will be "
                                 "truncated. Increase n_fft to avoid.")
        # python_speech_features puts each frame at the start of its n_fft-point FFT (zero tail);
        # |X| does not depend on where the frame sits, so only the phase would differ.
        padded = np.zeros(n_fft)
        padded[:min(frame_len, n_fft)] = win[:n_fft]
        self._frame_len, self._step = frame_len, step
        self._stft = Stft(n_fft=n_fft, hop_length=step, window=padded, center=False)
        self._scale = 1.0 / n_fft  # psf's power spectrum is |X|**2 / n_fft

    sr = property(lambda self: self._sr, doc="Sample rate.")
    n_mels = property(lambda self: self._n_mels, doc="Number of mel bands.")
    n_fft = property(lambda self: self._stft.n_fft, doc="FFT length.")
    hop_length = property(lambda self: self._stft.hop_length, doc="Samples between frames.")
    preset = property(lambda self: self._preset, doc="The preset followed.")
    stft = property(lambda self: self._stft, doc="The :class:`fastspec.Stft` computing the spectra.")
    filterbank = property(lambda self: self._basis, doc="The dense (read-only) mel filterbank.")
    sparse_filterbank = property(lambda self: self._sparse, doc="The :class:`~fastspec.filters.SparseFilterbank`.")
    top_db = property(lambda self: self._top_db, doc="The dynamic range kept by ``log='db'`` (None: no clip).")
    log = property(lambda self: self._log, doc="The logarithm applied: None, ``'db'`` or ``'ln'``.")
    notices = property(lambda self: tuple(self._notices),
                       doc="The warnings this transform gives at each call, as text (empty bands, psf's truncation).")

    @property
    def frame_local(self):
        """Whether each frame depends only on its own samples (STFT framing, no pre-emphasis).

        Such a transform can run over any block of whole frames (the batch converter's long files).
        """
        return self._framing == "stft" and self._preemphasis == 0.0

    def __repr__(self):
        return (f"MelSpectrogram(preset={self._preset!r}, sr={self._sr:g}, n_fft={self.n_fft}, "
                f"hop_length={self.hop_length}, n_mels={self._n_mels}, log={self._log!r})")

    def n_frames(self, n_samples):
        """Number of frames for a signal of ``n_samples``."""
        if self._framing == "psf":
            if n_samples <= self._frame_len:
                return 1
            return 1 + -(-(n_samples - self._frame_len) // self._step)
        return self._stft.n_frames(n_samples)

    # ----- the fused pass ------------------------------------------------------------------
    def finish_rows(self, rows):
        """Floor and logarithm of mel rows (frames-major, as the pipeline wrote them), in place.

        The pass runs it over each thread's share of the output at once (a no-op without a log).

        numpy's SIMD log10 runs 20x faster than a scalar loop in numba (0.04 against 0.9 us per
        128-band frame), and one call over a share of rows spares three ufunc calls per block of frames.
        """
        if self._floor == "clamp":
            np.maximum(rows, self._amin, out=rows)
        elif self._floor == "zero":
            filterbank.replace_zeros(rows.reshape(-1, rows.shape[-1]), rows.dtype.type(self._amin))
        if self._fused_log == "db":
            np.log10(rows, out=rows)
            np.multiply(rows, 10.0, out=rows)
            if self._ref_db != 0.0:
                np.subtract(rows, self._ref_db, out=rows, casting="same_kind")
        elif self._fused_log == "ln":
            np.log(rows, out=rows)

    def pipeline_args(self, dtype, energy_col=-1):
        """What :func:`fastspec._kernels.pipeline.forward_filterbank` takes for this filterbank in ``dtype`` (cached).

        ``energy_col``: the output column for each frame's energy (psf's), or -1 for none.
        """
        key = (np.dtype(dtype), energy_col)
        args = self._args.get(key)
        if args is None:
            args = self._args[key] = self._make_pipeline_args(key[0], energy_col)
        return args

    def _make_pipeline_args(self, dtype, energy_col):
        fb = self._sparse.astype(dtype)
        real = dtype.type
        power = self._power
        code = filterbank.POWER_2 if power == 2.0 else filterbank.POWER_1 if power == 1.0 else filterbank.POWER_ANY
        # psf's 1 / n_fft on the spectrum folded into the weights (exact for a power-of-two n_fft).
        weights = fb.weights if self._scale == 1.0 else (fb.weights * self._scale).astype(dtype)
        # Scalars in the rows' dtype: a float64 scalar made the float32 loop convert every
        # element (1.05 against 0.66 us per 2048-point frame).
        return code, real(power), fb.starts, fb.offsets, weights, energy_col, real(self._scale)

    def _psf_signal(self, y):
        """Pre-emphasise and zero-pad to python_speech_features' frame count."""
        n_items, n_samples = y.shape
        n_frames = self.n_frames(n_samples)
        padded = np.zeros((n_items, (n_frames - 1) * self._step + self.n_fft), dtype=y.dtype)
        # Frames longer than n_fft are truncated, so the tail of y may never be read.
        used = min(n_samples, padded.shape[1])
        preemphasise(y[:, :used], self._preemphasis, padded[:, :used])
        return padded

    def _rows(self, y, dtype, energy=False):
        """Frames-major mel rows ``(n_items, n_frames, n_mels [+ 1 energy])`` and the leading shape."""
        y = _validate.audio(y, dtype=dtype)
        lead = y.shape[:-1]
        y2 = y.reshape(-1, y.shape[-1])
        if self._framing == "psf":
            y2 = self._psf_signal(y2)
        elif self._preemphasis != 0.0:
            y2 = preemphasise(y2, self._preemphasis, np.empty_like(y2))
        if not self._stft.center and y2.shape[-1] < self.n_fft:
            raise ParameterError(f"y has {y2.shape[-1]} samples, fewer than n_fft={self.n_fft}; "
                                 "pass center=True or a smaller n_fft")
        width = self._n_mels + (1 if energy else 0)
        n_items, n_frames = y2.shape[0], self._stft.n_frames(y2.shape[-1])
        frames_major = np.empty((n_items, n_frames, width), dtype=y2.dtype)
        # The floor and logarithm run on each thread's rows as soon as they are computed.
        self._stft.forward(y2, y2.dtype, pipeline.forward_filterbank,
                           self.pipeline_args(y2.dtype, self._n_mels if energy else -1),
                           out=np.swapaxes(frames_major, -1, -2), width=width,
                           finish=self.finish_rows if self._floor is not None else None)
        return frames_major, lead

    def _floors(self, bands, lead, top_db):
        """Per-item dB floors ``max - top_db``, the maximum taken over the preset's group.

        The group is the whole array (librosa's ``power_to_db``) or each group of the last three
        axes (torchaudio's ``AmplitudeToDB``).
        """
        n_items = bands.shape[0]
        group = lead[-1] if self._top_db_axes == "last3" and len(lead) >= 1 else n_items
        top_db = bands.dtype.type(top_db)
        if group == n_items:
            return np.full(n_items, bands.max() - top_db)
        maxima = bands.max(axis=(1, 2)).reshape(-1, group).max(axis=1)
        return np.repeat(maxima - top_db, group)

    def _clip(self, frames_major, lead, top_db):
        """Clip dB rows in place at ``top_db`` below the maximum of the preset's group."""
        if top_db is None:
            return
        floors = self._floors(frames_major, lead, top_db).astype(frames_major.dtype)
        np.maximum(frames_major, floors[:, None, None], out=frames_major)

    def __call__(self, y, *, dtype=None):
        """Mel spectrogram of ``y``.

        Parameters
        ----------
        y : numpy.ndarray, shape (..., n_samples)
            Real signal, float32 or float64.
        dtype : numpy dtype, optional
            float32 or float64. Default: follows ``y``.

        Returns
        -------
        numpy.ndarray, shape (..., n_mels, n_frames)
            Frames-major in memory (as librosa's).
        """
        frames_major, lead = self._rows(y, dtype)
        if self._fused_log == "db":
            self._clip(frames_major, lead, self._top_db)
        return self._with_ref(np.swapaxes(frames_major, -1, -2).reshape(lead + (self._n_mels, frames_major.shape[1])))

    def _with_ref(self, M):
        if self._ref_of is None:
            return M
        return power_to_db(M, ref=self._ref_of, amin=self._amin, top_db=self._top_db)

    def from_spectrogram(self, S):
        """Mel spectrogram of a precomputed ``|STFT|**power`` (librosa's ``S=`` argument).

        Parameters
        ----------
        S : numpy.ndarray, shape (..., 1 + n_fft // 2, n_frames)
            Magnitude or power spectrogram (no scaling is applied).

        Returns
        -------
        numpy.ndarray, shape (..., n_mels, n_frames)
        """
        S = _validate.spectrum(S, n_fft=self.n_fft)
        if S.dtype.kind == "c":
            raise ParameterError("S must be a real (magnitude or power) spectrogram, got a complex array")
        dtype = _validate.work_dtype(S)
        lead = S.shape[:-2]
        rows = np.ascontiguousarray(np.swapaxes(S, -1, -2).reshape((-1, S.shape[-2])), dtype=dtype)
        fb = self._sparse.astype(dtype)
        frames_major = np.empty((rows.shape[0], self._n_mels), dtype=dtype)
        filterbank.apply(rows, fb.starts, fb.offsets, fb.weights, frames_major)
        if self._floor is not None:
            self.finish_rows(frames_major)
        frames_major = frames_major.reshape((-1, S.shape[-1], self._n_mels))
        if self._fused_log == "db":
            self._clip(frames_major, lead, self._top_db)
        return self._with_ref(np.swapaxes(frames_major, -1, -2).reshape(lead + (self._n_mels, S.shape[-1])))


def preemphasise(y, coeff, out):
    """``out[..., n] = y[..., n] - coeff * y[..., n - 1]`` (``out[..., 0] = y[..., 0]``), psf's order of operations."""
    c = y.dtype.type(coeff)
    out[:, 0] = y[:, 0]
    np.multiply(y[:, :-1], c, out=out[:, 1:])
    np.subtract(y[:, 1:], out[:, 1:], out=out[:, 1:])
    return out


def melspectrogram(y=None, *, sr=PRESET, S=None, n_fft=PRESET, hop_length=PRESET, win_length=PRESET,
                   window=PRESET, center=PRESET, pad_mode=PRESET, power=PRESET, n_mels=PRESET, fmin=PRESET,
                   fmax=PRESET, htk=PRESET, norm=PRESET, preemphasis=PRESET, log=None, amin=PRESET, ref=1.0,
                   top_db=PRESET, preset="librosa", dtype=None):
    """Mel spectrogram, equal to ``librosa.feature.melspectrogram`` (or the preset's library).

    ``melspectrogram(y=y, log="db")`` equals ``librosa.power_to_db(librosa.feature.melspectrogram(y=y))``
    computed in one fused pass. Arguments left at ``PRESET`` take the preset's values
    (:mod:`fastspec.feature`); the parameters are those of :class:`MelSpectrogram`.

    Parameters
    ----------
    y : numpy.ndarray, shape (..., n_samples), optional
        Signal (float32 or float64).
    sr, n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk, norm, preemphasis
        See :class:`MelSpectrogram`.
    S : numpy.ndarray, shape (..., 1 + n_fft // 2, n_frames), optional
        A precomputed ``|STFT|**power`` used instead of ``y`` (``n_fft`` is inferred from it).
    log : {None, "db", "ln"}
        Return energies, decibels or natural logs.
    amin, ref, top_db
        Floor, 0 dB reference and dynamic range of the logarithm.
    preset : {"librosa", "torchaudio", "psf"}
        Whose defaults and conventions to follow.
    dtype : numpy dtype, optional
        float32 or float64 for ``y``. Default: follows ``y``.

    Returns
    -------
    numpy.ndarray, shape (..., n_mels, n_frames)

    Raises
    ------
    ParameterError
        Bad parameters (``fmax > sr / 2``, ``power <= 0``, ...), or neither/both of ``y`` and ``S``.

    Warns
    -----
    UserWarning
        Some mel bands are empty (``n_mels`` too large for ``n_fft``), as librosa warns.
    """
    if (y is None) == (S is None):
        raise ParameterError("pass exactly one of y (a signal) and S (a spectrogram)")
    if S is not None:
        n_fft = 2 * (np.shape(S)[-2] - 1) if np.ndim(S) >= 2 else n_fft
    p = resolve(preset, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                 center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                 norm=norm, preemphasis=preemphasis, amin=amin, top_db=top_db)
    mel = cached(MelSpectrogram, p, log, ref, preset)
    return mel(y, dtype=dtype) if S is None else mel.from_spectrogram(S)
