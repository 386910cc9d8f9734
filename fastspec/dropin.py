"""Drop-in acceleration of existing librosa code: ``fastspec.patch_librosa()``.

Patching replaces librosa's spectral core (``stft``, ``istft``, ``griffinlim``, the four dB
conversions, ``feature.melspectrogram``, ``feature.mfcc``, ``feature.delta``, ``filters.mel`` and
``feature.inverse``'s four functions) in every librosa module that holds them, so librosa's own
higher-level functions that compute a spectrogram (``chroma_stft``, ``spectral_centroid``,
``onset_strength``, ...) run on fastspec too; ``estimate_tuning`` (``chroma_stft``'s pitch
tracking) is replaced as well, with the same values to the bit.

Each patched function has librosa's signature and defaults (it is ``functools.wraps`` of the
original). It takes fastspec's path only for the arguments fastspec computes as librosa does:
anything else (``out=``, ``pad_mode="empty"``, callables librosa alone knows,
inputs librosa warns about, scalars) and any input fastspec refuses go to librosa's original
function, which then gives librosa's own result, warnings and exceptions. Results agree with
librosa's to floating-point rounding; ``mel_to_stft``/``mel_to_audio`` solve librosa's
non-negative least squares with another solver (accelerated projected gradient, not L-BFGS-B),
so they agree in spectral convergence rather than digit for digit.

librosa stays optional: ``import fastspec`` never imports it.
"""

import contextlib
import functools
import importlib
import inspect
import pkgutil
import sys
import threading

import numpy as np

from ._validate import ParameterError

__all__ = ["librosa_patched", "patch_librosa", "unpatch_librosa"]

_FALLBACK = object()  # an adapter's answer: librosa's original computes this call
_PAD_MODES = ("constant", "reflect", "edge")  # what fastspec iterates with (griffinlim, mel_to_audio)
_STFT_PAD_MODES = ("constant", "reflect", "edge", "symmetric", "linear_ramp")  # librosa's, but "empty"
_lock = threading.Lock()
_found = []  # (module, attribute, original, replacement) for every namespace, found on the first patch
_patched = []  # those in place now


def _float_array(x):
    return isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64)


def _window_ok(window):
    return isinstance(window, (str, tuple)) or (isinstance(window, np.ndarray) and window.ndim == 1)


def _natural_complex(y, dtype):
    # librosa's default output dtype for a real input, and whether an explicit one matches it.
    natural = np.complex64 if y.dtype == np.float32 else np.complex128
    return dtype is None or np.dtype(dtype) == natural


def _stft(a):
    import fastspec

    y = a["y"]
    if (not _float_array(y) or a["out"] is not None or a["pad_mode"] not in _STFT_PAD_MODES
            or not _window_ok(a["window"]) or not _natural_complex(y, a["dtype"])
            or a["n_fft"] > y.shape[-1]):  # librosa warns there
        return _FALLBACK
    # librosa windows and transforms float32 frames in float64 and rounds the result once: so do we,
    # or bins far below the peak lose their relative precision (2% at 1e-5 of it).
    return fastspec.stft(y, n_fft=a["n_fft"], hop_length=a["hop_length"],
                         win_length=a["win_length"], window=a["window"], center=a["center"],
                         pad_mode=a["pad_mode"], precision=np.float64)


def _istft(a):
    import fastspec

    S = a["stft_matrix"]
    if (not isinstance(S, np.ndarray) or S.dtype not in (np.complex64, np.complex128) or a["out"] is not None
            or not _window_ok(a["window"])):
        return _FALLBACK
    real = np.float32 if S.dtype == np.complex64 else np.float64
    if a["dtype"] is not None and np.dtype(a["dtype"]) != real:
        return _FALLBACK
    return fastspec.istft(S, hop_length=a["hop_length"], win_length=a["win_length"], n_fft=a["n_fft"],
                          window=a["window"], center=a["center"], length=a["length"])


def _librosa_rng(random_state):
    # librosa's rule: None -> numpy's global RandomState, an int -> RandomState(seed).
    if random_state is None:
        return np.random
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return np.random.RandomState(seed=random_state)
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    return None


