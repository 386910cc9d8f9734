"""fastspec.compat against fastspec.reference.seed (the seed notebook's algorithm in NumPy)."""

import numpy as np
import pytest

from fastspec import ParameterError, compat, data
from fastspec.compat import inversion as compat_inversion
from fastspec.reference import seed as ref
from fastspec.reference import tolerance

SR = 22050


def signals(duration=0.5):
    """Tones, a chirp, noise and a speech-like signal, float64."""
    return {
        "tone": data.tone(SR, duration, 440.0, dtype=np.float64),
        "chirp": data.chirp(SR, duration, dtype=np.float64),
        "noise": data.noise(SR, duration, dtype=np.float64),
        "speech": data.speech(SR, duration, dtype=np.float64),
    }


SIGNALS = signals()
NAMES = sorted(SIGNALS)


def float16_ulps(actual, expected, offset=0.0):
    """Largest difference in float16 ulps of the value (``offset`` added first: the ulp of the
    value before a final subtraction of ``offset``)."""
    assert actual.dtype == expected.dtype == np.float16
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    ulp = np.spacing(np.maximum(np.abs(a + offset), np.abs(e + offset)).astype(np.float16)).astype(np.float64)
    return float(np.max(np.abs(a - e) / ulp)) if a.size else 0.0


# ----- analysis -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kwargs", [
    {}, {"real": True}, {"compute_onesided": False}, {"real": True, "compute_onesided": False},
    {"mean_normalize": False},
])
def test_stft_matches_reference(name, kwargs):
    y = SIGNALS[name]
    ours = compat.stft(y, 512, 64, **kwargs)
    theirs = ref.stft(y, 512, 64, **kwargs)
    assert ours.dtype == theirs.dtype == np.complex128
    assert ours.shape == theirs.shape
    err = np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs))
    assert err <= tolerance(np.float64, "compat_stft")


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float16])
def test_stft_other_input_dtypes(dtype):
    y = (SIGNALS["speech"] * 1000).astype(dtype)
    for mean_normalize in (False, True) if dtype != np.int16 else (False,):
        ours = compat.stft(y, 256, 32, mean_normalize=mean_normalize)
        theirs = ref.stft(y, 256, 32, mean_normalize=mean_normalize)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        assert np.max(np.abs(ours - theirs)) <= tolerance(np.float64, "compat_stft") * np.max(np.abs(theirs))


def test_stft_integer_input_mean_normalize_raises_like_seed():
    y = np.arange(1000, dtype=np.int64)
    with pytest.raises(TypeError) as theirs:
        ref.stft(y, 128, 64)
    with pytest.raises(type(theirs.value)):
        compat.stft(y, 128, 64)


def test_stft_leaves_caller_array_alone():
    y = SIGNALS["tone"] + 0.25
    before = y.copy()
    ours = compat.stft(y, 512, 64)
    assert np.array_equal(y, before)
    assert np.max(np.abs(ours - ref.stft(before, 512, 64))) <= 1e-9 * np.max(np.abs(ours))
    compat.pretty_spectrogram(y)
    assert np.array_equal(y, before)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("log, thresh", [(True, 4), (True, 5), (False, 0.1)])
def test_pretty_spectrogram_matches_reference(name, log, thresh):
    y = SIGNALS[name]
    ours = compat.pretty_spectrogram(y, log=log, thresh=thresh, fft_size=512, step_size=32)
    theirs = ref.pretty_spectrogram(y, log=log, thresh=thresh, fft_size=512, step_size=32)
    assert ours.dtype == theirs.dtype == np.float64
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= tolerance(np.float64, "compat_pretty")


def test_pretty_spectrogram_log_normalise_threshold():
    S = compat.pretty_spectrogram(SIGNALS["chirp"], log=True, thresh=3, fft_size=256, step_size=64)
    assert S.max() == 0.0  # normalised to a maximum of 1 before log10
    assert S.min() == -3.0  # floored at -thresh
    linear = compat.pretty_spectrogram(SIGNALS["chirp"], log=False, thresh=0.5, fft_size=256, step_size=64)
    assert linear.min() == 0.5
    # log == True is the seed's test: a truthy value that is not True goes the linear way.
    assert np.array_equal(compat.pretty_spectrogram(SIGNALS["chirp"], log="yes", thresh=0.5,
                                                    fft_size=256, step_size=64), linear)


