"""The feature parameters, in one table: what each means, its kind, and which features take it.

The batch converter (:data:`FEATURES`: the keywords each feature accepts), the ``fastspec
convert`` flags (spelled ``--n-fft`` for ``n_fft``, parsed by ``kind``) and the Python API read
this table; ``tests/test_layout.py`` checks that the signatures of :class:`fastspec.Stft`,
:class:`fastspec.MelSpectrogram`, :class:`fastspec.MFCC` and the seed functions in
:mod:`fastspec.compat` take exactly the parameters listed here for their feature. Each name has
the meaning of the library keyword it is: ``norm`` is the mel filter norm of ``mel`` and
``logmel`` and the DCT norm of ``mfcc``, as in librosa.

Kinds: ``"int"``, ``"float"``, ``"str"``, ``"bool"``; ``"float?"`` also takes ``none`` (None);
``"norm"`` is a number, a name or ``none``.
"""

from typing import NamedTuple


class Parameter(NamedTuple):
    """One feature parameter: its keyword, kind, one-line meaning, and the features taking it."""

    name: str
    kind: str
    help: str
    features: tuple


_STFT = ("spectrogram", "logspec", "mel", "logmel", "mfcc")
_MEL = ("mel", "logmel", "mfcc")
_SEED = ("seed-pretty", "seed-mel")

PARAMETERS = (
    Parameter("n_fft", "int", "FFT length", _STFT),
    Parameter("hop_length", "int", "samples between frames", _STFT),
    Parameter("win_length", "int", "window length (<= n_fft)", _STFT),
    Parameter("window", "str", "window name, e.g. hann", _STFT),
    Parameter("center", "bool", "centre frames (pad n_fft // 2 at both ends)", _STFT),
    Parameter("pad_mode", "str", "padding when centred: constant, reflect, edge", _STFT),
    Parameter("power", "float", "exponent of the magnitude (1: magnitude, 2: power)", ("spectrogram",) + _MEL),
    Parameter("n_mels", "int", "mel bands", _MEL),
    Parameter("fmin", "float", "lowest mel frequency (Hz)", _MEL),
    Parameter("fmax", "float?", "highest mel frequency (Hz)", _MEL),
    Parameter("htk", "bool", "HTK mel scale", _MEL),
    Parameter("preemphasis", "float", "pre-emphasis coefficient", _MEL),
    Parameter("preset", "str", "librosa, torchaudio or psf defaults", _MEL),
    Parameter("norm", "norm", "mel filter norm (mel, logmel) or DCT norm (mfcc); 'none' for none", _MEL),
    Parameter("amin", "float", "floor before the logarithm", ("logspec", "logmel", "mfcc")),
    Parameter("top_db", "float?", "dynamic range kept in dB ('none': no clipping)", ("logspec", "logmel", "mfcc")),
    Parameter("n_mfcc", "int", "MFCC coefficients", ("mfcc",)),
    Parameter("dct_type", "int", "DCT type (1, 2, 3)", ("mfcc",)),
    Parameter("lifter", "float", "cepstral lifter", ("mfcc",)),
    Parameter("mel_norm", "norm", "mel filter norm for mfcc", ("mfcc",)),
    Parameter("append_energy", "bool", "replace c0 by the log frame energy (mfcc)", ("mfcc",)),
    Parameter("fft_size", "int", "seed features: frame and FFT length", _SEED),
    Parameter("step_size", "int", "seed features: hop", _SEED),
    Parameter("log", "bool", "seed-pretty: log scale", ("seed-pretty",)),
    Parameter("thresh", "float", "seed features: floor", _SEED),
    Parameter("n_freq_components", "int", "seed-mel: mel bands", ("seed-mel",)),
    Parameter("start_freq", "float", "seed-mel: lowest frequency (Hz)", ("seed-mel",)),
    Parameter("end_freq", "float", "seed-mel: highest frequency (Hz)", ("seed-mel",)),
    Parameter("shorten_factor", "float", "seed-mel: time zoom-out factor", ("seed-mel",)),
)

KINDS = {p.name: p.kind for p in PARAMETERS}
"""Each parameter's kind."""

FEATURE_NAMES = ("spectrogram", "logspec", "mel", "logmel", "mfcc") + _SEED

FEATURES = {feature: tuple(p.name for p in PARAMETERS if feature in p.features) for feature in FEATURE_NAMES}
"""Feature names and the keyword parameters each accepts (those of the library function)."""

STFT_PARAMS = FEATURES["spectrogram"][:-1]
"""The parameters of :class:`fastspec.Stft` (``power`` excluded)."""

MEL_PARAMS = tuple(name for name in FEATURES["mel"] if name != "norm")
"""The parameters the mel features share (the filter ``norm`` is ``mel_norm`` for MFCCs)."""
