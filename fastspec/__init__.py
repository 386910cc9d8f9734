"""fastspec: spectrograms, mel features and their inversion, fast and checked against references."""

from . import data, feature, filters
from ._config import (
    config,
    get_num_threads,
    set_num_threads,
    set_plan_cache_size,
    set_planner_effort,
    set_reproducible,
)
from ._engine import clear_plan_cache
from ._fft import export_wisdom, import_wisdom
from ._validate import ParameterError
from .decibel import amplitude_to_db, db_to_amplitude, db_to_power, power_to_db
from .feature import MFCC, MelSpectrogram, delta, melspectrogram, mfcc
from .inverse import mel_to_audio, mel_to_stft, mfcc_to_audio, mfcc_to_mel
from .phase import griffin_lim, pghi, spectral_convergence
from .stft import Stft, istft, spectrogram, stft
from .streaming import StreamingIstft, StreamingMelSpectrogram, StreamingMFCC, StreamingPghi, StreamingStft
from .warmup import warm_up

__version__ = "0.1.0"

__all__ = [
    "MFCC", "MelSpectrogram", "ParameterError", "Stft", "amplitude_to_db", "config", "data", "delta", "feature",
    "filters",
    "griffin_lim", "mel_to_audio", "mel_to_stft", "melspectrogram", "mfcc", "mfcc_to_audio", "mfcc_to_mel", "pghi",
    "pretty_to_audio", "spectral_convergence", "patch_librosa", "unpatch_librosa", "librosa_patched",
    "clear_plan_cache", "db_to_amplitude",
    "db_to_power", "export_wisdom", "get_num_threads", "import_wisdom", "istft", "power_to_db",
    "set_num_threads", "set_plan_cache_size", "set_planner_effort", "set_reproducible",
    "spectrogram", "stft", "StreamingIstft", "StreamingMelSpectrogram", "StreamingMFCC", "StreamingPghi",
    "StreamingStft", "warm_up", "open_features",
]


_LAZY = {"pretty_to_audio": "compat.upgrade", "patch_librosa": "dropin", "unpatch_librosa": "dropin",
         "librosa_patched": "dropin", "open_features": "store"}


def __getattr__(name):
    # Imported on first use: the seed upgrade lives with the notebook API (fastspec.compat) and
    # its kernels, the librosa drop-in with librosa, the feature stores' reader with its layouts;
    # import fastspec needs none of them.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
