"""Mel spectrograms, MFCCs and deltas against librosa, python_speech_features, torch (when
importable) and the plain references in fastspec.reference.feature."""

import importlib.util
import math
import warnings

import numpy as np
import pytest

import fastspec
from fastspec import ParameterError, data, feature, filters
from fastspec._kernels import filterbank as kernels
from fastspec.feature import MFCC, MelSpectrogram
from fastspec.reference import feature as ref

from .conftest import assert_close

librosa = pytest.importorskip("librosa")
psf = pytest.importorskip("python_speech_features")
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")


def mfcc_scale(n_mfcc=20, n_mels=128, dct_type=2, norm="ortho", lifter=0.0):
    """How much a DCT basis (and lifter) magnifies errors relative to the ortho DCT-II (gain 1)."""
    basis = filters.dct(n_mfcc, n_mels, dct_type=dct_type, norm=norm, dtype=np.float64)
    return float(np.linalg.norm(basis, axis=1).max()) * (1.0 + lifter / 2)


def realistic(name, sr, seconds, snr_db=30.0, dtype=np.float32):
    """A deterministic example signal plus white noise ``snr_db`` below its RMS, as in a recording.

    Synthetic tones leave spectral valleys 80 dB under the frame's peak, where any float32 FFT
    (fastspec's, torch's) errs by ~1e-3 dB while librosa's float64 FFT does not.
    """
    y = data.signal(name, sr, seconds, dtype=np.float64)
    rms = np.sqrt(np.mean(y ** 2))
    noise = np.random.default_rng(7).standard_normal(y.size)
    return (y + rms * 10 ** (-snr_db / 20) * noise).astype(dtype)


# ----- filters.mel ---------------------------------------------------------------------------------
MEL_CASES = [
    dict(sr=22050, n_fft=2048),
    dict(sr=16000, n_fft=512, n_mels=40),
    dict(sr=44100, n_fft=4096, n_mels=96, fmin=50.0, fmax=15000.0),
    dict(sr=8000, n_fft=256, n_mels=32, fmin=100.0),
    dict(sr=48000, n_fft=1024, n_mels=64, fmax=20000.0),
    dict(sr=11025, n_fft=1023, n_mels=40),
]


