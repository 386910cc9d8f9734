"""The features a conversion computes: each one's whole-signal function and its block stages."""

import inspect

import numpy as np

from ... import compat, feature
from ..._validate import ParameterError
from ...decibel import power_to_db
from ...feature.presets import quiet
from ...parameters import FEATURES, KINDS, MEL_PARAMS, STFT_PARAMS
from ...stft import Stft


class Feature:
    """One feature at one sample rate: its whole-signal function and block stages.

    The block stages exist when the feature is frame-local up to a global ``top_db`` clip.

    ``whole(y)`` is the library call. Block stages: ``frames(segment)`` on an already padded
    segment (centre padding done by the caller) gives unclipped rows; ``top_db`` clips at the
    global maximum; ``post`` (MFCC's DCT) maps clipped rows to the output.
    """

    def __init__(self, name, params, sr, dtype):
        # Built once per worker and sample rate: the transforms' warnings (empty mel bands...)
        # would repeat that often, so they are kept in ``notices``, which the run reports once.
        with quiet():
            self._build(name, params, sr, dtype)

    def _build(self, name, params, sr, dtype):
        self.dtype = np.dtype(dtype)
        p = dict(params)
        self.top_db, self.post, self.blockable, self.frame_axis = None, None, True, -1
        self.notices = ()  # the warnings of the transforms built, as text
        if name.startswith("seed-"):
            self._seed(name, p, sr)
        elif name in ("spectrogram", "logspec"):
            stft_kw = {k: p.pop(k) for k in STFT_PARAMS if k in p}
            tf = Stft(**stft_kw)
            tf_frames = Stft(**dict(stft_kw, center=False))
            if name == "spectrogram":
                power = p.pop("power", 1.0)
                self.whole = lambda y: tf.spectrogram(y, power=power, dtype=self.dtype)
                self.frames = lambda seg: tf_frames.spectrogram(seg, power=power, dtype=self.dtype)
            else:
                amin = p.pop("amin", 1e-10)
                self.top_db = p.pop("top_db", 80.0)
                top_db = self.top_db
                self.whole = lambda y: power_to_db(tf.spectrogram(y, power=2.0, dtype=self.dtype), amin=amin,
                                                   top_db=top_db)
                self.frames = lambda seg: power_to_db(tf_frames.spectrogram(seg, power=2.0, dtype=self.dtype),
                                                      amin=amin, top_db=None)
            self.stft = tf
        elif name == "mfcc":
            transform = feature.MFCC(sr=sr, **p)
            self.whole = lambda y: transform(y, dtype=self.dtype)
            self.blockable, self.top_db = transform.frame_local, transform.top_db
            # The blocks: log-mel rows unclipped, the whole file's clip, then the DCT.
            mel_kw = {k: v for k, v in p.items() if k in MEL_PARAMS + ("amin",)}
            if "mel_norm" in p:
                mel_kw["norm"] = p["mel_norm"]
            mel_frames = feature.MelSpectrogram(sr=sr, log="db", top_db=None, **dict(mel_kw, center=False))
            self.post = transform.from_log_mel
            self.stft = transform.mel.stft
            self.notices = tuple(dict.fromkeys(transform.notices + mel_frames.notices))
            self.frames = lambda seg: mel_frames(seg, dtype=self.dtype)
        else:
            log = "db" if name == "logmel" else None
            mel = feature.MelSpectrogram(sr=sr, log=log, **p)
            self.whole = lambda y: mel(y, dtype=self.dtype)
            self.blockable, self.top_db = mel.frame_local, mel.top_db if log else None
            mel_frames = feature.MelSpectrogram(sr=sr, log=log, **dict(p, center=False, top_db=None))
            self.stft = mel.stft
            self.notices = tuple(dict.fromkeys(mel.notices + mel_frames.notices))
            self.frames = lambda seg: mel_frames(seg, dtype=self.dtype)
        if not name.startswith("seed-"):
            self.n_fft, self.hop_length = self.stft.n_fft, self.stft.hop_length


    def _seed(self, name, p, sr):
        """Set up the seed notebook's features (fastspec.compat), on whole signals only.

        Their normalisation (``pretty_spectrogram``) and time zoom (``make_mel``) are global. The
        signal is taken to float64 as the notebook does (``compat`` computes in float64).
        """
        self.blockable = False
        pretty_kw = {k: p[k] for k in ("log", "thresh", "fft_size", "step_size") if k in p}
        self.n_fft, self.hop_length = int(p.get("fft_size", 512)), int(p.get("step_size", 64))
        if name == "seed-pretty":
            def one(y):  # stored as (n_bins, n_frames), as every feature: the notebook's array transposed
                return compat.pretty_spectrogram(y, **pretty_kw).T
        else:
            filter_kw = {k: p[k] for k in ("n_freq_components", "start_freq", "end_freq") if k in p}
            with np.errstate(divide="ignore", invalid="ignore"):  # empty bands: 0 / 0, checked below
                mel_filter, _ = compat.create_mel_filter(self.n_fft, samplerate=sr, **filter_kw)
            if not np.all(np.isfinite(mel_filter)):
                raise ParameterError(f"at {sr:g} Hz, fft_size={self.n_fft} leaves some of the "
                                     f"{filter_kw.get('n_freq_components', 64)} mel bands without an FFT bin "
                                     "(the seed's filter is then NaN); raise fft_size (--fft-size 2048) or lower "
                                     "n_freq_components")
            shorten = p.get("shorten_factor", 1)
            self.hop_length = int(round(self.hop_length * shorten))

            def one(y):
                return compat.make_mel(compat.pretty_spectrogram(y, log=True, **pretty_kw), mel_filter,
                                       shorten_factor=shorten)

        # The notebook's float64 arithmetic, stored in the job's dtype.
        self.whole = lambda y: np.ascontiguousarray(
            (one(y) if y.ndim == 1 else np.stack([one(channel) for channel in y])).astype(self.dtype))

    def n_frames(self, n_samples):
        """Frames the whole-signal feature has for ``n_samples``."""
        return self.stft.n_frames(n_samples)

    def empty(self, lead):
        """The feature of a signal with no samples: zero frames, the bins and leading axes kept."""
        probe = self.whole(np.full(lead + (4 * self.n_fft,), 0.1, dtype=self.dtype)
                           * np.hanning(4 * self.n_fft).astype(self.dtype))
        return np.take(probe, np.arange(0), axis=self.frame_axis)


