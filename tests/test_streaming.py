"""Streaming transforms: any chunking, concatenated, equals the offline transform of the whole signal."""

import numpy as np
import pytest

import fastspec
from fastspec import ParameterError, data

SETTINGS = [
    dict(n_fft=512, hop_length=160, window="hann", center=True, pad_mode="constant"),
    dict(n_fft=400, hop_length=100, window="hamming", center=True, pad_mode="reflect"),
    dict(n_fft=256, hop_length=256, window="hann", center=False),
    dict(n_fft=1024, hop_length=256, win_length=800, window=("kaiser", 8.0), center=True, pad_mode="edge"),
    dict(n_fft=300, hop_length=75, window="hann", center=True, pad_mode="symmetric"),
    dict(n_fft=256, hop_length=200, window="hann", center=True, pad_mode="reflect"),  # the end padding kept apart
]
TOL = {np.float32: 1e-6, np.float64: 1e-12}


def _chunkings(n, seed):
    """Chunk sizes covering n samples: random mixes with 0- and 1-sample pushes, and one hop-free split."""
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.choice([0, 1, 1, 7, 160, 333, 1000, 4096])))
    yield sizes
    yield [n]
    yield [1] * 700 + [n - 700]


def _pushed(stream, y, sizes):
    parts, at = [], 0
    for size in sizes:
        parts.append(stream.push(y[..., at:at + size]))
        at += size
    parts.append(stream.flush())
    assert at >= y.shape[-1]
    return np.concatenate(parts, axis=-1)


def _close(ours, offline, dtype):
    assert ours.shape == offline.shape and ours.dtype == offline.dtype
    err = float(np.max(np.abs(ours - offline)) / np.max(np.abs(offline)))
    assert err <= TOL[dtype], err


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", range(len(SETTINGS)))
def test_streaming_stft_equals_offline(setting, dtype):
    kw = SETTINGS[setting]
    y = data.speech(16000, 1.3, seed=setting).astype(dtype)
    offline = fastspec.stft(y, **kw)
    stream = fastspec.StreamingStft(**kw)
    for sizes in _chunkings(y.size, setting):
        _close(_pushed(stream, y, sizes), offline, dtype)  # flush starts the stream anew: reused here