def _griffinlim(a):
    import fastspec

    S = a["S"]
    rng = _librosa_rng(a["random_state"])
    if (not _float_array(S) or a["init"] not in ("random", None) or a["pad_mode"] not in _PAD_MODES
            or not _window_ok(a["window"]) or rng is None or not 0 <= a["momentum"] <= 1
            or (a["dtype"] is not None and np.dtype(a["dtype"]) != S.dtype)):  # librosa's: the signal's dtype
        return _FALLBACK  # momentum > 1 warns in librosa; the rest is librosa's alone
    if a["init"] == "random":
        init = np.exp(2j * np.pi * rng.random(size=S.shape))  # librosa's draw, in its order
    else:
        init = "zeros"  # librosa's init=None: phase 0
    return fastspec.griffin_lim(S, n_iter=a["n_iter"], hop_length=a["hop_length"], win_length=a["win_length"],
                                n_fft=a["n_fft"], window=a["window"], center=a["center"], length=a["length"],
                                pad_mode=a["pad_mode"], momentum=a["momentum"], init=init)


def _db(name):
    def adapter(a):
        import fastspec

        S = a["S"] if "S" in a else a["S_db"]
        if not isinstance(S, np.ndarray) or S.dtype.kind not in "f" or S.ndim == 0:
            return _FALLBACK  # complex input warns in librosa; scalars come back as numpy scalars
        kwargs = {k: v for k, v in a.items() if k not in ("S", "S_db")}
        return getattr(fastspec, name)(S, **kwargs)

    return adapter


_MEL_KEYS = {"n_mels", "fmin", "fmax", "htk", "norm"}


def _stft_args_ok(a):
    return a["pad_mode"] in _STFT_PAD_MODES and _window_ok(a["window"])


def _melspectrogram(a):
    import fastspec

    kwargs = a["kwargs"]
    y, S = a["y"], a["S"]
    if (set(kwargs) - _MEL_KEYS or not _stft_args_ok(a) or (y is None) == (S is None)
            or not _float_array(y if S is None else S) or (y is not None and a["n_fft"] > y.shape[-1])):
        return _FALLBACK
    return fastspec.melspectrogram(y=y, S=S, sr=a["sr"], n_fft=a["n_fft"], hop_length=a["hop_length"],
                                   win_length=a["win_length"], window=a["window"], center=a["center"],
                                   pad_mode=a["pad_mode"], power=a["power"], **kwargs)


