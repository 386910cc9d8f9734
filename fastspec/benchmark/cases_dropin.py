"""Benchmark cases for the librosa drop-in: librosa's own calls, patched (``fastspec``) and not (``librosa``).

The patched column runs each call inside :func:`fastspec.librosa_patched` (a few dozen attribute
sets on entry and exit), so the rest of the registry's librosa anchors stay librosa's own.
"""

import numpy as np

from .cases_feature import recording
from .registry import Case, has_module, register

SR = 22050


def _case(label, call, seconds, quick, tol=1e-4):
    def setup():
        import librosa

        from ..dropin import librosa_patched

        y = recording("speech", SR, seconds)

        def patched():
            with librosa_patched():
                return call(librosa, y)

        return {"fastspec": patched, "librosa": lambda: call(librosa, y)}

    def check(name, ours, theirs):
        assert ours.shape == np.shape(theirs) and ours.dtype == np.asarray(theirs).dtype, name
        if tol is None:  # another NNLS solver: same shapes and dtypes, numbers compared by the tests' quality check
            return
        ours, theirs = np.asarray(ours, np.complex128), np.asarray(theirs, np.complex128)
        err = float(np.max(np.abs(ours - theirs)) / max(float(np.max(np.abs(theirs))), 1e-30))
        assert err <= tol, f"{name}: relative error {err:.3g}"

    register(Case(f"librosa patched: {label} {seconds:g} s 22.05 kHz float32", "dropin", setup, check, quick))


if has_module("librosa"):
    _case("stft", lambda lr, y: lr.stft(y), 60.0, True)
    _case("feature.melspectrogram", lambda lr, y: lr.feature.melspectrogram(y=y, sr=SR), 60.0, True)
    _case("feature.mfcc", lambda lr, y: lr.feature.mfcc(y=y, sr=SR), 60.0, True)
    _case("feature.chroma_stft", lambda lr, y: lr.feature.chroma_stft(y=y, sr=SR), 60.0, True)
    _case("feature.spectral_centroid", lambda lr, y: lr.feature.spectral_centroid(y=y, sr=SR), 60.0, False)
    _case("onset.onset_strength", lambda lr, y: lr.onset.onset_strength(y=y, sr=SR), 60.0, False)
    _case("griffinlim 32 it", lambda lr, y: lr.griffinlim(np.abs(lr.stft(y)), random_state=0), 60.0, False,
          tol=1e-2)  # librosa's random start, then 32 float32 iterations: rounding grows to ~2e-3
    _case("feature.inverse.mel_to_audio 32 it", lambda lr, y: lr.feature.inverse.mel_to_audio(
        lr.feature.melspectrogram(y=y, sr=SR), sr=SR), 60.0, False, tol=None)