@pytest.mark.parametrize("lead", [(2,), (2, 3)])
def test_batched_streams_equal_each_signal_offline(lead):
    y = data.noise(8000, 0.7, dtype=np.float32) * np.arange(1, 1 + int(np.prod(lead)), dtype=np.float32).reshape(
        lead + (1,))
    kw = dict(n_fft=512, hop_length=128)
    ours = _pushed(fastspec.StreamingStft(**kw), y, next(_chunkings(y.shape[-1], 3)))
    _close(ours, fastspec.stft(y, **kw), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streaming_log_mel_and_mfcc_equal_offline(dtype):
    y = data.speech(16000, 1.5, seed=4).astype(dtype)
    mel_kw = dict(sr=16000, n_fft=512, hop_length=160, n_mels=80, log="db", top_db=None)
    for stream, offline in [
        (fastspec.StreamingMelSpectrogram(**mel_kw), fastspec.MelSpectrogram(**mel_kw)(y)),
        (fastspec.StreamingMelSpectrogram(sr=16000, n_mels=40, pad_mode="reflect"),
         fastspec.MelSpectrogram(sr=16000, n_mels=40, pad_mode="reflect")(y)),
        (fastspec.StreamingMFCC(sr=16000, n_mfcc=13, top_db=None), fastspec.MFCC(sr=16000, n_mfcc=13, top_db=None)(y)),
    ]:
        for sizes in _chunkings(y.size, 5):
            ours = _pushed(stream, y, sizes)
            assert ours.shape == offline.shape and ours.dtype == offline.dtype
            # dB and cepstra: absolute, against the values' own scale (a few hundred dB at most)
            assert np.max(np.abs(ours - offline)) <= 1e3 * TOL[dtype] * np.max(np.abs(offline))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("setting", [0, 2, 3])
def test_streaming_istft_equals_offline(setting, dtype):
    kw = {k: v for k, v in SETTINGS[setting].items() if k != "pad_mode"}
    y = data.speech(16000, 1.1, seed=setting)
    S = fastspec.stft(y.astype(np.float64), **kw).astype(dtype)
    offline = fastspec.istft(S, **kw)
    stream = fastspec.StreamingIstft(**kw)
    rng = np.random.default_rng(setting)
    parts, t = [], 0
    while t < S.shape[-1]:
        k = int(rng.choice([0, 1, 1, 2, 5, 17]))
        parts.append(stream.push(S[..., t:t + k]))
        t += k
    parts.append(stream.flush())
    ours = np.concatenate(parts)
    if dtype == np.complex128:
        _close(ours, offline, np.float64)
        return
    # float32: where the window sum-square is tiny (hop == n_fft with a Hann window, uncentred ends)
    # 1 / sum-square multiplies any FFT's float32 rounding by up to 1e7, offline's too. So float32 is
    # held to the float64 result, as accurately as the offline float32 istft is.
    exact = fastspec.istft(S.astype(np.complex128), **kw)
    assert ours.shape == offline.shape and ours.dtype == offline.dtype == np.float32
    own = np.max(np.abs(offline - exact))
    assert np.max(np.abs(ours - exact)) <= 2 * own + 1e-6 * np.max(np.abs(exact))


def test_analysis_latency_is_exact():
    # Frame t comes out with the push of its last sample, t * hop + n_fft - 1 - padding.
    for center, pad_mode in [(False, "constant"), (True, "constant"), (True, "reflect")]:
        n_fft, hop = 256, 64
        pad = n_fft // 2 if center else 0
        reach = {"constant": 0, "reflect": pad + 1}[pad_mode] if center else 0
        stream = fastspec.StreamingStft(n_fft=n_fft, hop_length=hop, center=center, pad_mode=pad_mode)
        y = data.noise(8000, 0.2)
        emitted = 0
        for i in range(y.size):
            emitted += stream.push(y[i:i + 1]).shape[-1]
            expected = max(0, (i + 1 + pad - n_fft) // hop + 1) if i + 1 >= reach else 0
            assert emitted == expected, (center, pad_mode, i)


def test_synthesis_latency_is_exact():
    n_fft, hop = 512, 128
    stream = fastspec.StreamingIstft(n_fft=n_fft, hop_length=hop, center=False)
    S = fastspec.stft(data.noise(8000, 0.5), n_fft=n_fft, hop_length=hop, center=False)
    total = 0
    for t in range(S.shape[-1]):
        total += stream.push(S[:, t:t + 1]).size
        assert total == (t + 1) * hop  # everything before frame t + 1's first sample
    assert total + stream.flush().size == n_fft + hop * (S.shape[-1] - 1)


def test_copy_forks_a_stream():
    y = data.speech(16000, 1.0, seed=2)
    stream = fastspec.StreamingMelSpectrogram(sr=16000, log="db", top_db=None)
    head = stream.push(y[:7000])
    twin = stream.copy()
    a = np.concatenate([head, stream.push(y[7000:]), stream.flush()], axis=-1)
    b = np.concatenate([head, twin.push(y[7000:]), twin.flush()], axis=-1)
    assert np.array_equal(a, b)


def test_what_cannot_stream_is_refused():
    with pytest.raises(ParameterError, match="top_db"):
        fastspec.StreamingMelSpectrogram(sr=16000, log="db")  # librosa's 80 dB clip needs the whole signal
    with pytest.raises(ParameterError, match="top_db"):
        fastspec.StreamingMFCC(sr=16000)
    with pytest.raises(ParameterError, match="ref"):
        fastspec.StreamingMelSpectrogram(log="db", ref=np.max, top_db=None)
    with pytest.raises(ParameterError, match="pad_mode"):
        fastspec.StreamingStft(pad_mode="wrap")
    with pytest.raises(ParameterError, match="cannot stream"):
        fastspec.StreamingMelSpectrogram(preset="psf")
    stream = fastspec.StreamingStft(n_fft=256)
    stream.push(np.zeros(100, np.float32))
    with pytest.raises(ParameterError, match="chunk"):
        stream.push(np.zeros((2, 100), np.float32))
    with pytest.raises(ParameterError, match="chunk"):
        stream.push(np.zeros(100, np.float64))


def test_streams_on_many_threads_give_what_each_gives_alone():
    from concurrent.futures import ThreadPoolExecutor

    kw = dict(sr=16000, n_fft=512, hop_length=160, n_mels=80, log="db", top_db=None)
    signals = [data.speech(16000, 0.8, seed=s) for s in range(8)]
    alone = [_pushed(fastspec.StreamingMelSpectrogram(**kw), y, [160] * (y.size // 160 + 1)) for y in signals]
    shared_config = fastspec.StreamingMelSpectrogram(**kw)

    def run(i):
        stream = shared_config.copy()  # one stream per thread, forked from one object
        return _pushed(stream, signals[i], [160] * (signals[i].size // 160 + 1))

    for _ in range(3):
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(run, range(8)))
        assert all(np.array_equal(a, b) for a, b in zip(results, alone, strict=True))


def _rtpghi_and_offline(y, lookahead=1):
    kw = dict(n_fft=1024, hop_length=256)
    S = np.abs(fastspec.stft(y.astype(np.float64), **kw))
    offline = fastspec.istft(fastspec.pghi(S, **kw), **kw)
    stream = fastspec.StreamingPghi(lookahead=lookahead, **kw)
    rng = np.random.default_rng(0)
    parts, t = [], 0
    while t < S.shape[-1]:
        k = int(rng.choice([0, 1, 1, 3]))
        parts.append(stream.push(S[:, t:t + k]))
        t += k
    parts.append(stream.flush())
    ours = np.concatenate(parts)
    assert ours.shape == offline.shape
    return fastspec.spectral_convergence(S, ours, **kw), fastspec.spectral_convergence(S, offline, **kw)


@pytest.mark.parametrize("signal", ["chirp", "music"])
def test_rtpghi_is_within_2_db_of_offline_pghi(signal):
    ours, offline = _rtpghi_and_offline(getattr(data, signal)(22050, 2.0))
    assert ours <= offline + 2.0, (ours, offline)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rtpghi_on_speech_is_within_2_db_of_offline_pghi(seed):
    # Voiced speech has a large DC lobe; with the DC bin's phase left where its first frame put it,
    # seed 1 was 2.8 dB and seed 3 4.0 dB behind offline PGHI. Measured now: 0.2, -1.6, 0.0 dB.
    ours, offline = _rtpghi_and_offline(data.speech(22050, 3.0, seed=seed))
    assert ours <= offline + 2.0, (ours, offline)
    assert ours < -23.0


def test_rtpghi_keeps_the_dc_and_nyquist_coefficients_real():
    y = data.speech(22050, 1.0, seed=1)
    S = np.abs(fastspec.stft(y.astype(np.float64), n_fft=1024, hop_length=256))
    stream = fastspec.StreamingPghi(n_fft=1024, hop_length=256)
    frames = []
    for t in range(S.shape[1]):
        stream.push(S[:, t:t + 1])
        if stream._prev is not None:
            frames.append(stream._prev[1].copy())
    slope = 2 * np.pi * fastspec.phase.window_centre(stream.stft) / 1024
    for k in (0, 512):
        from_start = np.array([p[k] for p in frames]) - slope * k
        np.testing.assert_allclose(np.sin(from_start), 0.0, atol=1e-9)


def test_rtpghi_without_lookahead_still_reconstructs():
    ours, _ = _rtpghi_and_offline(data.music(22050, 2.0), lookahead=0)
    assert ours < -12.0  # measured -14.0 (offline PGHI -15.5)