@pytest.mark.parametrize("kw", MEL_CASES, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("norm", ["slaney", None, 1.0, np.inf])
def test_mel_equals_librosa(kw, htk, norm, dtype):
    ours = filters.mel(**kw, htk=htk, norm=norm, dtype=dtype)
    theirs = librosa.filters.mel(**kw, htk=htk, norm=norm, dtype=dtype)
    assert ours.dtype == theirs.dtype == dtype
    assert ours.shape == theirs.shape
    assert_close(ours, theirs, "mel_filters")


@pytest.mark.parametrize("kw", MEL_CASES[:4], ids=str)
@pytest.mark.parametrize("htk", [False, True])
def test_mel_matches_reference(kw, htk):
    ours = filters.mel(**kw, htk=htk, dtype=np.float64)
    expected = ref.mel_filterbank(kw["sr"], kw["n_fft"], kw.get("n_mels", 128), kw.get("fmin", 0.0), kw.get("fmax"),
                                  htk=htk)
    assert_close(ours, expected, "mel_filters")


def test_mel_scale_conversions_match_librosa():
    f = np.array([0.0, 20.0, 700.0, 999.9, 1000.0, 1000.1, 4000.0, 11025.0])
    for htk in (False, True):
        np.testing.assert_allclose(filters.hz_to_mel(f, htk=htk), librosa.hz_to_mel(f, htk=htk), rtol=1e-14)
        m = filters.hz_to_mel(f, htk=htk)
        np.testing.assert_allclose(filters.mel_to_hz(m, htk=htk), f, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(filters.mel_frequencies(40, fmin=30.0, fmax=8000.0, htk=htk),
                                   librosa.mel_frequencies(40, fmin=30.0, fmax=8000.0, htk=htk), rtol=1e-14)
    np.testing.assert_array_equal(filters.fft_frequencies(sr=16000, n_fft=400),
                                  librosa.fft_frequencies(sr=16000, n_fft=400))


@pytest.mark.parametrize("kw", [dict(sr=16000, n_fft=512, n_mels=26),
                                dict(sr=44100, n_fft=2048, n_mels=64, fmin=300.0, fmax=8000.0),
                                dict(sr=8000, n_fft=256, n_mels=20)], ids=str)
def test_psf_style_equals_python_speech_features(kw):
    from python_speech_features.base import get_filterbanks

    ours = filters.mel(kw["sr"], kw["n_fft"], n_mels=kw["n_mels"], fmin=kw.get("fmin", 0.0), fmax=kw.get("fmax"),
                       htk=True, norm=None, style="psf", dtype=np.float64)
    theirs = get_filterbanks(kw["n_mels"], kw["n_fft"], kw["sr"], kw.get("fmin", 0), kw.get("fmax"))
    np.testing.assert_array_equal(ours, theirs)
    expected = ref.psf_filterbank(kw["sr"], kw["n_fft"], kw["n_mels"], kw.get("fmin", 0.0), kw.get("fmax"))
    np.testing.assert_array_equal(ours, expected)
    assert ours.max() == 1.0


def test_torchaudio_style_uses_its_bin_grid():
    # Odd sr: torchaudio places bins on linspace(0, sr // 2), librosa on k * sr / n_fft.
    ours = filters.mel(11025, 1024, n_mels=40, htk=True, norm=None, style="torchaudio", dtype=np.float64)
    expected = ref.mel_filterbank(11025, 1024, 40, htk=True, norm=None, grid="torchaudio")
    assert_close(ours, expected, "mel_filters")
    assert np.abs(ours - filters.mel(11025, 1024, n_mels=40, htk=True, norm=None, dtype=np.float64)).max() > 1e-4


def test_filters_are_cached_and_read_only():
    a = filters.mel(22050, 2048)
    assert filters.mel(sr=22050, n_fft=2048) is a
    assert not a.flags.writeable
    d = filters.dct(20, 128)
    assert filters.dct(20, 128) is d and not d.flags.writeable
    assert filters.sparse_mel(22050, 2048) is filters.sparse_mel(22050, 2048)


@pytest.mark.parametrize("dct_type", [1, 2, 3])
@pytest.mark.parametrize("norm", ["ortho", None])
def test_dct_basis_matches_scipy(dct_type, norm):
    import scipy.fft

    x = np.random.default_rng(0).standard_normal((64, 9))
    np.testing.assert_allclose(filters.dct(13, 64, dct_type=dct_type, norm=norm, dtype=np.float64) @ x,
                               scipy.fft.dct(x, type=dct_type, norm=norm, axis=0)[:13], rtol=1e-12, atol=1e-12)


def test_empty_filters_warn_like_librosa():
    with pytest.warns(UserWarning, match="Empty filters detected"):
        librosa.filters.mel(sr=16000, n_fft=256, n_mels=128)
    for _ in range(2):  # every call warns, cached or not
        with pytest.warns(UserWarning, match="Empty filters detected"):
            filters.mel(16000, 256, n_mels=128)
    with pytest.warns(UserWarning, match="Empty filters detected"):
        feature.melspectrogram(data.noise(16000, 0.2), sr=16000, n_fft=256, hop_length=64, n_mels=128)
    with pytest.warns(UserWarning, match="Empty filters detected"):
        MelSpectrogram(sr=16000, n_fft=256, n_mels=128)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filters.mel(22050, 2048, n_mels=128)


# ----- the sparse filterbank ---------------------------------------------------------------------
def test_sparse_filterbank_round_trip_and_products(dtype):
    dense = filters.mel(22050, 2048, n_mels=128, dtype=dtype)
    fb = filters.SparseFilterbank(dense)
    assert fb.n_bands == 128 and fb.n_freq == 1025 and fb.dtype == dtype
    assert fb.weights.size < 0.02 * dense.size
    np.testing.assert_array_equal(fb.dense, dense)
    rng = np.random.default_rng(1)
    S = rng.random((2, 1025, 37)).astype(dtype)
    assert_close(fb.apply(S), np.einsum("mf,...ft->...mt", dense.astype(np.float64), S), "melspectrogram")
    M = rng.random((2, 128, 37)).astype(dtype)
    assert_close(fb.apply_transpose(M), np.einsum("mf,...mt->...ft", dense.astype(np.float64), M), "melspectrogram")
    # A float64 spectrogram through a float32 filterbank is computed in float64.
    assert filters.SparseFilterbank(dense.astype(np.float32)).apply(S.astype(np.float64)).dtype == np.float64


def test_sparse_filterbank_keeps_empty_bands_and_inner_zeros():
    dense = np.zeros((4, 10))
    dense[0, 2:5] = [1.0, 0.0, 2.0]
    dense[2, 9] = 3.0
    fb = filters.SparseFilterbank(dense)
    np.testing.assert_array_equal(np.diff(fb.offsets), [3, 0, 1, 0])
    np.testing.assert_array_equal(fb.dense, dense)
    S = np.arange(30.0).reshape(10, 3)
    np.testing.assert_allclose(fb.apply(S), dense @ S)
    with pytest.raises(fastspec.ParameterError, match="expected"):
        fb.apply(np.ones((9, 3)))


def test_power_filterbank_kernel_with_energy(dtype):
    rng = np.random.default_rng(2)
    cplx = np.result_type(dtype, np.complex64)
    spec = (rng.standard_normal((5, 257)) + 1j * rng.standard_normal((5, 257))).astype(cplx)
    fb = filters.sparse_mel(16000, 512, n_mels=26, htk=True, norm=None, style="psf", dtype=dtype)
    real = dtype.type
    for code, p in ((kernels.POWER_2, 2.0), (kernels.POWER_1, 1.0), (kernels.POWER_ANY, 1.5)):
        out = np.full((5, 27), np.nan, dtype=dtype)
        weights = (0.5 * fb.weights).astype(dtype)  # a constant factor on the spectrum rides on the weights
        kernels.power_filterbank(spec, code, real(p), fb.starts, fb.offsets, weights, 26, real(0.5), out)
        P = 0.5 * np.abs(spec.astype(np.complex128)) ** p
        assert_close(out[:, :26], P @ fb.dense.T.astype(np.float64), "melspectrogram")
        assert_close(out[:, 26], P.sum(axis=1), "melspectrogram")


# ----- melspectrogram --------------------------------------------------------------------------------
MELSPEC_CASES = [
    dict(),
    dict(n_fft=1024, hop_length=256, n_mels=64),
    dict(n_fft=512, hop_length=128, win_length=400, window="hamming", n_mels=40, fmin=60.0, fmax=7000.0),
    dict(center=False, power=1.0, htk=True, norm=None),
    dict(pad_mode="reflect", power=1.5, n_mels=96),
]


@pytest.mark.parametrize("kw", MELSPEC_CASES, ids=str)
@pytest.mark.parametrize("signal", ["music", "speech", "chirp"])
def test_melspectrogram_equals_librosa(kw, signal, dtype):
    y = data.signal(signal, 22050, 2.0, dtype=dtype)
    ours = feature.melspectrogram(y, sr=22050, **kw)
    theirs = librosa.feature.melspectrogram(y=y, sr=22050, **kw)
    assert ours.dtype == dtype
    assert_close(ours, theirs, "melspectrogram")


@pytest.mark.parametrize("kw", MELSPEC_CASES[:3], ids=str)
def test_melspectrogram_matches_reference(kw, dtype):
    y = data.signal("birdsong", 22050, 1.0, dtype=dtype)
    ours = feature.melspectrogram(y, sr=22050, **kw)
    mel_kw = {k: kw[k] for k in ("n_mels", "fmin", "fmax", "htk", "norm") if k in kw}
    stft_names = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "power")
    stft_kw = {k: kw[k] for k in stft_names if k in kw}
    basis = filters.mel(22050, kw.get("n_fft", 2048), **mel_kw).astype(np.float64)  # librosa's float32 weights
    assert_close(ours, ref.melspectrogram(y, sr=22050, mel_basis=basis, **stft_kw), "melspectrogram")


def test_melspectrogram_batched_and_layout(dtype):
    names = ("music", "speech", "noise", "chirp")
    y = np.stack([data.signal(n, 22050, 1.0, dtype=dtype) for n in names]).reshape(2, 2, -1)
    ours = feature.melspectrogram(y)
    assert ours.shape == (2, 2, 128, 44) and ours.dtype == dtype
    for i in range(2):
        for j in range(2):
            # Bit-equal: every item goes through the same plans, whichever thread computes it.
            np.testing.assert_array_equal(ours[i, j], feature.melspectrogram(y[i, j]))
    assert_close(ours, librosa.feature.melspectrogram(y=y), "melspectrogram")
    assert np.swapaxes(ours, -1, -2).flags.c_contiguous  # frames-major, as librosa's


def test_melspectrogram_db_equals_librosa_power_to_db(dtype):
    y = realistic("speech", 22050, 2.0, dtype=dtype)
    ours = feature.melspectrogram(y, log="db")
    theirs = librosa.power_to_db(librosa.feature.melspectrogram(y=y))
    assert_close(ours, theirs, "log_mel", scale=1.0)
    ours = feature.melspectrogram(y, log="db", ref=0.5, amin=1e-6, top_db=None)
    theirs = librosa.power_to_db(librosa.feature.melspectrogram(y=y), ref=0.5, amin=1e-6, top_db=None)
    assert_close(ours, theirs, "log_mel", scale=1.0)
    # librosa clips at top_db below the maximum of the whole (batched) array.
    Y = np.stack([y, 1e-3 * y])
    assert_close(feature.melspectrogram(Y, log="db"), librosa.power_to_db(librosa.feature.melspectrogram(y=Y)),
                 "log_mel", scale=1.0)


def test_melspectrogram_from_spectrogram(dtype):
    y = data.music(22050, 1.0, dtype=dtype)
    S = np.abs(librosa.stft(y, n_fft=1024, hop_length=256)) ** 2
    ours = feature.melspectrogram(S=S, n_mels=64)
    assert ours.dtype == dtype
    assert_close(ours, librosa.feature.melspectrogram(S=S, n_mels=64), "melspectrogram")
    assert_close(feature.melspectrogram(S=np.ascontiguousarray(S), n_mels=64), ours, "melspectrogram")


def test_reusable_object_equals_function_and_leaves_input_alone(dtype):
    y = data.speech(22050, 1.0, dtype=dtype)
    y.flags.writeable = False
    before = y.copy()
    mel = MelSpectrogram(n_mels=64, log="db")
    np.testing.assert_array_equal(mel(y), feature.melspectrogram(y, n_mels=64, log="db"))
    np.testing.assert_array_equal(y, before)
    assert mel.n_frames(y.size) == mel(y).shape[-1] == 44
    assert mel.filterbank.shape == (64, 1025) and mel.sparse_filterbank.n_bands == 64
    assert mel(y.astype(np.float64) if dtype == np.float32 else y, dtype=np.float32).dtype == np.float32


def test_no_power_spectrogram_is_materialised():
    import tracemalloc

    y = data.music(22050, 30.0)
    mel = MelSpectrogram(log="db")
    mel(y)  # plans and filterbank built outside the measurement
    tracemalloc.start()
    out = mel(y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    power_bytes = 1025 * out.shape[-1] * 4  # what |STFT|**2 alone would take
    assert peak < out.nbytes + power_bytes / 4, f"peak {peak} bytes vs power spectrogram {power_bytes}"


def test_threads_agree_with_one_thread():
    y = np.stack([data.music(22050, 6.0), data.speech(22050, 6.0)])
    old = fastspec.set_num_threads(1)
    try:
        one = feature.mfcc(y), feature.melspectrogram(y, log="db"), feature.mfcc(y[0], preset="psf")
        fastspec.set_num_threads(2)
        two = feature.mfcc(y), feature.melspectrogram(y, log="db"), feature.mfcc(y[0], preset="psf")
    finally:
        fastspec.set_num_threads(old)
    for a, b in zip(one, two, strict=True):
        assert_close(b, a, "mfcc", scale=1.0)


# ----- mfcc ------------------------------------------------------------------------------------------
MFCC_CASES = [
    dict(),
    dict(n_mfcc=13, lifter=22),
    dict(n_mfcc=40, dct_type=3, norm=None, n_mels=64),
    dict(dct_type=1, mel_norm=None, htk=True),
    dict(n_fft=1024, hop_length=256, fmin=50.0, fmax=8000.0, top_db=60.0),
]


@pytest.mark.parametrize("signal", ["music", "speech", "birdsong", "noise"])
def test_mfcc_defaults_within_1e4_of_librosa(signal, dtype):
    y = realistic(signal, 22050, 3.0, dtype=dtype)
    assert_close(feature.mfcc(y), librosa.feature.mfcc(y=y), "mfcc", scale=1.0)


@pytest.mark.parametrize("kw", MFCC_CASES, ids=str)
@pytest.mark.parametrize("signal", ["music", "speech", "birdsong"])
def test_mfcc_equals_librosa(kw, signal, dtype):
    y = realistic(signal, 22050, 2.0, dtype=dtype)
    ours = feature.mfcc(y, **kw)
    dct_kw = {k: kw[k] for k in ("n_mfcc", "dct_type", "norm", "lifter") if k in kw}
    mel_kw = {k: v for k, v in kw.items() if k not in dct_kw and k not in ("top_db", "mel_norm")}
    mel = librosa.feature.melspectrogram(y=y, norm=kw.get("mel_norm", "slaney"), **mel_kw)
    theirs = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=kw.get("top_db", 80.0)), **dct_kw)
    assert ours.dtype == dtype and ours.shape == theirs.shape
    # Un-normalised DCTs and the lifter magnify every rounding error. Off the defaults float32 FFT
    # rounding alone puts fastspec and librosa each up to 1.2e-4 from the float64 truth (measured
    # on birdsong at n_fft=1024, top_db=60), hence 3x the default-case bound.
    scale = 3.0 * mfcc_scale(kw.get("n_mfcc", 20), kw.get("n_mels", 128), kw.get("dct_type", 2),
                             kw.get("norm", "ortho"), kw.get("lifter", 0.0))
    assert_close(ours, theirs, "mfcc", scale=scale)


