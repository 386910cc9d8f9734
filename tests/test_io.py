"""fastspec.io: audio reading (formats, channels, resampling, blocks) and feature files."""

import hashlib
import os

import numpy as np
import pytest
import soundfile as sf
import soxr

from fastspec import ParameterError
from fastspec import io as fio


def _signal(n, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    y = 0.4 * rng.standard_normal((n, channels))
    return np.clip(y, -0.99, 0.99)


@pytest.mark.parametrize("fmt, subtype, resolution", [
    ("WAV", "PCM_16", 2.0 ** -15), ("WAV", "PCM_24", 2.0 ** -23), ("WAV", "PCM_32", 2.0 ** -31),
    ("WAV", "FLOAT", 0.0), ("FLAC", "PCM_16", 2.0 ** -15), ("FLAC", "PCM_24", 2.0 ** -23),
])
def test_load_pcm_formats_scale_to_unit_range(tmp_path, fmt, subtype, resolution):
    y = _signal(4000)[:, 0]
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, y, 16000, format=fmt, subtype=subtype)
    out, sr = fio.load(path)
    assert sr == 16000 and out.dtype == np.float32 and out.shape == (4000,)
    # Integer PCM is quantised to the format's step; reading scales back by 2**(bits-1).
    assert np.max(np.abs(out - y)) <= resolution + 1e-7
    out64, _ = fio.load(path, dtype=np.float64)
    assert out64.dtype == np.float64 and np.max(np.abs(out64 - y)) <= resolution + 1e-7


def test_load_int16_exact_values(tmp_path):
    pcm = np.array([0, 16384, -32768, 32767, -1], dtype=np.int16)
    sf.write(tmp_path / "a.wav", pcm, 8000, subtype="PCM_16")
    y, _ = fio.load(tmp_path / "a.wav")
    np.testing.assert_array_equal(y, pcm.astype(np.float32) / 32768)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pcm16_reads_as_libsndfile_scales(tmp_path, fmt, dtype):
    y = _signal(30000, channels=2)
    sf.write(tmp_path / f"a.{fmt.lower()}", y, 16000, format=fmt, subtype="PCM_16")
    expected = sf.read(tmp_path / f"a.{fmt.lower()}", dtype=np.dtype(dtype).name)[0]
    out, _ = fio.load(tmp_path / f"a.{fmt.lower()}", channels="all", dtype=dtype)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected.T)


def test_load_ogg_vorbis(tmp_path):
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "a.ogg", 0.5 * np.sin(2 * np.pi * 440 * t), 16000, format="OGG", subtype="VORBIS")
    y, sr = fio.load(tmp_path / "a.ogg")
    assert sr == 16000 and abs(y.size - 16000) < 1024
    peak = np.argmax(np.abs(np.fft.rfft(y)))
    assert abs(peak * sr / y.size - 440) < 3


def test_channels_mix_first_all(tmp_path):
    y = _signal(3000, channels=3)
    sf.write(tmp_path / "s.wav", y, 22050, subtype="FLOAT")
    data = sf.read(tmp_path / "s.wav", dtype="float32")[0]
    mix, _ = fio.load(tmp_path / "s.wav", channels="mix")
    first, _ = fio.load(tmp_path / "s.wav", channels="first")
    every, _ = fio.load(tmp_path / "s.wav", channels="all")
    np.testing.assert_array_equal(mix, data.mean(axis=1))
    np.testing.assert_array_equal(first, data[:, 0])
    assert every.shape == (3, 3000) and every.flags.c_contiguous
    np.testing.assert_array_equal(every, data.T)


def test_resampling_is_soxr_hq(tmp_path):
    y = _signal(44100)[:, 0].astype(np.float32)
    sf.write(tmp_path / "a.wav", y, 44100, subtype="FLOAT")
    out, sr = fio.load(tmp_path / "a.wav", sr=16000)
    assert sr == 16000
    np.testing.assert_array_equal(out, soxr.resample(y, 44100, 16000, quality="HQ"))
    assert out.size == fio.resampled_length(44100, 44100, 16000)


@pytest.mark.parametrize("sr, channels", [(None, "mix"), (16000, "mix"), (32000, "all"), (None, "all")])
def test_stream_blocks_concatenate_to_load(tmp_path, sr, channels):
    y = _signal(50021, channels=2, seed=3)
    sf.write(tmp_path / "a.flac", y, 22050, subtype="PCM_24")
    whole, rate = fio.load(tmp_path / "a.flac", sr=sr, channels=channels)
    with fio.AudioStream(tmp_path / "a.flac", sr=sr, channels=channels, block_size=4096) as stream:
        blocks = list(stream)
        assert stream.sr == rate and stream.n_samples == whole.shape[-1]
    assert len(blocks) > 5
    np.testing.assert_array_equal(np.concatenate(blocks, axis=-1), whole)


def test_zero_length_file_loads_empty(tmp_path):
    sf.write(tmp_path / "z.wav", np.zeros((0, 2)), 16000)
    y, sr = fio.load(tmp_path / "z.wav")
    assert y.shape == (0,) and sr == 16000
    y, _ = fio.load(tmp_path / "z.wav", channels="all")
    assert y.shape == (2, 0)
    assert fio.info(tmp_path / "z.wav").duration == 0.0


def test_info(tmp_path):
    sf.write(tmp_path / "a.flac", _signal(8000, 2), 16000, subtype="PCM_16")
    meta = fio.info(tmp_path / "a.flac")
    assert (meta.samplerate, meta.frames, meta.channels) == (16000, 8000, 2)
    assert (meta.format, meta.subtype) == ("FLAC", "PCM_16")
    assert meta.duration == 0.5


