"""fastspec.psf against python_speech_features itself: same shapes, dtypes and numbers."""

import numpy as np
import pytest

import fastspec
from fastspec import ParameterError, psf

P = pytest.importorskip("python_speech_features")

SPEECH = fastspec.data.speech(16000, 2.0, seed=4)
PCM = (SPEECH * 20000).astype(np.int16)  # as psf users pass it: integer samples, unscaled


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("signal", [PCM, SPEECH.astype(np.float64), SPEECH], ids=["int16", "float64", "float32"])
@pytest.mark.parametrize("name, kwargs", [
    ("mfcc", {}), ("mfcc", {"nfft": 1024, "winfunc": np.hamming, "numcep": 20, "nfilt": 40}),
    ("mfcc", {"samplerate": 8000, "nfft": 256, "appendEnergy": False, "ceplifter": 0, "preemph": 0}),
    ("mfcc", {"winlen": 0.04, "nfft": 512}),  # frames longer than nfft: truncated, as psf does (with a warning)
    ("fbank", {}), ("fbank", {"lowfreq": 300, "highfreq": 6000}), ("logfbank", {}), ("ssc", {}),
    ("ssc", {"winfunc": np.hanning, "nfilt": 20}),
])
def test_same_numbers_as_python_speech_features(signal, name, kwargs):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = getattr(psf, name)(signal, **kwargs)
        theirs = getattr(P, name)(signal, **kwargs)
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,),
                    strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype == np.float64
        assert _rel(a, b) < 1e-12, _rel(a, b)


@pytest.mark.parametrize("N", [1, 2, 5])
def test_delta_as_psf(N):
    feat = P.mfcc(PCM)
    np.testing.assert_allclose(psf.delta(feat, N), P.delta(feat, N), rtol=0, atol=1e-12)
    with pytest.raises(ParameterError, match="N=0"):
        psf.delta(feat, 0)


def test_nfft_none_fits_the_frame():
    a = psf.mfcc(PCM, winlen=0.04, nfft=None)  # 640 samples: a 1024-point FFT, no truncation
    np.testing.assert_allclose(a, P.mfcc(PCM, winlen=0.04, nfft=1024), rtol=1e-12, atol=1e-9)


def test_signatures_match():
    import inspect

    for name in ("mfcc", "fbank", "logfbank", "ssc", "delta"):
        ours, theirs = inspect.signature(getattr(psf, name)), inspect.signature(getattr(P, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for key, p in theirs.parameters.items():
            if key != "winfunc":
                assert ours.parameters[key].default == p.default, (name, key)
