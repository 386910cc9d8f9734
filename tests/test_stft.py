import librosa
import numba
import numpy as np
import pytest

import fastspec
from fastspec import ParameterError, data, reference
from fastspec._engine import chunks
from fastspec.stft import Stft

from .conftest import assert_close

CONFIGS = [
    dict(n_fft=2048, hop_length=512),
    dict(n_fft=512, hop_length=128, win_length=400, window="hamming", pad_mode="reflect"),
    dict(n_fft=1024, hop_length=300, window=("kaiser", 8.0), pad_mode="edge"),
    dict(n_fft=256, hop_length=64, center=False),
    dict(n_fft=255, hop_length=100, window="blackman"),  # odd n_fft
    dict(n_fft=128, hop_length=200, win_length=100),  # hop > window
]
SIGNALS = ["chirp", "speech", "noise", "music"]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
@pytest.mark.parametrize("signal", SIGNALS)
def test_stft_matches_librosa(kwargs, signal, dtype):
    y = data.signal(signal, 16000, 0.5, dtype=dtype)
    ours = fastspec.stft(y, **kwargs)
    theirs = librosa.stft(y, **kwargs)
    assert ours.dtype == theirs.dtype == np.result_type(dtype, np.complex64)
    assert_close(ours, theirs, "stft")


@pytest.mark.parametrize("kwargs", CONFIGS[:4], ids=str)
def test_stft_matches_reference(kwargs, dtype):
    y = data.speech(16000, 0.7, dtype=dtype)
    assert_close(fastspec.stft(y, **kwargs), reference.stft(y, **kwargs), "stft", dtype=dtype)


def test_batched_leading_axes(dtype):
    y = np.stack([data.signal(s, 8000, 0.4, dtype=dtype) for s in SIGNALS]).reshape(2, 2, -1)
    ours = fastspec.stft(y, n_fft=256, hop_length=64)
    assert ours.shape == (2, 2, 129, 1 + y.shape[-1] // 64)
    for i in range(2):
        for j in range(2):
            assert_close(ours[i, j], librosa.stft(y[i, j], n_fft=256, hop_length=64), "stft")


@pytest.mark.parametrize("power", [1.0, 2.0, 1.5])
def test_spectrogram_is_magnitude_to_power(power, dtype):
    y = data.music(22050, 0.5, dtype=dtype)
    ours = fastspec.spectrogram(y, n_fft=1024, hop_length=256, power=power)
    expected = np.abs(librosa.stft(y, n_fft=1024, hop_length=256)) ** power
    assert ours.dtype == dtype
    assert_close(ours, expected, "spectrogram")


def test_tone_peak_is_at_its_bin():
    sr, n_fft = 16000, 1024
    freq = 50 * sr / n_fft  # exactly bin 50
    S = fastspec.spectrogram(data.tone(sr, 1.0, freq=freq, dtype=np.float64), n_fft=n_fft, hop_length=256)
    middle = S[:, 5:-5]
    assert np.all(middle.argmax(axis=0) == 50)
    # A periodic Hann window's coherent gain is 1/2: amplitude 0.5 * n_fft / 2 * 1/2.
    np.testing.assert_allclose(middle[50], 0.5 * n_fft / 4, rtol=1e-9)


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_fft=2048, hop_length=512), dict(n_fft=512, hop_length=128, window="hamming"),
     dict(n_fft=1024, hop_length=256, win_length=512), dict(n_fft=256, hop_length=64, center=False)],
    ids=str,
)
@pytest.mark.parametrize("n_samples", [16000, 16001, 12345])
def test_istft_round_trip(kwargs, n_samples, dtype):
    y = data.noise(16000, 1.1, dtype=dtype)[:n_samples]
    S = fastspec.stft(y, **kwargs)
    inverse = {k: v for k, v in kwargs.items()}
    back = fastspec.istft(S, length=n_samples, **inverse)
    assert back.dtype == dtype and back.shape == y.shape
    n_fft = kwargs["n_fft"]
    # Without centring, the first and last n_fft samples are not fully covered by windows.
    inner = slice(None) if kwargs.get("center", True) else slice(n_fft, -n_fft)
    tol = {np.float64: 1e-9, np.float32: 1e-5}[dtype.type]
    assert np.max(np.abs(back[inner] - y[inner])) <= tol * np.max(np.abs(y))


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="librosa's own numba code fails with the JIT disabled")
@pytest.mark.parametrize("length", [None, 4000, 9000, 1])
def test_istft_matches_librosa_lengths(length, dtype):
    y = data.chirp(8000, 1.0, dtype=dtype)
    S = librosa.stft(y, n_fft=512, hop_length=128)
    ours = fastspec.istft(S, hop_length=128, length=length)
    theirs = librosa.istft(S, hop_length=128, length=length)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    # Past the signal's end only window tails cover the output, and dividing by their tiny
    # sum-square amplifies float32 rounding in both libraries alike; float64 is compared whole.
    covered = slice(None) if dtype == np.float64 else slice(0, y.size)
    assert_close(ours[covered], theirs[covered], "istft", scale=float(np.max(np.abs(y))))