def _mfcc(a):
    import fastspec

    kwargs = dict(a["kwargs"])
    y, S = a["y"], a["S"]
    stft_keys = {"n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "power"}
    # mfcc's own norm is the DCT's (its filter norm is mel_norm), so kwargs never hold one.
    if set(kwargs) - (_MEL_KEYS - {"norm"}) - stft_keys or (y is None) == (S is None):
        return _FALLBACK
    if not _float_array(y if S is None else S) or kwargs.get("pad_mode", "constant") not in _STFT_PAD_MODES:
        return _FALLBACK
    if not _window_ok(kwargs.get("window", "hann")) or (y is not None and kwargs.get("n_fft", 2048) > y.shape[-1]):
        return _FALLBACK
    kwargs.setdefault("hop_length", 512)  # librosa's melspectrogram default
    if S is not None:
        return fastspec.mfcc(S=S, n_mfcc=a["n_mfcc"], dct_type=a["dct_type"], norm=a["norm"], lifter=a["lifter"])
    return fastspec.mfcc(y=y, sr=a["sr"], n_mfcc=a["n_mfcc"], dct_type=a["dct_type"], norm=a["norm"],
                         lifter=a["lifter"], mel_norm=a["mel_norm"], **kwargs)


def _delta(a):
    import fastspec

    if a["kwargs"] or not isinstance(a["data"], np.ndarray):
        return _FALLBACK
    return fastspec.delta(a["data"], width=a["width"], order=a["order"], axis=a["axis"], mode=a["mode"])


def _filters_mel(a):
    from . import filters

    if np.dtype(a["dtype"]) not in (np.float32, np.float64):
        return _FALLBACK
    basis = filters.mel(a["sr"], a["n_fft"], n_mels=a["n_mels"], fmin=a["fmin"], fmax=a["fmax"], htk=a["htk"],
                        norm=a["norm"], dtype=a["dtype"])
    return np.array(basis)  # librosa's is a fresh, writable array; fastspec's is cached read-only


def _inverse(name):
    def adapter(a):
        from . import inverse

        kwargs = dict(a.pop("kwargs", {}))
        out_dtype = None
        first = a.pop("M" if "M" in a else "mfcc")
        if not _float_array(first):
            return _FALLBACK
        a.update(kwargs)
        if name in ("mel_to_audio", "mfcc_to_audio"):
            if a.get("pad_mode", "constant") not in _PAD_MODES or not _window_ok(a.get("window", "hann")):
                return _FALLBACK
            a.setdefault("init", "random")
            if "random_state" in a:
                a["rng"] = _librosa_rng(a.pop("random_state"))
            out_dtype = np.dtype(a.pop("dtype", np.float32))  # librosa's output dtype, float32 by default
        known = inspect.signature(getattr(inverse, name)).parameters
        if name == "mfcc_to_audio":
            known = set(known) | set(inspect.signature(inverse.mel_to_audio).parameters)
        if set(a) - set(known):
            return _FALLBACK
        result = getattr(inverse, name)(first, **a)
        return result.astype(out_dtype, copy=False) if name.endswith("_audio") else result

    return adapter


_PIPTRACK_KEYS = {"hop_length", "fmin", "fmax", "threshold", "win_length", "window", "center", "pad_mode"}


def _estimate_tuning(a):
    # chroma_stft's tuning estimate: librosa's piptrack -> median -> pitch_tuning, with the dense
    # piptrack arrays replaced by one pass that keeps only the peaks (the same values, see
    # fastspec._kernels.pitch). 60 s at 22.05 kHz: librosa's piptrack takes 3/4 of chroma_stft.
    import librosa

    from ._kernels import pitch as kernels
    from ._validate import all_finite

    kwargs = a["kwargs"]
    if set(kwargs) - _PIPTRACK_KEYS or not all(np.isreal(kwargs.get(k, 0)) for k in ("fmin", "fmax", "threshold")):
        return _FALLBACK
    if a["S"] is None:
        if not _float_array(a["y"]) or not _stft_args_ok({"pad_mode": "constant", "window": "hann", **kwargs}):
            return _FALLBACK
        spec = {k: v for k, v in kwargs.items() if k not in ("fmin", "fmax", "threshold")}
        S, n_fft = librosa.core.spectrum._spectrogram(y=a["y"], n_fft=a["n_fft"], power=1, **spec)
    else:
        S = a["S"]
        if not _float_array(S) or any(k not in ("fmin", "fmax", "threshold") for k in kwargs):
            return _FALLBACK
        n_fft = 2 * (S.shape[-2] - 1)
    S = np.abs(S)
    if S.ndim < 2 or S.shape[-2] < 3 or S.size == 0 or not all_finite(S):
        return _FALLBACK  # librosa's edge cases (np.gradient's minimum, NaN maxima) stay librosa's
    sr = float(a["sr"])
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    in_range = ((np.maximum(kwargs.get("fmin", 150.0), 0) <= freqs)
                & (freqs < np.minimum(kwargs.get("fmax", 4000.0), sr / 2)))
    threshold = S.dtype.type(kwargs.get("threshold", 0.1))
    frames = S.reshape((-1,) + S.shape[-2:])
    pitches, mags = [], []
    for item in frames:
        p = np.empty(item.shape[1] * (item.shape[0] // 2 + 1), dtype=S.dtype)
        m = np.empty_like(p)
        n = kernels.peak_candidates(item, in_range, threshold, sr, n_fft, p, m)
        pitches.append(p[:n])
        mags.append(m[:n])
    pitch, mag = np.concatenate(pitches), np.concatenate(mags)
    voiced = pitch > 0
    threshold = np.median(mag[voiced]) if voiced.any() else 0.0
    return librosa.core.pitch.pitch_tuning(pitch[(mag >= threshold) & voiced], resolution=a["resolution"],
                                           bins_per_octave=a["bins_per_octave"])


_ADAPTERS = {
    "stft": _stft, "istft": _istft, "griffinlim": _griffinlim,
    "power_to_db": _db("power_to_db"), "amplitude_to_db": _db("amplitude_to_db"),
    "db_to_power": _db("db_to_power"), "db_to_amplitude": _db("db_to_amplitude"),
    "feature.melspectrogram": _melspectrogram, "feature.mfcc": _mfcc, "feature.delta": _delta,
    "filters.mel": _filters_mel,
    "feature.inverse.mel_to_stft": _inverse("mel_to_stft"), "feature.inverse.mel_to_audio": _inverse("mel_to_audio"),
    "feature.inverse.mfcc_to_mel": _inverse("mfcc_to_mel"), "feature.inverse.mfcc_to_audio": _inverse("mfcc_to_audio"),
    "estimate_tuning": _estimate_tuning,
}
"""librosa's public name -> the adapter that computes it on fastspec (or says it cannot)."""


def _accelerated(original, adapter):
    signature = inspect.signature(original)

    @functools.wraps(original)
    def patched(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return original(*args, **kwargs)  # librosa's own TypeError
        bound.apply_defaults()
        try:
            result = adapter(dict(bound.arguments))
        except ParameterError:
            result = _FALLBACK  # librosa decides: its result, or its own exception and message
        return original(*args, **kwargs) if result is _FALLBACK else result

    patched.__fastspec_original__ = original
    return patched


def _librosa():
    try:
        import librosa
    except ImportError:
        raise ImportError("patch_librosa() needs librosa, which is not installed (pip install librosa); "
                          "fastspec's own API (fastspec.stft, fastspec.melspectrogram, ...) needs nothing more") \
            from None
    # Every submodule (once), so that each namespace holding one of the functions is found.
    if not _found:
        for info in pkgutil.walk_packages(librosa.__path__, "librosa."):
            if not info.name.startswith(("librosa.util.example", "librosa.display", "librosa._")):
                with contextlib.suppress(Exception):
                    importlib.import_module(info.name)
    return librosa


def _replacements(librosa):
    """``(module, attribute, original, replacement)`` for every librosa namespace, found once."""
    if not _found:
        for public, adapter in _ADAPTERS.items():
            original = functools.reduce(getattr, public.split("."), librosa)
            replacement = _accelerated(original, adapter)
            for module in list(sys.modules.values()):
                if getattr(module, "__name__", "").split(".")[0] != "librosa":
                    continue
                for name, value in list(vars(module).items()):
                    if value is original:
                        _found.append((module, name, original, replacement))
    return _found


def patch_librosa():
    """Make librosa's spectral core run on fastspec, in every librosa module that holds it.

    Idempotent; :func:`unpatch_librosa` restores librosa as it was. Thread-safe to call, but
    patching changes modules shared by the whole process: librosa calls made by other threads
    meanwhile run patched too.

    Returns
    -------
    list of str
        The names patched, e.g. ``"librosa.core.spectrum.stft"`` (one per namespace).

    Raises
    ------
    ImportError
        librosa is not installed.
    """
    with _lock:
        found = _replacements(_librosa())
        for module, name, _, replacement in found:
            setattr(module, name, replacement)
        _patched[:] = found
        return [f"{module.__name__}.{name}" for module, name, _, _ in found]


def unpatch_librosa():
    """Restore every function :func:`patch_librosa` replaced."""
    with _lock:
        for module, name, original, _ in _patched:
            setattr(module, name, original)
        _patched.clear()


@contextlib.contextmanager
def librosa_patched():
    """Context manager: librosa runs on fastspec inside, as it was outside (restored on exit)."""
    already = bool(_patched)
    patch_librosa()
    try:
        yield
    finally:
        if not already:
            unpatch_librosa()
