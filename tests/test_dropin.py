"""fastspec.patch_librosa(): librosa's own calls, run on fastspec, give librosa's results."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastspec

librosa = pytest.importorskip("librosa")

Y = fastspec.data.speech(22050, 3.0, seed=1)
Y64 = Y.astype(np.float64)


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(float(np.max(np.abs(b))), 1e-30))


CALLS = {
    "stft": (lambda: librosa.stft(Y), 1e-5),
    "stft f64 reflect": (lambda: librosa.stft(Y64, n_fft=1024, hop_length=256, pad_mode="reflect"), 1e-12),
    "istft": (lambda: librosa.istft(librosa.core.spectrum.__dict__["stft"](Y), length=Y.size), 1e-5),
    "griffinlim": (lambda: librosa.griffinlim(np.abs(librosa.stft(Y)), n_iter=4, random_state=0), 1e-4),
    "griffinlim init None": (lambda: librosa.griffinlim(np.abs(librosa.stft(Y)), n_iter=3, init=None), 1e-4),
    # dB of float32 spectra: quiet bins carry the STFT's rounding (1e-4 of 80 dB is 0.008 dB).
    "power_to_db": (lambda: librosa.power_to_db(np.abs(librosa.stft(Y)) ** 2, ref=np.max), 1e-4),
    "amplitude_to_db": (lambda: librosa.amplitude_to_db(np.abs(librosa.stft(Y))), 1e-4),
    "db_to_power": (lambda: librosa.db_to_power(np.linspace(-80, 0, 50)), 1e-12),
    "melspectrogram": (lambda: librosa.feature.melspectrogram(y=Y, sr=22050, n_mels=64, fmax=8000), 1e-5),
    "mfcc": (lambda: librosa.feature.mfcc(y=Y, sr=22050, n_mfcc=13, lifter=22), 1e-4),
    "delta": (lambda: librosa.feature.delta(librosa.feature.mfcc(y=Y, sr=22050), order=2), 1e-4),
    "filters.mel": (lambda: librosa.filters.mel(sr=16000, n_fft=512, n_mels=40), 1e-6),
    "chroma_stft": (lambda: librosa.feature.chroma_stft(y=Y, sr=22050), 1e-5),
    "spectral_centroid": (lambda: librosa.feature.spectral_centroid(y=Y, sr=22050), 1e-5),
    "spectral_bandwidth": (lambda: librosa.feature.spectral_bandwidth(y=Y, sr=22050), 1e-5),
    "spectral_rolloff": (lambda: librosa.feature.spectral_rolloff(y=Y64, sr=22050), 1e-6),
    "rms": (lambda: librosa.feature.rms(y=Y), 1e-5),
    "onset_strength": (lambda: librosa.onset.onset_strength(y=Y, sr=22050), 1e-4),
    "mfcc_to_mel": (lambda: librosa.feature.inverse.mfcc_to_mel(librosa.feature.mfcc(y=Y, sr=22050)), 1e-3),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_patched_librosa_gives_librosas_numbers(name):
    call, tol = CALLS[name]
    theirs = call()
    with fastspec.librosa_patched():
        ours = call()
    assert type(ours) is type(theirs) and np.shape(ours) == np.shape(theirs)
    assert np.asarray(ours).dtype == np.asarray(theirs).dtype
    assert _rel(ours, theirs) <= tol, _rel(ours, theirs)


def test_the_fast_path_is_taken_and_undone():
    with fastspec.librosa_patched():
        assert hasattr(librosa.stft, "__fastspec_original__")
        assert hasattr(librosa.core.spectrum.stft, "__fastspec_original__")  # where librosa's own calls look
        assert hasattr(librosa.feature.spectral.melspectrogram, "__fastspec_original__")
    assert not hasattr(librosa.stft, "__fastspec_original__")
    names = fastspec.patch_librosa()
    try:
        assert "librosa.core.spectrum.stft" in names and fastspec.patch_librosa() == names  # idempotent
    finally:
        fastspec.unpatch_librosa()
    assert not hasattr(librosa.core.spectrum.stft, "__fastspec_original__")


def test_what_fastspec_does_not_do_goes_to_librosa():
    with fastspec.librosa_patched():
        # numpy.pad's other modes: fastspec pads the same way.
        np.testing.assert_allclose(librosa.stft(Y, pad_mode="symmetric"),
                                   librosa.stft.__fastspec_original__(Y, pad_mode="symmetric"), atol=1e-4)
        # out=, a signal shorter than n_fft (librosa warns): librosa's answers.
        out = np.empty((1025, 200), dtype=np.complex64)
        assert np.shares_memory(librosa.stft(Y, out=out), out)
        with pytest.warns(UserWarning, match="n_fft=2048 is too large"):
            librosa.stft(np.ones(100, dtype=np.float32))
        # librosa's warnings and exceptions, with librosa's classes.
        with pytest.warns(UserWarning, match="complex input"):
            librosa.power_to_db(librosa.stft(Y))
        with pytest.raises(librosa.util.exceptions.ParameterError):
            librosa.stft(np.full(4096, np.nan, dtype=np.float32))
        # fastspec refuses fmax above Nyquist; librosa computes it with a warning: librosa's way wins.
        with pytest.warns(UserWarning, match="Empty filters"):
            ours = librosa.feature.melspectrogram(y=Y, sr=22050, fmax=20000)
        with pytest.warns(UserWarning, match="Empty filters"):
            theirs = librosa.feature.melspectrogram.__fastspec_original__(y=Y, sr=22050, fmax=20000)
        np.testing.assert_array_equal(ours, theirs)


def test_patching_is_faster():
    import time

    def best(fn):
        fn()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    call = lambda: librosa.feature.melspectrogram(y=Y, sr=22050)  # noqa: E731
    plain = best(call)
    with fastspec.librosa_patched():
        fast = best(call)
    # Not a benchmark (that is benchmarks/): only that the fast path is the one running.
    assert fast < plain


def test_import_fastspec_does_not_import_librosa():
    code = "import sys, fastspec; fastspec.stft; assert 'librosa' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_without_librosa_the_message_says_so():
    code = ("import sys; sys.modules['librosa'] = None\n"
            "import fastspec\n"
            "try:\n    fastspec.patch_librosa()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "needs librosa, which is not installed" in out


def test_no_warning_where_librosa_gives_none():
    with fastspec.librosa_patched(), warnings.catch_warnings():
        warnings.simplefilter("error")
        librosa.feature.mfcc(y=Y, sr=22050)
        librosa.feature.chroma_stft(y=Y, sr=22050)


def test_inverse_functions_keep_librosas_dtypes_and_quality():
    M = librosa.feature.melspectrogram(y=Y64, sr=22050)
    theirs = librosa.feature.inverse.mel_to_audio(M, sr=22050, n_iter=8, length=Y.size)
    with fastspec.librosa_patched():
        ours = librosa.feature.inverse.mel_to_audio(M, sr=22050, n_iter=8, length=Y.size)
        assert hasattr(librosa.feature.inverse.mel_to_audio, "__fastspec_original__")
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == theirs.shape
    # Another NNLS solver: compare what matters, how well each result's spectrogram fits.
    S = np.abs(librosa.stft(Y64))
    sc = [fastspec.spectral_convergence(S, y.astype(np.float64)) for y in (ours, theirs)]
    assert sc[0] <= sc[1] + 1.0, sc


def test_plain_api_takes_librosas_spellings():
    S = np.abs(librosa.stft(Y))
    np.testing.assert_allclose(fastspec.griffin_lim(S, n_iter=4, random_state=0),
                               librosa.griffinlim(S, n_iter=4, random_state=0), atol=1e-5 * np.abs(Y).max() * 10)
    np.testing.assert_allclose(fastspec.griffin_lim(S, n_iter=3, init=None), librosa.griffinlim(S, n_iter=3, init=None),
                               atol=1e-4)
    with pytest.raises(fastspec.ParameterError, match="not both"):
        fastspec.griffin_lim(S, rng=1, random_state=1)
    # hop_length=None is librosa's win_length // 4, not torchaudio's // 2.
    assert fastspec.melspectrogram(Y, sr=22050, hop_length=None).shape == librosa.feature.melspectrogram(y=Y).shape
    assert fastspec.mfcc(Y, sr=22050, hop_length=None).shape == librosa.feature.mfcc(y=Y).shape
    # 0-d input with top_db, as librosa.
    assert fastspec.power_to_db(np.array(3.0)) == pytest.approx(librosa.power_to_db(np.array(3.0)))
    assert fastspec.amplitude_to_db(np.array(3.0)) == pytest.approx(librosa.amplitude_to_db(np.array(3.0)))


def test_float32_stft_is_accurate_bin_by_bin():
    # librosa windows and transforms float32 frames in float64 and rounds once, so even bins 1e-5 below
    # the peak (a tone's far leakage) keep float32's relative precision; a float32 FFT loses them.
    t = np.arange(22050, dtype=np.float64) / 22050
    y = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    exact = librosa.stft(y.astype(np.float64))
    with fastspec.librosa_patched():
        ours = librosa.stft(y)
    assert ours.dtype == np.complex64
    assert np.allclose(ours, exact, rtol=1e-5, atol=1e-8)
    for plain in (fastspec.stft(y, precision=np.float64), fastspec.stft(y.astype(np.float64), dtype=np.complex64)):
        assert plain.dtype == np.complex64 and np.allclose(plain, exact, rtol=1e-5, atol=1e-8)
    assert not np.allclose(fastspec.stft(y), exact, rtol=1e-5, atol=1e-8)  # float32 arithmetic, as documented


TUNING_CALLS = [
    dict(S=np.abs(librosa.stft(Y)) ** 2, sr=22050, bins_per_octave=12),  # as chroma_stft asks
    dict(S=np.abs(librosa.stft(Y64, n_fft=1024)), sr=22050, resolution=0.001),
    dict(y=Y, sr=22050, hop_length=256, fmin=80.0, fmax=2000.0, threshold=0.05, bins_per_octave=24),
    dict(y=np.sin(2 * np.pi * 445.0 * np.arange(44100) / 22050).astype(np.float32), sr=22050, resolution=0.002),
]


@pytest.mark.parametrize("kwargs", TUNING_CALLS, ids=["chroma S", "f64 S", "y kwargs", "tone"])
def test_estimate_tuning_is_librosas_to_the_bit(kwargs):
    theirs = librosa.estimate_tuning(**kwargs)
    with fastspec.librosa_patched():
        assert hasattr(librosa.feature.spectral.estimate_tuning, "__fastspec_original__")  # chroma_stft's
        ours = librosa.estimate_tuning(**kwargs)
    assert ours == theirs


@pytest.mark.parametrize("seed", [1, 2])
def test_peak_candidates_are_piptracks_peaks(seed):
    from fastspec._kernels.pitch import peak_candidates

    y = fastspec.data.speech(22050, 2.0, seed=seed)
    for S in (np.abs(librosa.stft(y)) ** 2, np.abs(librosa.stft(y.astype(np.float64), n_fft=512))):
        pitches, mags = librosa.piptrack(S=S, sr=22050, fmin=100.0, threshold=0.2)
        n_fft = 2 * (S.shape[0] - 1)
        freqs = librosa.fft_frequencies(sr=22050, n_fft=n_fft)
        p, m = np.empty(S.size, S.dtype), np.empty(S.size, S.dtype)
        n = peak_candidates(S, (100.0 <= freqs) & (freqs < 4000.0), S.dtype.type(0.2), 22050.0, n_fft, p, m)
        peaks = np.nonzero(pitches.T)  # frame by frame, as the kernel walks
        assert n == len(peaks[0]) > 100
        assert np.array_equal(p[:n], pitches.T[peaks]) and np.array_equal(m[:n], mags.T[peaks])


def test_mfcc_of_a_given_spectrogram_warns_as_librosa_does():
    # mfcc(S=) is a DCT only: the mel filterbank its parameters would describe (here 1025 bands, many
    # empty) is never built or used, so its warnings do not apply (librosa gives none).
    S = librosa.amplitude_to_db(np.abs(librosa.stft(Y)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        theirs = librosa.feature.mfcc(S=S)
        with fastspec.librosa_patched():
            ours = librosa.feature.mfcc(S=S)
        plain = fastspec.mfcc(S=S)
    assert _rel(ours, theirs) <= 1e-6 and _rel(plain, theirs) <= 1e-6  # float32 DCTs


def test_griffinlim_with_librosas_real_dtype_runs_on_fastspec():
    # librosa's griffinlim dtype is the signal's (real) dtype; the matching one is fastspec's to compute.
    S = np.abs(librosa.stft(Y))
    calls = []
    real_griffin_lim = fastspec.griffin_lim
    try:
        fastspec.griffin_lim = lambda *a, **k: calls.append(1) or real_griffin_lim(*a, **k)
        theirs = librosa.griffinlim(S, n_iter=3, random_state=0, dtype=np.float32)
        with fastspec.librosa_patched():
            ours = librosa.griffinlim(S, n_iter=3, random_state=0, dtype=np.float32)
    finally:
        fastspec.griffin_lim = real_griffin_lim
    assert calls and ours.dtype == theirs.dtype == np.float32 and _rel(ours, theirs) <= 1e-4
