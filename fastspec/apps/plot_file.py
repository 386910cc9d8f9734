"""``fastspec plot``: an audio or feature file drawn as a PNG spectrogram in dB."""

import os

import numpy as np

from .._validate import ParameterError
from .describe import FEATURE_SUFFIXES, feature_metadata, is_feature, store_item

__all__ = ["plot_file"]

def _feature_picture(path, sr, hop_length, channel):
    """``(S_db, sr, hop_length, y_axis, fmin, fmax, title)`` of a feature file."""
    from .. import decibel, io

    if is_feature(path) and not path.endswith(FEATURE_SUFFIXES):  # STORE::KEY
        S, made = store_item(path)
    else:
        S = io.load_feature(path)
        made = feature_metadata(path)  # a converted file says its rate, hop and feature
    params = made["params"] if made else {}
    if made:
        sr, hop_length = made["sr"], made["hop_length"]
    elif path.endswith(".npz"):
        with np.load(path) as z:
            sr = int(z["sr"]) if "sr" in z else sr
            hop_length = int(z["hop_length"]) if "hop_length" in z else hop_length
    if sr is None or hop_length is None:
        raise ParameterError(f"{path}: no manifest entry and no sr/hop_length in the file; "
                             "pass sr and hop_length (--sr, --hop-length)")
    if S.ndim == 3:
        if not 0 <= channel < S.shape[0]:
            raise ParameterError(f"channel={channel} is out of range: {path} has {S.shape[0]} channels")
        S = S[channel]
    if S.ndim != 2:
        raise ParameterError(f"{path}: cannot draw a feature of shape {S.shape}")
    feature = params.get("feature", "")
    if feature == "seed-pretty":
        S = 20 * S  # log10 magnitude -> dB
    elif feature in ("spectrogram", "mel"):
        power = params.get("power", 1.0 if feature == "spectrogram" else 2.0)
        S = decibel.power_to_db(np.abs(S) ** (2.0 / power), ref=np.max)
    y_axis = {"spectrogram": "hz", "logspec": "hz", "seed-pretty": "hz", "mel": "mel", "logmel": "mel"}.get(
        feature, "bins")
    return (S, sr, hop_length, y_axis, params.get("fmin") or 0.0, params.get("fmax") or sr / 2,
            f"{os.path.basename(path)} ({feature or 'feature'})")


def _audio_picture(path, feature, n_fft, hop_length, n_mels, sr):
    from .. import decibel, io

    y, sr = io.load(path, sr=sr, channels="mix")
    if y.size == 0:
        raise ParameterError(f"{path} has no samples to draw")
    hop = hop_length or n_fft // 4
    if feature == "logmel":
        from ..feature import melspectrogram

        S = melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, log="db")
        return S - S.max(), sr, hop, "mel", 0.0, sr / 2, f"{os.path.basename(path)}: log-mel"
    if feature != "logspec":
        raise ParameterError(f"feature={feature!r} must be 'logspec' or 'logmel'")
    from ..stft import spectrogram

    S = decibel.amplitude_to_db(spectrogram(y, n_fft=n_fft, hop_length=hop), ref=np.max)
    return S, sr, hop, "hz", 0.0, sr / 2, f"{os.path.basename(path)}: spectrogram"


def plot_file(path, output=None, *, feature="logspec", n_fft=2048, hop_length=None, n_mels=128, sr=None, channel=0,
              figsize=(10, 4), dpi=100):
    """Draw an audio or feature file as a PNG spectrogram in dB (time in s, frequency in Hz or mel).

    Parameters
    ----------
    path : str or os.PathLike
        Audio file, or a ``.npy``/``.npz`` feature file (sample rate, hop and feature come
        from its manifest entry, or from an ``.npz``'s ``sr``/``hop_length``).
    output : str, optional
        PNG path. Default: ``path``'s name with ``.png``, in the current folder.
    feature : {"logspec", "logmel"}
        What to draw for audio.
    n_fft, hop_length, n_mels : int
        Analysis of audio (``hop_length`` default ``n_fft // 4``); ``hop_length`` also for a
        feature file without a manifest.
    sr : int, optional
        Resample audio to this rate; sample rate of a feature file without a manifest.
    channel : int
        Channel drawn from a multi-channel feature.
    figsize : tuple of float
        Inches.
    dpi : int
        The PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    str
        The PNG written.
    """
    from .. import plot

    path = os.fspath(path)
    if is_feature(path):
        picture = _feature_picture(path, sr, hop_length, channel)
    else:
        picture = _audio_picture(path, feature, n_fft, hop_length, n_mels, sr)
    S_db, sr, hop, y_axis, fmin, fmax, title = picture
    out = output or os.path.splitext(os.path.basename(path.replace("::", "_")))[0] + ".png"
    return plot.save_spectrogram(S_db, out, sr=sr, hop_length=hop, y_axis=y_axis, fmin=fmin, fmax=fmax, title=title,
                                 cbar_label="dB" if y_axis != "bins" else "value", figsize=figsize, dpi=dpi)