def test_mfcc_defaults_equal_librosa_mfcc(dtype):
    y = realistic("speech", 22050, 3.0, dtype=dtype)
    assert_close(feature.mfcc(y), librosa.feature.mfcc(y=y), "mfcc", scale=1.0)
    assert_close(MFCC()(y), librosa.feature.mfcc(y=y), "mfcc", scale=1.0)


def test_mfcc_matches_reference(dtype):
    y = realistic("music", 22050, 1.0, dtype=dtype)
    basis = filters.mel(22050, 2048).astype(np.float64)  # librosa's float32 weights
    assert_close(feature.mfcc(y, lifter=10), ref.mfcc(y, lifter=10, mel_basis=basis), "mfcc",
                 scale=mfcc_scale(lifter=10))


def test_mfcc_batched_uses_librosa_global_top_db(dtype):
    y = realistic("speech", 22050, 1.0, dtype=dtype)
    Y = np.stack([y, 1e-3 * y])  # 60 dB quieter: the second item is mostly clipped
    assert_close(feature.mfcc(Y), librosa.feature.mfcc(y=Y), "mfcc", scale=1.0)


def test_mfcc_from_log_mel(dtype):
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=data.music(22050, 1.0, dtype=dtype)))
    for kw in (dict(), dict(n_mfcc=13, lifter=22, dct_type=3)):
        assert_close(feature.mfcc(S=S, **kw), librosa.feature.mfcc(S=S, **kw), "mfcc", scale=mfcc_scale(**kw))


