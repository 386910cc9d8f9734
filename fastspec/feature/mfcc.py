"""MFCCs: :class:`MFCC` and :func:`mfcc`."""

import numpy as np

from .. import _config, _engine, _validate, filters
from .._kernels import filterbank
from .._validate import ParameterError
from .mel import MelSpectrogram
from .presets import PRESET, build, cached, resolve, warn_all


def lifter_weights(n_mfcc, lifter, style):
    """Cepstral lifter weights: librosa's ``1 + L/2 sin(pi (n + 1) / L)`` or psf's ``1 + L/2 sin(pi n / L)``."""
    if lifter == 0:
        return np.ones(n_mfcc)
    n = np.arange(1, 1 + n_mfcc) if style == "librosa" else np.arange(n_mfcc)
    return 1 + (lifter / 2) * np.sin(np.pi * n / lifter)


class MFCC:
    """Reusable MFCCs: a :class:`MelSpectrogram` in log form, then a cached DCT basis.

    Each parameter shown as ``PRESET`` takes the preset's default, listed per preset below; the mel
    parameters (``sr``, ``n_fft``, ``hop_length``, ``win_length``, ``window``, ``center``,
    ``pad_mode``, ``power``, ``n_mels``, ``fmin``, ``fmax``, ``htk``, ``preemphasis``,
    ``amin``) are those of :class:`MelSpectrogram`.

    Parameters
    ----------
    n_mfcc : int, default 20 (librosa), 40 (torchaudio), 13 (psf)
        Coefficients kept, <= ``n_mels``.
    dct_type : {1, 2, 3}, default 2
        DCT type.
    norm : {"ortho", None}, default "ortho"
        DCT normalisation.
    lifter : float, default 0.0 (librosa), 0.0 (torchaudio), 22.0 (psf)
        Cepstral lifter ``L`` >= 0 (0: none): librosa's ``1 + L/2 sin(pi (n + 1) / L)``, or
        psf's ``1 + L/2 sin(pi n / L)`` with ``preset="psf"``.
    mel_norm : {"slaney", None} or float, default "slaney" (librosa), None (torchaudio), None (psf)
        Mel filter normalisation (librosa's ``mel_norm``).
    top_db : float or None, default 80.0 (librosa), 80.0 (torchaudio), None (psf)
        Dynamic range kept in the dB mel spectrogram before the DCT.
    append_energy : bool, default False (librosa), False (torchaudio), True (psf)
        Replace coefficient 0 by the log of each frame's total energy (psf's ``appendEnergy``).
    preset : {"librosa", "torchaudio", "psf"}
        Whose defaults and conventions to follow.

    Examples
    --------
    >>> import fastspec
    >>> from fastspec.feature import MFCC
    >>> MFCC(preset="psf")(fastspec.data.speech(16000, 1.0)).shape
    (13, 99)
    """

    def __init__(self, *, sr=PRESET, n_mfcc=PRESET, dct_type=2, norm="ortho", lifter=PRESET, mel_norm=PRESET,
                 top_db=PRESET, append_energy=PRESET, n_fft=PRESET, hop_length=PRESET, win_length=PRESET,
                 window=PRESET, center=PRESET, pad_mode=PRESET, power=PRESET, n_mels=PRESET, fmin=PRESET,
                 fmax=PRESET, htk=PRESET, preemphasis=PRESET, amin=PRESET, preset="librosa"):
        self._setup(resolve(preset, sr=sr, n_mfcc=n_mfcc, lifter=lifter, norm=mel_norm,
                             mfcc_top_db=top_db, append_energy=append_energy, n_fft=n_fft, hop_length=hop_length,
                             win_length=win_length, window=window, center=center, pad_mode=pad_mode, power=power,
                             n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, preemphasis=preemphasis, amin=amin),
                    dct_type, norm, preset)
        warn_all(self._notices, stacklevel=2)

    def _setup(self, p, dct_type, norm, preset):
        """Validate the resolved parameters ``p`` once; build the log-mel transform and the DCT basis."""
        log = "ln" if p["framing"] == "psf" else "db"
        mel = build(MelSpectrogram, (dict(p, top_db=None), log, 1.0, preset))
        self._mel = mel
        self._notices = tuple(mel._notices)
        self._n_mfcc = _validate.positive_int(p["n_mfcc"], "n_mfcc")
        if self._n_mfcc > mel.n_mels:
            raise ParameterError(f"n_mfcc={self._n_mfcc} must be <= n_mels={mel.n_mels}")
        lifter = _validate.positive_float(p["lifter"], "lifter", allow_zero=True)
        top_db = p["mfcc_top_db"]
        self._top_db = None if top_db is None else _validate.positive_float(top_db, "top_db", allow_zero=True)
        self._append_energy = bool(p["append_energy"])
        basis = filters.dct(self._n_mfcc, mel.n_mels, dct_type=dct_type, norm=norm, dtype=np.float64)
        basis = basis * lifter_weights(self._n_mfcc, lifter, p["lifter_style"])[:, None]
        self._basis_t = np.ascontiguousarray(basis.T)

    n_mfcc = property(lambda self: self._n_mfcc, doc="Number of coefficients.")
    mel = property(lambda self: self._mel, doc="The underlying log :class:`MelSpectrogram`.")
    top_db = property(lambda self: self._top_db, doc="The dynamic range kept before the DCT (None: no clip).")
    notices = property(lambda self: tuple(self._notices), doc="The warnings this transform gives, as text.")

    @property
    def frame_local(self):
        """Whether each frame depends only on its own samples (see :attr:`MelSpectrogram.frame_local`)."""
        return self._mel.frame_local and not self._append_energy

    def __repr__(self):
        return f"MFCC(preset={self._mel.preset!r}, n_mfcc={self._n_mfcc}, mel={self._mel!r})"

    def __call__(self, y, *, dtype=None):
        """MFCCs of ``y``.

        Parameters
        ----------
        y : numpy.ndarray, shape (..., n_samples)
            Real signal, float32 or float64.
        dtype : numpy dtype, optional
            float32 or float64. Default: follows ``y``.

        Returns
        -------
        numpy.ndarray, shape (..., n_mfcc, n_frames)
            Frames-major in memory.
        """
        mel = self._mel
        rows, lead = mel._rows(y, dtype, energy=self._append_energy)
        return self._cepstra(rows, lead, self._top_db, mel.n_mels if self._append_energy else -1)

    def _cepstra(self, rows, lead, top_db, energy_col):
        n_items, n_frames, _ = rows.shape
        if top_db is None:
            floors = np.full(n_items, -np.inf)
        else:
            floors = self._mel._floors(rows[..., :self._mel.n_mels], lead, top_db)
        out = np.empty((n_items, n_frames, self._n_mfcc), dtype=rows.dtype)
        floors = floors.astype(rows.dtype)
        # Frames are independent: the call's threads take a range of them each.
        threads = _engine.thread_count(_config.current(), n_frames, n_items * n_frames)

        def part(slot, frames):
            if len(frames):
                run = slice(frames[0], frames[-1] + 1)
                filterbank.clip_dct(rows[:, run], self._mel.n_mels, floors, self._basis_t, energy_col, out[:, run])

        _engine.run(range(n_frames), threads, part)
        return np.swapaxes(out, -1, -2).reshape(lead + (self._n_mfcc, n_frames))

    def from_log_mel(self, S):
        """MFCCs of a precomputed log-power mel spectrogram (librosa's ``mfcc(S=...)``): DCT and lifter only.

        Parameters
        ----------
        S : numpy.ndarray, shape (..., n_mels, n_frames)
            Log-power mel spectrogram (e.g. ``power_to_db(melspectrogram(...))``).

        Returns
        -------
        numpy.ndarray, shape (..., n_mfcc, n_frames)
        """
        S = _validate.spectrum(S)
        if S.dtype.kind == "c" or S.shape[-2] != self._mel.n_mels:
            raise ParameterError(f"S has shape {S.shape} and dtype {S.dtype}; "
                                 f"expected a real (..., {self._mel.n_mels}, n_frames) array")
        dtype = _validate.work_dtype(S)
        rows = np.ascontiguousarray(np.swapaxes(S, -1, -2).reshape((-1, S.shape[-1], S.shape[-2])), dtype=dtype)
        return self._cepstra(rows, S.shape[:-2], None, -1)