# Where each feature's defaults come from: the signatures of the calls it makes (``PRESET``
# defaults then from the preset), and the adapter's own defaults where it calls no constructor.
_SOURCES = {
    "spectrogram": (Stft,), "logspec": (Stft,), "mel": (feature.MelSpectrogram,),
    "logmel": (feature.MelSpectrogram,), "mfcc": (feature.MFCC,), "seed-pretty": (compat.pretty_spectrogram,),
    "seed-mel": (compat.pretty_spectrogram, compat.create_mel_filter, compat.make_mel),
}
_OWN_DEFAULTS = {"spectrogram": {"power": 1.0}, "logspec": {"amin": 1e-10, "top_db": 80.0}}
_PRESET_KEYS = {"mfcc": {"top_db": "mfcc_top_db", "mel_norm": "norm"}}  # MFCC keyword -> PRESETS key


def resolved_params(name, params):
    """Every parameter of feature ``name``: ``params`` with the defaults filled in, normalised by kind.

    So ``n_mels=128`` given and left out (librosa's default) are the same job, and ``fmin=0``
    and ``fmin=0.0`` too. Defaults are those of the calls the feature makes (the preset's for
    ``PRESET`` defaults).
    """
    check_params(name, params)
    defaults = dict(_OWN_DEFAULTS.get(name, {}))
    for source in _SOURCES[name]:
        for key, p in inspect.signature(source).parameters.items():
            if p.default is not p.empty:
                defaults.setdefault(key, p.default)
    preset = params.get("preset", defaults.get("preset"))
    values = {}
    for key in FEATURES[name]:
        value = params[key] if key in params else defaults[key]
        if value is feature.PRESET:
            value = feature.PRESETS[preset][_PRESET_KEYS.get(name, {}).get(key, key)]
        values[key] = _normalised(value, KINDS[key])
    # The framing's own None defaults, where they do not depend on the sample rate.
    if "win_length" in values and values["win_length"] is None and values.get("preset", "librosa") == "librosa":
        values["win_length"] = values["n_fft"]
    if name in ("spectrogram", "logspec") and values["hop_length"] is None and isinstance(values["win_length"], int):
        values["hop_length"] = max(1, values["win_length"] // 4)
    return values


def _normalised(value, kind):
    """``value`` in the one spelling of its kind (ints as int, floats as float), when it has one."""
    if value is None or (isinstance(value, (bool, np.bool_)) and kind != "bool"):
        return value
    try:
        if kind == "int" and float(value).is_integer():
            return int(value)
        if kind in ("float", "float?"):
            return float(value)
        if kind == "norm" and not isinstance(value, str):
            return float(value)
        if kind == "bool":
            return bool(value)
    except (TypeError, ValueError):
        pass  # left for the library call to reject, with its message
    return value


def check_params(name, params):
    """Raise ParameterError for an unknown feature ``name`` or a parameter it does not take."""
    if name not in FEATURES:
        raise ParameterError(f"feature={name!r} must be one of {', '.join(map(repr, FEATURES))}")
    unknown = sorted(set(params) - set(FEATURES[name]))
    if unknown:
        raise ParameterError(f"feature={name!r} takes no parameter {', '.join(unknown)}; "
                             f"it takes {', '.join(FEATURES[name])}")