# ----- python_speech_features preset ------------------------------------------------------------------
PSF_CASES = [
    dict(),
    dict(samplerate=8000, nfilt=20, numcep=12, ceplifter=0, appendEnergy=False, preemph=0.0),
    dict(samplerate=44100, nfft=2048, lowfreq=300, highfreq=8000, nfilt=40),
    dict(winlen=0.032, winstep=0.016, nfft=1024, ceplifter=15),
]


def _psf_args(kw):
    """python_speech_features keywords -> fastspec's."""
    sr = kw.get("samplerate", 16000)
    mapping = dict(sr=sr, n_fft=kw.get("nfft", 512), n_mels=kw.get("nfilt", 26), fmin=kw.get("lowfreq", 0.0),
                   fmax=kw.get("highfreq"), preemphasis=kw.get("preemph", 0.97))
    if "winlen" in kw:
        mapping.update(win_length=int(np.floor(kw["winlen"] * sr + 0.5)),
                       hop_length=int(np.floor(kw["winstep"] * sr + 0.5)))
    return mapping


@pytest.mark.parametrize("kw", PSF_CASES, ids=str)
def test_psf_preset_equals_python_speech_features(kw, dtype):
    sr = kw.get("samplerate", 16000)
    y = data.speech(sr, 1.5, dtype=dtype)
    args = _psf_args(kw)
    mfcc_kw = dict(n_mfcc=kw.get("numcep", 13), lifter=kw.get("ceplifter", 22),
                   append_energy=kw.get("appendEnergy", True))
    fbank_kw = {k: v for k, v in kw.items() if k not in ("numcep", "ceplifter", "appendEnergy")}
    ours = feature.mfcc(y, preset="psf", **args, **mfcc_kw)
    theirs = psf.mfcc(y, **kw)
    assert ours.dtype == dtype
    assert_close(ours.T, theirs, "psf")
    assert_close(feature.melspectrogram(y, preset="psf", **args).T, psf.fbank(y, **fbank_kw)[0], "psf")
    assert_close(feature.melspectrogram(y, preset="psf", log="ln", **args).T,
                 psf.logfbank(y, **{k: v for k, v in fbank_kw.items()}), "psf")