def test_pretty_spectrogram_silence_is_nan_like_seed():
    with np.errstate(invalid="ignore", divide="ignore"):
        theirs = ref.pretty_spectrogram(np.zeros(2000), fft_size=256, step_size=64)
    ours = compat.pretty_spectrogram(np.zeros(2000), fft_size=256, step_size=64)
    assert np.isnan(theirs).all() and np.isnan(ours).all() and ours.shape == theirs.shape


def test_overlap_padding_rule_and_frame_count():
    for n in (1, 100, 127, 128, 129, 1000, 1024):
        x = np.arange(n, dtype=np.float64) + 1
        frames = compat.overlap(x, 128, 32)
        padded = n + 128 - n % 128  # always 1..128 zeros, a whole window when n % 128 == 0
        assert 1 <= padded - n <= 128
        assert frames.shape == ((padded - 128) // 32, 128)
        assert np.array_equal(frames, ref.overlap(x, 128, 32))
    assert compat.overlap(np.arange(10), 4, 2).dtype == np.float64  # hstack with float64 zeros


def test_odd_window_raises_value_error():
    with pytest.raises(ValueError, match="Window size must be even!"):
        compat.overlap(np.ones(100), 65, 10)
    with pytest.raises(ValueError, match="Window size must be even!"):
        compat.stft(np.ones(100), 65, 10)


def test_symmetric_hamming_and_one_sided_cut():
    n = 64
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(n) / (n - 1))
    X = compat.stft(np.ones(n), n, n, mean_normalize=False)
    assert X.shape == (1, n // 2)  # one-sided: fftsize // 2 bins, no Nyquist bin
    assert np.allclose(X[0], np.fft.fft(window)[:n // 2], rtol=0, atol=1e-12)
    assert compat.stft(np.ones(n), n, n, compute_onesided=False).shape == (1, n)


@pytest.mark.parametrize("step", [32, 32.0])
def test_step_int_or_float(step):
    y = SIGNALS["speech"]
    expected = ref.pretty_spectrogram(y, fft_size=512, step_size=32)
    assert np.max(np.abs(compat.pretty_spectrogram(y, fft_size=512.0, step_size=step) - expected)) <= 1e-9
    with pytest.raises(TypeError):
        compat.pretty_spectrogram(y, fft_size=512, step_size=32.5)


# ----- mel ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    {}, {"nfilt": 64, "nfft": 2048, "samplerate": 44100, "lowfreq": 300, "highfreq": 8000},
    {"nfilt": 26, "nfft": 512, "samplerate": 16000, "lowfreq": 0},
    {"nfilt": 40, "nfft": 1024, "samplerate": 22050, "lowfreq": 50, "highfreq": 11025},
])
def test_get_filterbanks_identical(args):
    ours = compat.get_filterbanks(**args)
    assert ours.dtype == np.float64
    assert np.array_equal(ours, ref.get_filterbanks(**args))


def test_create_mel_filter_identical():
    for args in ((2048,), (512, 20, 100, 4000, 16000)):
        for ours, theirs in zip(compat.create_mel_filter(*args), ref.create_mel_filter(*args), strict=True):
            assert ours.shape == theirs.shape and np.array_equal(ours, theirs)
    assert np.array_equal(compat.hz2mel(np.array([0.0, 700.0, 8000.0])), ref.hz2mel(np.array([0.0, 700.0, 8000.0])))
    assert compat.mel2hz(1000.0) == ref.mel2hz(1000.0)


def test_highfreq_above_nyquist_raises_assertion_error():
    with pytest.raises(AssertionError, match="highfreq is greater than samplerate/2"):
        compat.get_filterbanks(nfilt=10, nfft=512, samplerate=16000, highfreq=9000)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shorten_factor", [1, 4, 10])
def test_make_mel_and_back_within_one_float16_ulp(name, shorten_factor):
    spec = ref.pretty_spectrogram(SIGNALS[name], fft_size=512, step_size=32, thresh=4)
    mel_filter, inversion = ref.create_mel_filter(512, 32, 100, 8000, SR)
    ours = compat.make_mel(spec, mel_filter, shorten_factor=shorten_factor)
    theirs = ref.make_mel(spec, mel_filter, shorten_factor=shorten_factor)
    assert ours.dtype == theirs.dtype == np.float16
    assert ours.shape == theirs.shape == (32, int(round(spec.shape[0] / shorten_factor)) - 2)  # [:, 1:-1]
    assert float16_ulps(ours, theirs) <= 1
    back = compat.mel_to_spectrogram(theirs, inversion, 4, shorten_factor)
    back_ref = ref.mel_to_spectrogram(theirs, inversion, 4, shorten_factor)
    assert back.dtype == back_ref.dtype == np.float16
    assert back.shape == back_ref.shape == (256, int(round(theirs.shape[1] * shorten_factor)))
    assert float16_ulps(back, back_ref, offset=4.0) <= 1


def test_mel_to_spectrogram_offset_minus_four():
    _, inversion = ref.create_mel_filter(512, 16, 100, 8000, SR)
    mel = np.full((16, 12), -4.0, dtype=np.float16)  # + spec_thresh = 0 everywhere
    out = compat.mel_to_spectrogram(mel, inversion, 4, 3)
    assert out.dtype == np.float16 and out.shape == (256, 36)
    assert np.all(out == -4)


# ----- cross-correlation offsets --------------------------------------------------------------
def test_xcorr_offset_random_pairs_identical():
    rng = np.random.default_rng(0)
    for n1, n2 in [(896, 896), (100, 100), (64, 50), (50, 64), (7, 7), (1, 1), (2, 3), (300, 120)]:
        for _ in range(20):
            x1 = rng.standard_normal(n1)
            x2 = rng.standard_normal(n2)
            ours = compat.xcorr_offset(x1, x2)
            assert type(ours) is np.int64
            assert ours == ref.xcorr_offset(x1, x2), (n1, n2)


def test_xcorr_offset_impulses_at_known_offsets():
    n = 256
    for p1 in (10, 100, 128, 200):
        for p2 in (5, 64, 128, 250):
            x1 = np.zeros(n)
            x2 = np.zeros(n)
            x1[p1] = 1.0
            x2[p2] = 1.0
            expected = ref.xcorr_offset(x1, x2)
            assert compat.xcorr_offset(x1, x2) == expected
            lag = p1 - p2  # x1[j] meets x2[j + d] at d = p2 - p1; offset = -1 - d
            if abs(lag) < n // 2:
                assert expected == lag - 1


def test_xcorr_offset_ties_and_mean_removal():
    # Silence ties every lag at exactly 0: the first unmasked lag wins.
    assert compat.xcorr_offset(np.zeros(100), np.ones(100)) == ref.xcorr_offset(np.zeros(100), np.ones(100))
    # A periodic pulse train ties several lags exactly.
    x = np.zeros(120)
    x[::20] = 1.0
    assert compat.xcorr_offset(x, x) == ref.xcorr_offset(x, x)
    # Means are removed: a constant added to either operand changes nothing.
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(200), rng.standard_normal(200)
    assert compat.xcorr_offset(a + 5.0, b - 3.0) == compat.xcorr_offset(a, b) == ref.xcorr_offset(a, b)


def test_xcorr_offset_searches_only_within_half():
    n = 200
    rng = np.random.default_rng(2)
    x2 = rng.standard_normal(n) * 0.01
    x1 = np.zeros(n)
    x1[180:190] = 5.0
    x2[5:15] = 5.0  # the true match is ~175 samples away, beyond +-n/2
    ours = compat.xcorr_offset(x1, x2)
    assert ours == ref.xcorr_offset(x1, x2)
    assert -(n // 2) <= ours <= n // 2


def test_xcorr_offset_float32_rounding():
    # Differences below float32 resolution vanish before the correlation, as in the seed.
    rng = np.random.default_rng(3)
    a = rng.standard_normal(300)
    b = rng.standard_normal(300)
    tiny = a + 1e-12 * rng.standard_normal(300)
    assert compat.xcorr_offset(tiny, b) == compat.xcorr_offset(a, b) == ref.xcorr_offset(tiny, b)


# ----- inversion ------------------------------------------------------------------------------
def offsets_agreement(ours, theirs):
    assert len(ours) == len(theirs)
    return min(float(np.mean(a == b)) for a, b in zip(ours, theirs, strict=True))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n_iter", [1, 3, 10])
def test_invert_pretty_spectrogram_matches_reference(name, n_iter):
    y = SIGNALS[name][:4000]
    spec = ref.pretty_spectrogram(y, fft_size=256, step_size=32, thresh=4)
    ours_trace, theirs_trace = [], []
    ours = compat_inversion._invert_pretty(spec, fft_size=256, step_size=32, n_iter=n_iter, trace=ours_trace)
    powered = np.power(10, spec)
    theirs = ref.iterate_with_trace(np.concatenate([powered, powered[:, ::-1]], axis=1), 256, 32, n_iter,
                                    trace=theirs_trace)
    assert ours.dtype == theirs.dtype == np.float64 and ours.shape == theirs.shape
    assert offsets_agreement(ours_trace, theirs_trace) >= 0.99
    assert np.corrcoef(ours, theirs)[0, 1] >= 0.999
    public = compat.invert_pretty_spectrogram(spec, fft_size=256, step_size=32, n_iter=n_iter)
    assert np.array_equal(public, ours)


@pytest.mark.parametrize("set_zero_phase", [True, False])
@pytest.mark.parametrize("calculate_offset", [True, False])
def test_invert_spectrogram_matches_reference(set_zero_phase, calculate_offset):
    X = ref.stft(SIGNALS["speech"][:6000], 256, 32, compute_onesided=False)
    ours_trace, theirs_trace = [], []
    ours = compat_inversion._invert(X, 32, calculate_offset, set_zero_phase, trace=ours_trace)
    theirs = ref.invert_with_trace(X, 32, calculate_offset, set_zero_phase, trace=theirs_trace)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.float64
    assert offsets_agreement(ours_trace, theirs_trace) >= 0.99
    assert np.corrcoef(ours, theirs)[0, 1] >= 0.999
    if not calculate_offset:
        assert np.max(np.abs(ours - theirs)) <= 1e-9 * np.max(np.abs(theirs))


def test_invert_spectrogram_reversal_and_placement():
    # One frame: the output is the reversed inverse FFT read from size // 2 - 1, windowed and
    # divided by the window (+1e-6).
    rng = np.random.default_rng(4)
    n_fft, size = 64, 32
    X = rng.standard_normal((1, n_fft)) + 1j * rng.standard_normal((1, n_fft))
    est = np.real(np.fft.ifft(X[0]))[::-1]
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(size) / (size - 1))
    expected = window * est[size // 2 - 1:size // 2 - 1 + size] / (window + 1e-6)
    ours = compat.invert_spectrogram(X, 8, calculate_offset=True, set_zero_phase=False)
    assert ours.shape == (8 + size,)
    assert np.allclose(ours[:size], expected, rtol=0, atol=1e-12)
    zero = compat.invert_spectrogram(X, 8, calculate_offset=True, set_zero_phase=True)
    assert np.allclose(zero[:size], compat.invert_spectrogram(X.real, 8, True, False)[:size], rtol=0, atol=1e-12)


def test_zero_phase_on_first_iteration_only():
    spec = ref.pretty_spectrogram(SIGNALS["chirp"][:4000], fft_size=256, step_size=32)
    powered = np.power(10, spec)
    two_sided = np.concatenate([powered, powered[:, ::-1]], axis=1)
    trace = []
    compat_inversion._invert_pretty(spec, fft_size=256, step_size=32, n_iter=2, trace=trace)
    first = []
    compat_inversion._invert(two_sided, 32, True, True, trace=first)
    assert np.array_equal(trace[0], first[0])
    # n_iter=0: one inversion of X_s as given (not forced to zero phase; X_s is real anyway).
    assert np.array_equal(compat.iterate_invert_spectrogram(two_sided, 256, 32, n_iter=0),
                          compat.invert_spectrogram(two_sided, 32, True, False))


def test_iterate_invert_spectrogram_matches_reference():
    spec = ref.pretty_spectrogram(SIGNALS["speech"][:4000], fft_size=256, step_size=64)
    powered = np.power(10, spec)
    two_sided = np.concatenate([powered, powered[:, ::-1]], axis=1)
    ours = compat.iterate_invert_spectrogram(two_sided, 256, 64, n_iter=3)
    theirs = ref.iterate_invert_spectrogram(two_sided, 256, 64, n_iter=3)
    assert ours.shape == theirs.shape and np.corrcoef(ours, theirs)[0, 1] >= 0.999


def test_large_step_warning_printed_per_frame(capsys):
    y = SIGNALS["tone"][:3000]
    X = ref.stft(y, 64, 33, compute_onesided=False)  # step 33 > size 32: the seed warns per frame
    ours = compat.invert_spectrogram(X, 33)
    printed = capsys.readouterr().out
    theirs = ref.invert_spectrogram(X, 33)
    assert printed == capsys.readouterr().out
    assert printed.count("WARNING: Large step size >50\\% detected!") == X.shape[0] - 1
    assert np.corrcoef(ours, theirs)[0, 1] >= 0.999
    # Larger steps shift frames off their estimate: the seed's slice assignment fails, and so do we.
    X = ref.stft(y, 64, 48, compute_onesided=False)
    with pytest.raises(ValueError):
        ref.invert_spectrogram(X, 48)
    with pytest.raises(ValueError, match="broadcast"):
        compat.invert_spectrogram(X, 48)


def test_broadcast_failure_matches_seed():
    # A frame count the seed's re-analysis cannot cover: both fail with ValueError.
    spec = np.zeros((17, 128))
    with pytest.raises(ValueError):
        ref.invert_pretty_spectrogram(spec, fft_size=256, step_size=16, n_iter=1)
    with pytest.raises(ValueError, match="broadcast"):
        compat.invert_pretty_spectrogram(spec, fft_size=256, step_size=16, n_iter=1)


def test_notebook_runs_unchanged():
    """The notebook's cells with its definitions replaced by ``from fastspec.compat import *``."""
    namespace = {"np": np}
    exec("from fastspec.compat import *", namespace)
    rate = 44100
    namespace["data"] = data.birdsong(rate, 1.0, dtype=np.float64)
    namespace["rate"] = rate
    exec(
        "fft_size = 2048\n"
        "step_size = fft_size / 16\n"
        "spec_thresh = 4\n"
        "lowcut = 500\n"
        "highcut = 15000\n"
        "n_mel_freq_components = 64\n"
        "shorten_factor = 10\n"
        "start_freq = 300\n"
        "end_freq = 8000\n"
        "data = butter_bandpass_filter(data, lowcut, highcut, rate, order=1)\n"
        "wav_spectrogram = pretty_spectrogram(data.astype('float64'), fft_size=fft_size,\n"
        "    step_size=step_size, log=True, thresh=spec_thresh)\n"
        "recovered_audio_orig = invert_pretty_spectrogram(wav_spectrogram, fft_size=fft_size,\n"
        "    step_size=step_size, log=True, n_iter=10)\n"
        "inverted_spectrogram = pretty_spectrogram(recovered_audio_orig.astype('float64'),\n"
        "    fft_size=fft_size, step_size=step_size, log=True, thresh=spec_thresh)\n"
        "mel_filter, mel_inversion_filter = create_mel_filter(fft_size=fft_size,\n"
        "    n_freq_components=n_mel_freq_components, start_freq=start_freq, end_freq=end_freq)\n"
        "mel_spec = make_mel(wav_spectrogram, mel_filter, shorten_factor=shorten_factor)\n"
        "mel_inverted_spectrogram = mel_to_spectrogram(mel_spec, mel_inversion_filter,\n"
        "    spec_thresh=spec_thresh, shorten_factor=shorten_factor)\n"
        "inverted_mel_audio = invert_pretty_spectrogram(np.transpose(mel_inverted_spectrogram),\n"
        "    fft_size=fft_size, step_size=step_size, log=True, n_iter=10)\n",
        namespace,
    )
    spec = namespace["wav_spectrogram"]
    assert spec.shape[1] == 1024 and spec.dtype == np.float64
    assert namespace["recovered_audio_orig"].shape == (spec.shape[0] * 128 + 1024,)
    assert namespace["mel_spec"].dtype == np.float16 and namespace["mel_spec"].shape[0] == 64
    assert namespace["mel_inverted_spectrogram"].dtype == np.float16
    assert np.isfinite(namespace["inverted_mel_audio"]).all()


def test_mel_round_trip_matches_reference():
    rate = 44100
    y = data.birdsong(rate, 1.0, dtype=np.float64)
    spec = ref.pretty_spectrogram(y, fft_size=2048, step_size=128, thresh=4)
    mel_filter, inversion = ref.create_mel_filter(2048, 64, 300, 8000, rate)
    mel = ref.make_mel(spec, mel_filter, 10)
    back = np.transpose(ref.mel_to_spectrogram(mel, inversion, 4, 10))
    ours_trace, theirs_trace = [], []
    ours = compat_inversion._invert_pretty(back, fft_size=2048, step_size=128, n_iter=3, trace=ours_trace)
    powered = np.power(10, back)
    with np.errstate(over="ignore"):
        theirs = ref.iterate_with_trace(np.concatenate([powered, powered[:, ::-1]], axis=1), 2048, 128, 3,
                                        trace=theirs_trace)
    assert offsets_agreement(ours_trace, theirs_trace) >= 0.99
    assert np.corrcoef(ours, theirs)[0, 1] >= 0.999


# ----- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_raise_parameter_error(bad):
    y = SIGNALS["tone"].copy()
    y[100] = bad
    spec = np.zeros((20, 64))
    spec[3, 3] = bad
    calls = [
        lambda: compat.stft(y, 256, 64),
        lambda: compat.pretty_spectrogram(y, fft_size=256, step_size=64),
        lambda: compat.overlap(y, 256, 64),
        lambda: compat.butter_bandpass_filter(y, 500, 5000, SR),
        lambda: compat.xcorr_offset(y, SIGNALS["tone"]),
        lambda: compat.xcorr_offset(SIGNALS["tone"], y),
        lambda: compat.invert_pretty_spectrogram(spec, fft_size=128, step_size=16),
        lambda: compat.invert_spectrogram(spec, 16),
        lambda: compat.iterate_invert_spectrogram(spec, 64, 16),
        lambda: compat.make_mel(spec, np.ones((64, 4))),
        lambda: compat.mel_to_spectrogram(spec.T[:4], np.ones((4, 16)), 4, 2),
    ]
    for call in calls:
        with pytest.raises(ParameterError, match="NaN or Inf"):
            call()


def test_bad_sizes_raise_like_seed():
    y = SIGNALS["tone"]
    for fftsize, step in ((128, 0), (0, 16)):
        with pytest.raises(ZeroDivisionError):
            ref.stft(y, fftsize, step)
        with pytest.raises(ZeroDivisionError):
            compat.stft(y, fftsize, step)
    with pytest.raises(ValueError):
        ref.stft(y, 128, -4)
    with pytest.raises(ValueError):
        compat.stft(y, 128, -4)
    with pytest.raises(ParameterError):
        compat.stft(np.ones((2, 100)), 16, 4)


def test_empty_spectrogram_log_raises_like_seed():
    with pytest.raises(ValueError):
        ref.pretty_spectrogram(np.ones(10), fft_size=64, step_size=128)
    with pytest.raises(ValueError):
        compat.pretty_spectrogram(np.ones(10), fft_size=64, step_size=128)


def test_float16_inversion_follows_numpy_1_like_the_notebook():
    # A float16 spectrogram with a silent stretch (as the notebook's mel round trip gives): under
    # NumPy 2 the seed's own reg = max / 1e8 stays float16 and becomes 0, and the silent frames
    # turn into 0 / 0 = NaN. The notebook was written for NumPy 1, where reg is float64: finite.
    x = np.random.default_rng(5).standard_normal(8192)
    X = np.abs(compat.stft(x, fftsize=512, step=128, compute_onesided=False)).astype(np.float16)
    X[20:40] = 0  # 20 silent frames: the estimate's frames inside them are exactly zero
    with np.errstate(all="ignore"):
        numpy2_reg = np.max(X) / np.float16(1e8) if np.__version__ >= "2" else None
    if numpy2_reg is not None:
        assert numpy2_reg == 0  # what the seed's code computes under NumPy 2
    ours = compat.iterate_invert_spectrogram(X, 512, 128, n_iter=2)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, ref.iterate_invert_spectrogram(X, 512, 128, n_iter=2), rtol=0, atol=1e-3)