def test_istft_batched_matches_reference():
    y = np.stack([data.speech(16000, 0.5, dtype=np.float64), data.music(16000, 0.5, dtype=np.float64)])
    S = fastspec.stft(y, n_fft=512, hop_length=128)
    ours = fastspec.istft(S, hop_length=128)
    for i in range(2):
        assert_close(ours[i], reference.istft(S[i], hop_length=128), "istft")


def test_inputs_are_not_modified_and_views_work():
    base = data.music(16000, 1.0, dtype=np.float64)
    y = np.stack([base, base[::-1]]).T  # (n, 2): the signal axis is not last...
    view = y.T  # ...and this transposed view is non-contiguous
    frozen = view.copy()
    view.flags.writeable = False
    S = fastspec.stft(view, n_fft=512, hop_length=128)
    np.testing.assert_array_equal(view, frozen)
    assert_close(S[1], librosa.stft(np.ascontiguousarray(view[1]), n_fft=512, hop_length=128), "stft")
    strided = base[::2]
    assert_close(fastspec.stft(strided, n_fft=256), librosa.stft(np.ascontiguousarray(strided), n_fft=256), "stft")
    S_frozen = S.copy()
    S.flags.writeable = False
    fastspec.istft(S, hop_length=128)
    np.testing.assert_array_equal(S, S_frozen)


def test_short_signals():
    y = data.noise(8000, 0.01, dtype=np.float64)[:50]  # shorter than the window
    for mode in ("constant", "reflect", "edge"):
        assert_close(fastspec.stft(y, n_fft=256, hop_length=64, pad_mode=mode),
                     reference.stft(y, n_fft=256, hop_length=64, pad_mode=mode), "stft")
    exact = data.noise(8000, 0.1, dtype=np.float64)[:256]  # exactly one window
    assert fastspec.stft(exact, n_fft=256, hop_length=64, center=False).shape == (129, 1)
    single = np.array([0.5])
    assert_close(fastspec.stft(single, n_fft=8, hop_length=2, pad_mode="reflect"),
                 reference.stft(single, n_fft=8, hop_length=2, pad_mode="reflect"), "stft")


def test_window_array_and_callable():
    y = data.chirp(8000, 0.5, dtype=np.float64)
    win = np.kaiser(300, 5.0)
    assert_close(fastspec.stft(y, n_fft=512, win_length=300, window=win),
                 librosa.stft(y, n_fft=512, win_length=300, window=win), "stft")
    assert_close(fastspec.stft(y, n_fft=512, window=np.bartlett),
                 librosa.stft(y, n_fft=512, window=np.bartlett), "stft")