def test_psf_preset_matches_reference_restatement(dtype):
    y = data.speech(16000, 1.0, dtype=dtype)
    assert_close(feature.mfcc(y, preset="psf").T, ref.psf_mfcc(y), "psf")
    assert_close(feature.melspectrogram(y, preset="psf").T, ref.psf_fbank(y)[0], "psf")


def test_psf_preset_edge_cases():
    # Shorter than one frame: one zero-padded frame.
    short = data.speech(16000, 0.01)
    assert_close(feature.mfcc(short, preset="psf").T, psf.mfcc(short), "psf")
    # Digital silence: psf replaces zero energies by float64 eps before the log.
    silence = np.zeros(4000, dtype=np.float64)
    assert_close(feature.mfcc(silence, preset="psf").T, psf.mfcc(silence), "psf")
    np.testing.assert_array_equal(feature.melspectrogram(silence, preset="psf").T, psf.fbank(silence)[0])
    # 44.1 kHz at nfft=512: 1103-sample frames are truncated to the FFT size, with a warning.
    y = data.speech(44100, 0.5, dtype=np.float64)
    with pytest.warns(UserWarning, match="frame will be truncated"):
        ours = feature.mfcc(y, preset="psf", sr=44100)
    assert_close(ours.T, psf.mfcc(y, samplerate=44100), "psf")
    # Batched.
    Y = np.stack([data.speech(16000, 0.5), data.noise(16000, 0.5)])
    out = feature.mfcc(Y, preset="psf")
    for i in range(2):
        assert_close(out[i].T, psf.mfcc(Y[i]), "psf")


