"""``fastspec invert``: a feature file (or an audio file's features) back to audio, written atomically."""

import os

import numpy as np

from .. import _validate
from .._validate import ParameterError
from ..compat.upgrade import pretty_to_audio
from ..inverse import mel_to_audio, mfcc_to_mel
from ..phase import griffin_lim
from .describe import FEATURE_SUFFIXES, feature_metadata, is_feature, store_item

__all__ = ["FEATURE_KINDS", "invert_file"]

FEATURE_KINDS = ("magnitude", "power", "db", "mel", "log_mel", "mfcc", "pretty")


def _read_input(path):
    """``(array or audio, sample rate or None, metadata dict, is_audio)`` for a feature file or audio."""
    path = os.fspath(path)
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False), {}, False
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            meta = {k: z[k][()] for k in z.files if z[k].ndim == 0}
            for key in ("feature", "S", "X_s", "mel", "mfcc"):
                if key in z.files:
                    return z[key], meta, False
            raise ParameterError(f"{path}: no feature array (expected 'feature'; has {', '.join(z.files)})")
    import soundfile

    try:
        audio, sr = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises RuntimeError/LibsndfileError/TypeError
        raise ParameterError(f"{path}: cannot read as audio or feature file ({err})") from None
    return audio.T, {"sr": sr}, True