def mfcc(y=None, *, sr=PRESET, S=None, n_mfcc=PRESET, dct_type=2, norm="ortho", lifter=PRESET, mel_norm=PRESET,
         top_db=PRESET, append_energy=PRESET, n_fft=PRESET, hop_length=PRESET, win_length=PRESET, window=PRESET,
         center=PRESET, pad_mode=PRESET, power=PRESET, n_mels=PRESET, fmin=PRESET, fmax=PRESET, htk=PRESET,
         preemphasis=PRESET, amin=PRESET, preset="librosa", dtype=None):
    """Mel-frequency cepstral coefficients, equal to ``librosa.feature.mfcc`` (or the preset's library).

    Arguments left at ``PRESET`` take the preset's values (:mod:`fastspec.feature`); the
    parameters are those of :class:`MFCC`.

    Parameters
    ----------
    y : numpy.ndarray, shape (..., n_samples), optional
        Signal (float32 or float64).
    sr : float
        Sample rate.
    S : numpy.ndarray, shape (..., n_mels, n_frames), optional
        A precomputed log-power mel spectrogram used instead of ``y``: only the DCT and the
        lifter are applied (``append_energy`` must then be False).
    n_mfcc, dct_type, norm, lifter, mel_norm, top_db, append_energy
        See :class:`MFCC`.
    n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk, preemphasis, amin
        See :class:`MelSpectrogram`.
    preset : {"librosa", "torchaudio", "psf"}
        Whose defaults and conventions to follow.
    dtype : numpy dtype, optional
        float32 or float64 for ``y``. Default: follows ``y``.

    Returns
    -------
    numpy.ndarray, shape (..., n_mfcc, n_frames)

    Raises
    ------
    ParameterError
        Bad parameters (``n_mfcc > n_mels``, ``fmax > sr / 2``, ``lifter < 0``, ...).
    """
    if (y is None) == (S is None):
        raise ParameterError("pass exactly one of y (a signal) and S (a log-mel spectrogram)")
    if S is not None:
        n_mels = np.shape(S)[-2] if np.ndim(S) >= 2 else n_mels
        if append_energy is PRESET:
            append_energy = False
        elif append_energy:
            raise ParameterError("append_energy=True needs the signal y, not S")
    p = resolve(preset, sr=sr, n_mfcc=n_mfcc, lifter=lifter, norm=mel_norm, mfcc_top_db=top_db,
                 append_energy=append_energy, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                 window=window, center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, fmin=fmin, fmax=fmax,
                 htk=htk, preemphasis=preemphasis, amin=amin)
    # From S only the DCT runs: the filterbank's warnings (empty filters, fmax) would be about nothing.
    transform = cached(MFCC, p, dct_type, norm, preset, warn=S is None)
    return transform(y, dtype=dtype) if S is None else transform.from_log_mel(S)