# ----- torchaudio preset --------------------------------------------------------------------------------
def test_torchaudio_preset_matches_restatement(dtype):
    y = realistic("speech", 16000, 1.5, dtype=dtype)
    with pytest.warns(UserWarning, match="Empty filters"):  # torchaudio's defaults leave empty bands too
        ours = feature.melspectrogram(y, preset="torchaudio")
    assert ours.shape == (128, 1 + y.size // 200)
    # torchaudio's filters are float32, as fastspec's preset keeps them: compare at float32 precision.
    assert_close(ours, ref.torchaudio_melspectrogram(y), "melspectrogram", dtype=np.float32)
    with pytest.warns(UserWarning):
        ours = feature.mfcc(y, preset="torchaudio")
    assert_close(ours, ref.torchaudio_mfcc(y), "mfcc", scale=1.0, dtype=np.float32)
    kw = dict(n_mels=40, n_fft=512, hop_length=160)
    assert_close(feature.mfcc(y, preset="torchaudio", n_mfcc=13, **kw),
                 ref.torchaudio_mfcc(y, n_mfcc=13, **kw), "mfcc", scale=1.0, dtype=np.float32)


@pytest.mark.parametrize("shape", [(3, -1), (3, 1, -1), (1, 3, -1)])
def test_torchaudio_top_db_groups(shape):
    y = realistic("speech", 16000, 0.5)
    Y = np.stack([y, 1e-3 * y, y[::-1].copy()]).reshape(shape)
    kw = dict(n_mels=40, n_fft=512, hop_length=160)
    assert_close(feature.mfcc(Y, preset="torchaudio", **kw), ref.torchaudio_mfcc(Y, **kw), "mfcc", scale=1.0)


def _torch_melscale_fbanks(torch, n_freqs, f_min, f_max, n_mels, sample_rate):
    """torchaudio.functional.melscale_fbanks (HTK scale, no norm), restated with torch ops."""
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_min = 2595.0 * math.log10(1.0 + f_min / 700.0)
    m_max = 2595.0 * math.log10(1.0 + f_max / 700.0)
    f_pts = 700.0 * (10.0 ** (torch.linspace(m_min, m_max, n_mels + 2) / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1), torch.min(down, up))


def torch_melspectrogram(y, sample_rate=16000, n_fft=400, n_mels=128):
    """torchaudio.transforms.MelSpectrogram's computation with torch directly (torchaudio is not
    installable here): torch.stft (periodic Hann, centred, reflect), |.|**2, mel matrix."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(y))
    lead = x.shape[:-1]
    spec = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop_length=n_fft // 2, win_length=n_fft,
                      window=torch.hann_window(n_fft, dtype=x.dtype), center=True, pad_mode="reflect",
                      return_complex=True).abs().pow(2.0)
    spec = spec.reshape(lead + spec.shape[-2:])
    fb = _torch_melscale_fbanks(torch, n_fft // 2 + 1, 0.0, float(sample_rate // 2), n_mels, sample_rate).to(x.dtype)
    return torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)


def torch_mfcc(y, n_mfcc=40, **kw):
    """torchaudio.transforms.MFCC: AmplitudeToDB(top_db=80) then create_dct(norm="ortho"), in torch."""
    import torch

    x_db = 10.0 * torch.log10(torch.clamp(torch_melspectrogram(y, **kw), min=1e-10))
    shape = x_db.size()
    packed = shape[-3] if x_db.dim() > 2 else 1
    x_db = x_db.reshape(-1, packed, shape[-2], shape[-1])
    x_db = torch.max(x_db, (x_db.amax(dim=(-3, -2, -1)) - 80.0).view(-1, 1, 1, 1)).reshape(shape)
    n_mels = shape[-2]
    dct = torch.cos(math.pi / n_mels * (torch.arange(float(n_mels)) + 0.5) * torch.arange(float(n_mfcc)).unsqueeze(1))
    dct[0] *= 1.0 / math.sqrt(2.0)
    dct *= math.sqrt(2.0 / n_mels)
    return torch.matmul(x_db.transpose(-1, -2), dct.t().to(x_db.dtype)).transpose(-1, -2)


@needs_torch
@pytest.mark.filterwarnings("ignore:Empty filters")
def test_torchaudio_preset_equals_torch():
    y = realistic("speech", 16000, 2.0)
    assert_close(feature.melspectrogram(y, preset="torchaudio"), torch_melspectrogram(y).numpy(), "melspectrogram")
    # Both sides run float32 FFTs, each off by up to ~2e-4 from the float64 truth.
    assert_close(feature.mfcc(y, preset="torchaudio"), torch_mfcc(y).numpy(), "log_mel", scale=1.0)
    Y = np.stack([y, 1e-3 * y]).reshape(2, 1, -1)
    assert_close(feature.mfcc(Y, preset="torchaudio"), torch_mfcc(Y).numpy(), "log_mel", scale=1.0)


# ----- delta -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(), dict(width=5, order=2), dict(width=3, axis=0), dict(width=7, mode="nearest")],
                         ids=str)
def test_delta_equals_librosa(kw, dtype):
    M = librosa.feature.mfcc(y=data.music(22050, 1.0, dtype=dtype))
    ours = feature.delta(M, **kw)
    assert ours.dtype == dtype
    np.testing.assert_array_equal(ours, librosa.feature.delta(M, **kw))


def test_delta_matches_reference():
    M = librosa.feature.mfcc(y=data.speech(22050, 1.0, dtype=np.float64))
    for width, order in ((9, 1), (5, 2), (3, 1)):
        np.testing.assert_allclose(feature.delta(M, width=width, order=order), ref.delta(M, width, order), atol=1e-10)


# ----- errors ------------------------------------------------------------------------------------------
def test_every_error_message():
    y = data.noise(22050, 0.5)
    P = fastspec.ParameterError
    with pytest.raises(P, match=r"fmax=12000.0 must be <= sr / 2 = 11025.0"):
        feature.melspectrogram(y, fmax=12000)
    with pytest.raises(P, match=r"fmax=.* must be <= sr / 2"):
        filters.mel(22050, 2048, fmax=11026)
    with pytest.raises(P, match=r"fmin=5000.0 must be below fmax=4000.0"):
        filters.mel(22050, 2048, fmin=5000, fmax=4000)
    with pytest.raises(P, match=r"n_mfcc=40 must be <= n_mels=32"):
        feature.mfcc(y, n_mfcc=40, n_mels=32)
    with pytest.raises(P, match=r"power=-2 must be a finite positive number"):
        feature.melspectrogram(y, power=-2)
    with pytest.raises(P, match=r"power=0 must be a finite positive number"):
        MelSpectrogram(power=0)
    with pytest.raises(P, match=r"lifter=-1 must be a finite non-negative number"):
        feature.mfcc(y, lifter=-1)
    with pytest.raises(P, match=r"preset='kaldi' must be one of"):
        feature.melspectrogram(y, preset="kaldi")
    with pytest.raises(P, match=r"log='log10' must be None, 'db' or 'ln'"):
        feature.melspectrogram(y, log="log10")
    with pytest.raises(P, match=r"norm='l2' must be 'slaney', None or a number"):
        filters.mel(22050, 2048, norm="l2")
    with pytest.raises(P, match=r"style='htk' must be"):
        filters.mel(22050, 2048, style="htk")
    with pytest.raises(P, match=r"dct_type=4 must be 1, 2 or 3"):
        feature.mfcc(y, dct_type=4)
    with pytest.raises(P, match=r"norm='l1' must be 'ortho' or None"):
        feature.mfcc(y, norm="l1")
    with pytest.raises(P, match=r"pass exactly one of y"):
        feature.melspectrogram()
    with pytest.raises(P, match=r"pass exactly one of y"):
        feature.mfcc(y, S=np.ones((128, 3)))
    with pytest.raises(P, match=r"append_energy=True needs the signal y"):
        feature.mfcc(S=np.ones((26, 3)), preset="psf", append_energy=True)
    with pytest.raises(P, match=r"S must be a real"):
        feature.melspectrogram(S=np.ones((1025, 3), dtype=np.complex64))
    with pytest.raises(P, match=r"contains NaN"):
        feature.melspectrogram(np.array([0.0, np.nan] * 2000))
    with pytest.raises(P, match=r"fewer than n_fft=2048"):
        feature.melspectrogram(y[:1000], center=False)
    with pytest.raises(P, match=r"top_db=-1 must be a finite non-negative number"):
        feature.melspectrogram(y, log="db", top_db=-1)
    with pytest.raises(P, match=r"width=4 must be an odd integer >= 3"):
        feature.delta(np.ones((3, 10)), width=4)
    with pytest.raises(P, match=r"order=0 must be a positive integer"):
        feature.delta(np.ones((3, 10)), order=0)
    with pytest.raises(P, match=r"width=9 cannot exceed data.shape\[axis\]=5"):
        feature.delta(np.ones((3, 5)))
    with pytest.raises(P, match=r"a filterbank must be a 2-D real array"):
        filters.SparseFilterbank(np.ones(5))
    with pytest.raises(P, match=r"n_out=30 must be <= n_in=20"):
        filters.dct(30, 20)


def test_melspectrogram_ref_may_be_a_function_as_in_power_to_db():
    y = data.speech(16000, 1.0)
    M = fastspec.melspectrogram(y, sr=16000, n_fft=512, hop_length=128)
    for reference in (np.max, np.median, lambda S: 0.5 * S.mean()):
        ours = fastspec.melspectrogram(y, sr=16000, n_fft=512, hop_length=128, log="db", ref=reference)
        expected = librosa.power_to_db(M, ref=reference)
        np.testing.assert_allclose(ours, expected, atol=1e-4)
        np.testing.assert_allclose(fastspec.MelSpectrogram(sr=16000, n_fft=512, hop_length=128, log="db",
                                                           ref=reference).from_spectrogram(
            fastspec.spectrogram(y, n_fft=512, hop_length=128, power=2.0)), expected, atol=1e-4)
    with pytest.raises(ParameterError, match="only log='db' uses"):
        fastspec.melspectrogram(y, sr=16000, ref=np.max)


def test_soundfile_layout_is_pointed_out():
    y = np.zeros((48000, 2), dtype=np.float32)
    with pytest.warns(UserWarning, match=r"pass y\.T"):
        fastspec.spectrogram(y, n_fft=4, hop_length=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastspec.spectrogram(y.T, n_fft=512)  # channels first: no warning