def invert_file(input_path, output_path, *, kind=None, sr=None, n_fft=None, hop_length=None, win_length=None,
                window="hann", center=True, n_iter=32, momentum=0.99, init="pghi", rng=None, n_mels=128,
                fmin=0.0, fmax=None, htk=False, mel_norm="slaney", dct_type=2, lifter=0, ref=1.0, top_db=80.0,
                fft_size=512, step_size=64, thresh=5.0, normalize="auto", subtype=None):
    """Invert a feature file (``.npy``/``.npz``) or an audio file's features to audio (``fastspec invert``).

    A feature file holds one ``(..., n_bins, n_frames)`` array (``.npz``: ``feature``, with
    scalar metadata such as ``sr``, ``n_fft``, ``hop_length``, ``kind`` that fill in parameters
    not given); the seed's pretty spectrogram is ``(n_frames, fft_size // 2)``. An audio file
    is analysed into ``kind`` first and inverted back (a round trip through the features).

    Parameters
    ----------
    input_path, output_path : str or os.PathLike
        The input: a feature file (``.npy``, ``.npz``), a store's item (``STORE::KEY``, see
        :func:`fastspec.open_features`) or an audio file. The output's format comes from its
        extension (anything ``soundfile`` writes: .wav, .flac, .ogg); it is written to a
        temporary name and renamed when complete.
    kind : {"magnitude", "power", "db", "mel", "log_mel", "mfcc", "pretty"}, optional
        What the array is: magnitude or power STFT, amplitude in dB (``amplitude_to_db``),
        mel power, mel power in dB, MFCCs, the seed's log pretty spectrogram. Default: the
        file's ``kind`` metadata, else ``"magnitude"``.
    sr : int, optional
        Sample rate (default: file metadata, else 22050).
    n_fft, hop_length, win_length, window, center
        The STFT (defaults: metadata, else 2048 / ``win_length // 4``; ``n_fft`` of a magnitude
        array follows its bins).
    n_iter, momentum, init, rng
        As for :func:`griffin_lim`.
    n_mels, fmin, fmax, htk, mel_norm, dct_type, lifter, ref, top_db
        Mel / MFCC parameters (librosa's defaults); ``n_mels`` for MFCC inversion and for
        analysing audio.
    fft_size, step_size, thresh
        The seed's parameters for ``kind="pretty"``.
    normalize : {"auto", True, False}
        ``True`` scales the output's peak to 0.9; ``False`` writes it as is; ``"auto"`` does
        the former for ``kind="pretty"`` (normalised to max 1, so its scale is arbitrary) and
        otherwise only scales down an output that would clip.
    subtype : str, optional
        soundfile subtype (e.g. ``"PCM_16"``, ``"FLOAT"``). Default: the format's default.

    Returns
    -------
    dict
        ``kind``, ``sr``, ``n_samples``, ``n_channels``, ``spectral_convergence`` (dB, for
        magnitude-like kinds: of the inversion against the magnitudes, before any
        normalisation and the file's quantisation; the worst channel; else None),
        ``output_path`` and ``assumed`` (defaults taken that neither the arguments nor the file
        gave, e.g. ``["sr=22050"]`` for a bare array).
    """
    from .. import decibel
    from .. import feature as _feature

    if normalize not in ("auto", True, False):
        raise ParameterError(f"normalize={normalize!r} must be 'auto', True or False")
    output_path = _check_output(output_path)
    if is_feature(input_path) and not os.fspath(input_path).endswith(FEATURE_SUFFIXES):  # STORE::KEY
        (array, made), meta, is_audio = store_item(input_path), {}, False
    else:
        array, meta, is_audio = _read_input(input_path)
        made = None if is_audio else feature_metadata(input_path)
    if made is not None and kind is None:  # written by fastspec convert: it says what it is and how it was made
        gl_kw = dict(n_iter=n_iter, momentum=momentum, init=init, rng=rng)
        y_out, sr, sc, kind = _invert_converted(np.asarray(array), made, gl_kw)
        return _write(y_out, output_path, sr, normalize, kind, subtype, sc)
    if made is not None:  # a kind given by hand: the file's rate and framing still hold
        meta = dict(meta, sr=made["sr"], hop_length=made["hop_length"],
                    **{k: made["params"][k] for k in ("n_fft", "win_length") if made["params"].get(k) is not None})
    assumed = [] if is_audio or sr is not None or "sr" in meta else ["sr=22050"]

    def pick(value, key, default):
        if value is not None:
            return value
        v = meta.get(key, default)
        return v.item() if isinstance(v, np.generic) else v

    kind = pick(kind, "kind", "magnitude")
    if isinstance(kind, bytes):
        kind = kind.decode()
    if kind not in FEATURE_KINDS:
        raise ParameterError(f"kind={kind!r} must be one of {', '.join(FEATURE_KINDS)}")
    sr = int(pick(sr, "sr", 22050))
    hop_length = pick(hop_length, "hop_length", None)
    win_length = pick(win_length, "win_length", None)
    if kind in ("magnitude", "power", "db") and not is_audio and n_fft is None and "n_fft" not in meta:
        n_fft = 2 * (np.shape(array)[-2] - 1)
    n_fft = int(pick(n_fft, "n_fft", 2048))
    stft_kw = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center)
    mel_kw = dict(sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
                  fmin=fmin, fmax=fmax, htk=htk)
    gl_kw = dict(n_iter=n_iter, momentum=momentum, init=init, rng=rng)
    length = None
    if is_audio:
        y = array
        length = y.shape[-1]
        if kind in ("magnitude", "power", "db"):
            array = _spectrogram_of(y, kind, stft_kw, top_db)
        elif kind in ("mel", "log_mel"):
            array = _feature.melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                                            window=window, center=center, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                            htk=htk, norm=mel_norm, log="db" if kind == "log_mel" else None)
        elif kind == "mfcc":
            array = _feature.mfcc(y, sr=sr, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                                  center=center, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, mel_norm=mel_norm,
                                  dct_type=dct_type, lifter=lifter)
        else:
            from ..compat import pretty_spectrogram

            array = np.stack([pretty_spectrogram(channel.astype(np.float64), fft_size=fft_size, step_size=step_size,
                                                 thresh=thresh) for channel in y])
    array = np.asarray(array)
    history = None
    if kind in ("magnitude", "power", "db"):
        if kind == "power":
            S = np.sqrt(_validate.magnitude(array, None))
        elif kind == "db":
            S = decibel.db_to_amplitude(array, ref=ref)
        else:
            S = array
        y_out, history = griffin_lim(S, length=length, return_history=True, **stft_kw, **gl_kw)
    elif kind in ("mel", "log_mel"):
        M = decibel.db_to_power(array, ref=ref) if kind == "log_mel" else array
        y_out = mel_to_audio(M, length=length, norm=mel_norm, **mel_kw, **gl_kw)
    elif kind == "mfcc":
        mel = mfcc_to_mel(array, n_mels=n_mels, dct_type=dct_type, lifter=lifter, ref=ref)
        y_out = mel_to_audio(mel, length=length, norm=mel_norm, **mel_kw, **gl_kw)
    else:
        y_out, history = pretty_to_audio(array, fft_size=fft_size, step_size=step_size, return_history=True, **gl_kw)
    sc = float(np.max(history[..., -1])) if history is not None else None
    result = _write(y_out, output_path, sr, normalize, kind, subtype, sc)
    result["assumed"] = assumed  # what neither the arguments nor the file said
    return result


def _check_output(output_path):
    """The output path, checked before any work: an extension soundfile knows, a folder that exists."""
    import os

    output_path = os.fspath(output_path)
    ext = os.path.splitext(output_path)[1].lstrip(".").upper()
    if not ext:
        raise ParameterError(f"output_path={output_path!r} needs an extension (.wav, .flac, ...)")
    import soundfile

    if ext not in soundfile.available_formats():
        raise ParameterError(f"output_path={output_path!r}: .{ext.lower()} is not a format soundfile writes "
                             f"({', '.join(sorted(f.lower() for f in soundfile.available_formats()))})")
    folder = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(folder):
        raise ParameterError(f"output_path={output_path!r}: the folder {folder} does not exist")
    return output_path