def test_out_argument_reuses_buffer(dtype):
    y = data.music(16000, 0.5, dtype=dtype)
    tf = Stft(n_fft=512, hop_length=128)
    first = tf.spectrogram(y)
    again = tf.spectrogram(y * 2, out=first)
    assert again is first
    assert_close(first, 2 * np.abs(librosa.stft(y, n_fft=512, hop_length=128)), "spectrogram")
    # An out with more frames than needed holds the result in its first ones (librosa's rule);
    # one with fewer is refused.
    short = tf.spectrogram(y[:1000], out=first)
    assert np.shares_memory(short, first) and short.shape == (257, 1 + 1000 // 128)
    with pytest.raises(ParameterError, match="out has shape"):
        tf.spectrogram(y, out=np.empty((257, 3), dtype=first.dtype))


def test_threads_give_identical_results():
    y = data.birdsong(44100, 3.0, dtype=np.float32)
    old = fastspec.set_num_threads(1)
    try:
        single = fastspec.spectrogram(y, n_fft=1024, hop_length=128)
        inv_single = fastspec.istft(fastspec.stft(y, n_fft=1024, hop_length=128), hop_length=128)
        fastspec.set_num_threads(2)
        np.testing.assert_array_equal(fastspec.spectrogram(y, n_fft=1024, hop_length=128), single)
        inv_double = fastspec.istft(fastspec.stft(y, n_fft=1024, hop_length=128), hop_length=128)
        assert_close(inv_double, inv_single, "istft")
    finally:
        fastspec.set_num_threads(old)


def test_non_power_of_two_n_fft_agrees_with_librosa():
    # What the removed backend test checked for FFTW, kept now that FFTW is the only backend.
    y = data.speech(16000, 0.5, dtype=np.float32)
    S = fastspec.stft(y, n_fft=400, hop_length=160)
    assert_close(S, librosa.stft(y, n_fft=400, hop_length=160), "stft")
    assert_close(fastspec.istft(S, hop_length=160, length=y.size), y, "istft")


def test_chunks_cover_every_frame_once():
    for n_frames in (1, 3, 4, 31, 32, 33, 87, 1000):
        schedule = chunks(n_frames, 32)
        covered = [t for start, _, valid in schedule for t in range(start, start + valid)]
        assert covered == list(range(n_frames))
        assert all(0 < valid <= size <= 32 for _, size, valid in schedule)
        assert all(size == valid or (valid, size) == (1, 2) for _, size, valid in schedule)


def test_wisdom_round_trip(tmp_path):
    fastspec.stft(data.noise(8000, 0.2), n_fft=128)
    path = tmp_path / "wisdom.bin"
    fastspec.export_wisdom(path)
    assert len(fastspec.import_wisdom(path)) == 3
    path.write_bytes(b"xx")
    with pytest.raises(ParameterError, match="wisdom"):
        fastspec.import_wisdom(path)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: fastspec.stft(np.array([0.0, np.nan, 1.0])), "y contains NaN or Inf"),
        (lambda: fastspec.stft(np.array([0.0, np.inf])), "y contains NaN or Inf"),
        (lambda: fastspec.stft(np.zeros(0)), "y is empty"),
        (lambda: fastspec.stft(np.zeros((3, 0))), "y is empty"),
        (lambda: fastspec.stft(np.float64(1.0)), "at least 1 dimension"),
        (lambda: fastspec.stft(np.zeros(100), n_fft=256, center=False), "fewer than n_fft=256"),
        (lambda: fastspec.stft(np.zeros(1000), hop_length=0), "hop_length=0 must be a positive integer"),
        (lambda: fastspec.stft(np.zeros(1000), hop_length=-3), "hop_length=-3 must be a positive integer"),
        (lambda: fastspec.stft(np.zeros(1000), hop_length=True), "hop_length=True must be a positive integer"),
        (lambda: fastspec.stft(np.zeros(1000), n_fft=np.bool_(True)), r"n_fft=\S*True_? must be a positive integer"),
        (lambda: fastspec.stft(np.zeros(1000), n_fft=256, win_length=512), "win_length=512 must be <= n_fft=256"),
        (lambda: fastspec.stft(np.zeros(1000), window="nonsense"), "window='nonsense'"),
        (lambda: fastspec.stft(np.zeros(1000), n_fft=256, window=np.ones(100)), r"window array has shape \(100,\)"),
        (lambda: fastspec.stft(np.zeros(1000, dtype=complex)), "y must be real-valued"),
        (lambda: fastspec.stft(np.zeros(1000, dtype=np.int16)), "floating-point audio"),
        (lambda: fastspec.stft(np.zeros(1000), pad_mode="empty"), "pad_mode='empty'"),
        (lambda: fastspec.spectrogram(np.zeros(1000), power=-1), "power=-1 must be a finite positive number"),
        (lambda: fastspec.istft(np.zeros(10, dtype=complex)), "at least 2 dimensions"),
        (lambda: fastspec.istft(np.zeros((10, 5), dtype=complex), n_fft=64), "10 frequency bins but n_fft=64 needs 33"),
        (lambda: fastspec.istft(np.full((33, 5), np.nan, dtype=complex)), "contains NaN or Inf"),
        (lambda: fastspec.istft(np.zeros((33, 5), dtype=complex), length=0), "length=0 must be a positive integer"),
        (lambda: fastspec.set_num_threads(0), "num_threads=0"),
        (lambda: fastspec.set_planner_effort("fast"), "planner effort"),
        (lambda: fastspec.set_reproducible("maybe"), "reproducible='maybe' must be true or false"),
        (lambda: fastspec.set_plan_cache_size(-1), "plan_cache_mb=-1 must be a number >= 0"),
        (lambda: fastspec.config(n_threads=2).__enter__(), "unknown settings"),
    ],
)
def test_bad_input_raises_parameter_error(call, message):
    with pytest.raises(ParameterError, match=message):
        call()
    assert issubclass(ParameterError, ValueError)