def test_unreadable_files_name_path_and_reason(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "bad.wav").write_bytes(b"RIFF" + os.urandom(200))
    with pytest.raises(fio.AudioFileError, match=r"empty\.wav: empty file \(0 bytes\)"):
        fio.load(tmp_path / "empty.wav")
    with pytest.raises(fio.AudioFileError, match=r"bad\.wav: not readable as audio"):
        fio.info(tmp_path / "bad.wav")
    with pytest.raises(fio.AudioFileError, match=r"missing\.wav: No such file"):
        fio.load(tmp_path / "missing.wav")
    err = pytest.raises(fio.AudioFileError, fio.load, tmp_path / "bad.wav").value
    assert err.path == str(tmp_path / "bad.wav") and isinstance(err, OSError)


def test_bad_options(tmp_path):
    sf.write(tmp_path / "a.wav", _signal(100), 8000)
    with pytest.raises(ParameterError, match="channels='left' must be one of"):
        fio.load(tmp_path / "a.wav", channels="left")
    with pytest.raises(ParameterError, match="dtype=int16 must be float32 or float64"):
        fio.load(tmp_path / "a.wav", dtype=np.int16)
    with pytest.raises(ParameterError, match="quality='best' must be one of"):
        fio.load(tmp_path / "a.wav", quality="best")
    with pytest.raises(ParameterError, match="sr=0 must be a positive integer"):
        fio.load(tmp_path / "a.wav", sr=0)
    with pytest.raises(ParameterError, match="block_size=0 must be a positive integer"):
        fio.AudioStream(tmp_path / "a.wav", block_size=0)


# ----- feature files ---------------------------------------------------------------------------
def _frames_major(shape, dtype=np.float32, seed=0):
    """An array laid out as fastspec returns features: frames are the outer axis in memory."""
    rng = np.random.default_rng(seed)
    return np.swapaxes(rng.standard_normal(shape[:-2] + shape[-1:] + shape[-2:-1]).astype(dtype), -1, -2)


def test_npy_writer_blocks_equal_np_save_bytes(tmp_path):
    S = _frames_major((80, 1000))
    writer = fio.NpyWriter(tmp_path / "a.npy", (), 80, 1000, np.float32)
    for start in range(0, 1000, 256):
        writer.write(S[:, start:start + 256])
    assert not (tmp_path / "a.npy").exists()  # only the temporary name until commit
    writer.commit()
    np.save(tmp_path / "b.npy", S)
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "b.npy"]


def test_npy_writer_multichannel_and_header_fix(tmp_path):
    S = _frames_major((2, 13, 70), np.float64)
    # Announce more frames than written, with a header of another length (99999 -> 70 digits).
    writer = fio.NpyWriter(tmp_path / "a.npy", (2,), 13, 99999, np.float64)
    writer.write(S[..., :30])
    writer.write(S[..., 30:])
    writer.commit()
    back = np.load(tmp_path / "a.npy")
    assert back.shape == (2, 13, 70) and back.dtype == np.float64
    np.testing.assert_array_equal(back, S)
    blocks = list(fio.iter_frames(tmp_path / "a.npy", 32))
    assert [b.shape for b in blocks] == [(2, 13, 32), (2, 13, 32), (2, 13, 6)]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=-1), S)


def test_npy_writer_abort_leaves_nothing(tmp_path):
    writer = fio.NpyWriter(tmp_path / "a.npy", (), 4, 10, np.float32)
    writer.write(np.zeros((4, 5), np.float32))
    writer.abort()
    assert os.listdir(tmp_path) == []


def test_save_feature_atomic_with_checksum(tmp_path):
    S = _frames_major((20, 50))
    digest = fio.save_feature(tmp_path / "a.npy", S)
    assert digest == hashlib.sha256((tmp_path / "a.npy").read_bytes()).hexdigest()
    assert digest == fio.sha256_file(tmp_path / "a.npy")
    np.testing.assert_array_equal(fio.load_feature(tmp_path / "a.npy"), S)
    fio.save_feature(tmp_path / "a.npz", S, sr=16000, hop_length=160)
    np.testing.assert_array_equal(fio.load_feature(tmp_path / "a.npz"), S)
    with np.load(tmp_path / "a.npz") as z:
        assert int(z["sr"]) == 16000 and int(z["hop_length"]) == 160
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "a.npz"]


def test_npz_from_npy_and_bad_feature_files(tmp_path):
    S = _frames_major((3, 9))
    fio.save_feature(tmp_path / "a.npy", S)
    fio.npy_to_npz(tmp_path / "a.npy", tmp_path / "b.npz", sr=8000)
    np.testing.assert_array_equal(fio.load_feature(tmp_path / "b.npz"), S)
    np.savez(tmp_path / "c.npz", other=S)
    with pytest.raises(ParameterError, match=r"c\.npz: no 'feature' array \(has other\)"):
        fio.load_feature(tmp_path / "c.npz")
    with pytest.raises(ParameterError, match=r"must end in \.npy or \.npz"):
        fio.save_feature(tmp_path / "a.bin", S)
    np.save(tmp_path / "c_order.npy", np.ascontiguousarray(S))
    with pytest.raises(ParameterError, match="not a frames-major feature file"):
        list(fio.iter_frames(tmp_path / "c_order.npy", 4))