def _write(y_out, output_path, sr, normalize, kind, subtype, sc):
    """Normalise as asked and write atomically; the summary :func:`invert_file` returns."""
    import os

    import soundfile

    y_out = np.atleast_2d(y_out.reshape((-1, y_out.shape[-1])))
    peak = float(np.max(np.abs(y_out))) if y_out.size else 0.0
    if normalize == "auto":
        normalize = True if kind in ("pretty", "seed-pretty", "seed-mel") else ("clip" if peak > 1.0 else False)
    if normalize and peak > 0:
        y_out = y_out * ((0.999 if normalize == "clip" else 0.9) / peak)
    ext = os.path.splitext(output_path)[1].lstrip(".").upper()
    tmp = f"{output_path}.{os.getpid()}.fastspec-tmp"
    try:
        soundfile.write(tmp, y_out.T, sr, subtype=subtype, format=ext)
        os.replace(tmp, output_path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return {"kind": kind, "sr": sr, "n_samples": int(y_out.shape[-1]), "n_channels": int(y_out.shape[0]),
            "spectral_convergence": sc, "output_path": output_path, "assumed": []}


def _invert_converted(array, made, gl_kw):
    """Invert what ``fastspec convert`` wrote, with the parameters it recorded.

    Returns ``(audio, sr, spectral convergence in dB, feature name)``: the convergence of the
    result's STFT magnitudes against the file's (spectrograms, the seed's features) or of its
    mel energies against the file's (mel, log-mel, MFCC).
    """
    from .. import compat, decibel
    from ..compat.upgrade import pretty_spectral_convergence
    from ..feature import MelSpectrogram

    name, p, sr = made["feature"], made["params"], int(made["sr"])
    length = None if made.get("duration") is None else int(round(made["duration"] * sr))
    if p.get("preset") == "psf":
        raise ParameterError("features made with preset='psf' cannot be inverted: its pre-emphasis, frame "
                             "truncation and natural-log energies have no inverse here")
    if name in ("spectrogram", "logspec", "mel", "logmel", "mfcc"):
        stft_kw = {k: p[k] for k in ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode")}
        if stft_kw["hop_length"] is None:  # torchaudio's default, win_length // 2
            stft_kw["hop_length"] = made["hop_length"]
    if name in ("spectrogram", "logspec"):
        S = (decibel.db_to_amplitude(array) if name == "logspec"
             else np.power(_validate.magnitude(array, None), 1.0 / p["power"]))
        y, history = griffin_lim(S, length=length, return_history=True, **stft_kw, **gl_kw)
        return y, sr, float(np.max(history[..., -1])), name
    if name in ("mel", "logmel", "mfcc"):
        mel_kw = dict(sr=sr, fmin=p["fmin"], fmax=p["fmax"], htk=p["htk"],
                      norm=p["mel_norm"] if name == "mfcc" else p["norm"])
        if name == "mfcc":
            M = mfcc_to_mel(array, n_mels=p["n_mels"], dct_type=p["dct_type"], norm=p["norm"], lifter=p["lifter"])
        else:
            M = decibel.db_to_power(array) if name == "logmel" else array
        M = np.asarray(M, dtype=np.float64)
        y = mel_to_audio(M, power=p["power"], length=length, **mel_kw, **stft_kw, **gl_kw)
        again = MelSpectrogram(n_mels=M.shape[-2], power=p["power"], preset=p["preset"], **mel_kw, **stft_kw)(y)
        n = min(again.shape[-1], M.shape[-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            sc = 20 * np.log10(np.linalg.norm(M[..., :n] - again[..., :n]) / np.linalg.norm(M[..., :n]))
        return y, sr, float(sc), name
    fft_size, step = int(p["fft_size"]), int(p["step_size"])
    frames = array.reshape((-1,) + array.shape[-2:])
    if name == "seed-pretty":  # stored (n_bins, n_frames): the notebook's array is its transpose
        pretty = [x.T.astype(np.float64) for x in frames]
    else:
        _, inversion = compat.create_mel_filter(fft_size, n_freq_components=p["n_freq_components"],
                                                start_freq=p["start_freq"], end_freq=p["end_freq"], samplerate=sr)
        # The notebook's own way back: mel_to_spectrogram, transposed, as a log pretty spectrogram.
        pretty = [compat.mel_to_spectrogram(x.astype(np.float16), inversion, spec_thresh=p["thresh"],
                                            shorten_factor=p["shorten_factor"]).T.astype(np.float64) for x in frames]
    log = p.get("log", True)
    ys = [pretty_to_audio(x, fft_size=fft_size, step_size=step, log=log, **gl_kw) for x in pretty]
    sc = max(pretty_spectral_convergence(x, y, fft_size=fft_size, step_size=step, log=log)
             for x, y in zip(pretty, ys, strict=True))
    n = length or max(y.shape[-1] for y in ys)
    y = np.stack([np.pad(y[:n], (0, max(0, n - y.shape[-1]))) for y in ys]).reshape(array.shape[:-2] + (n,))
    return y, sr, float(sc), name


def _spectrogram_of(y, kind, stft_kw, top_db):
    """Magnitude, power or dB spectrogram of ``y`` (the analysis side of :func:`invert_file`)."""
    from ..decibel import amplitude_to_db
    from ..stft import spectrogram

    S = spectrogram(y, power=2.0 if kind == "power" else 1.0, **stft_kw)
    return amplitude_to_db(S, ref=1.0, top_db=top_db) if kind == "db" else S