def test_builtin_cosine_windows_equal_scipy():
    import scipy.signal

    from fastspec.filters import _COSINE_WINDOWS, get_window

    for name in _COSINE_WINDOWS:
        for n in (1, 2, 3, 255, 256, 400, 2048):
            np.testing.assert_array_equal(get_window(name, n), scipy.signal.get_window(name, n, fftbins=True))


def test_float16_input_is_promoted_to_float32():
    y = data.chirp(8000, 0.3, dtype=np.float16)
    S = fastspec.stft(y, n_fft=256)
    assert S.dtype == np.complex64
    assert_close(S, librosa.stft(y.astype(np.float32), n_fft=256), "stft")
    with pytest.raises(ParameterError, match="NaN or Inf"):
        fastspec.stft(np.array([0, np.inf], dtype=np.float16))
    mag16 = np.abs(S).astype(np.float16)
    assert fastspec.istft(mag16.astype(np.complex64), length=y.size).dtype == np.float32


def test_big_endian_input_keeps_its_precision():
    y = data.music(22050, 1.0).astype(np.float64)
    S = fastspec.stft(y, n_fft=512, hop_length=128)
    big = fastspec.stft(y.astype(">f8"), n_fft=512, hop_length=128)
    assert big.dtype == np.complex128
    np.testing.assert_array_equal(big, S)
    np.testing.assert_array_equal(fastspec.istft(S.astype(">c16"), hop_length=128), fastspec.istft(S, hop_length=128))
    mag = np.abs(S)
    np.testing.assert_array_equal(fastspec.griffin_lim(mag.astype(">f8"), hop_length=128, n_iter=2, rng=0),
                                  fastspec.griffin_lim(mag, hop_length=128, n_iter=2, rng=0))


@pytest.mark.parametrize("pad_mode", ["symmetric", "linear_ramp", "wrap", "mean"])
def test_numpy_pad_modes_as_librosa_pads(pad_mode):
    # Modes the framing kernels do not have pad the signal first, exactly as numpy.pad does.
    y = fastspec.data.speech(16000, 0.5, dtype=np.float64)
    ours = fastspec.stft(y, n_fft=512, hop_length=128, pad_mode=pad_mode)
    padded = np.pad(y, 256, mode=pad_mode)
    expected = fastspec.stft(padded, n_fft=512, hop_length=128, center=False)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    assert fastspec.spectrogram(y, n_fft=512, hop_length=128, pad_mode=pad_mode).shape == ours.shape


def test_a_callable_pad_mode_and_empty_refused():
    def zeros(vector, width, axis, kwargs):
        vector[:width[0]] = 0
        vector[vector.size - width[1]:] = 0

    y = fastspec.data.speech(16000, 0.5, dtype=np.float64)
    np.testing.assert_array_equal(fastspec.stft(y, n_fft=512, pad_mode=zeros), fastspec.stft(y, n_fft=512))
    with pytest.raises(fastspec.ParameterError, match="uninitialised"):
        fastspec.stft(y, pad_mode="empty")
    with pytest.raises(fastspec.ParameterError, match="griffin_lim iterates"):
        fastspec.griffin_lim(np.abs(fastspec.stft(y, n_fft=512)), pad_mode="symmetric")


def test_out_larger_than_needed_gives_a_view_as_librosa():
    y = fastspec.data.speech(16000, 0.5)
    X = fastspec.stft(y, n_fft=512, hop_length=128)
    out = np.zeros((257, X.shape[1] + 7), dtype=np.complex64, order="F")
    got = fastspec.stft(y, n_fft=512, hop_length=128, out=out)
    assert got.shape == X.shape and np.shares_memory(got, out)
    np.testing.assert_array_equal(got, X)
    assert not out[:, X.shape[1]:].any()
    buf = np.zeros(y.size + 100, dtype=np.float32)
    back = fastspec.istft(X, hop_length=128, length=y.size, out=buf)
    assert np.shares_memory(back, buf) and back.shape == (y.size,)
    np.testing.assert_array_equal(back, fastspec.istft(X, hop_length=128, length=y.size))
    with pytest.raises(ParameterError, match="or more samples"):
        fastspec.istft(X, hop_length=128, length=y.size, out=np.zeros(10, dtype=np.float32))
