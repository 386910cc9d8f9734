"""fastspec.batch: tree conversion, failures, resume, interruption, Dask, long files in blocks."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numba
import numpy as np
import pytest
import soundfile as sf

from fastspec import ParameterError, batch, feature
from fastspec import io as fio
from fastspec.decibel import power_to_db
from fastspec.stft import spectrogram

PARAMS = dict(n_fft=512, hop_length=128, n_mels=40)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tone_noise(sr, seconds, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * (300 + 200 * seed) * t * (1 + 0.2 * t))[:, None] + 0.05 * rng.standard_normal(
        (t.size, channels))
    return y if channels > 1 else y[:, 0]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Nested folders, several rates, mono/stereo, int16/24/float, one corrupt, one empty, one zero-length."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    sf.write(root / "a" / "one.wav", _tone_noise(22050, 3.0, seed=1), 22050, subtype="PCM_16")
    sf.write(root / "a" / "two.flac", _tone_noise(16000, 2.0, channels=2, seed=2), 16000, subtype="PCM_24")
    sf.write(root / "a" / "b" / "three.wav", _tone_noise(44100, 2.5, channels=2, seed=3), 44100, subtype="FLOAT")
    sf.write(root / "c" / "four.wav", _tone_noise(8000, 1.0, seed=4), 8000, subtype="FLOAT")
    sf.write(root / "c" / "zero.wav", np.zeros(0), 16000)
    (root / "c" / "empty.wav").write_bytes(b"")
    (root / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    (root / "notes.txt").write_text("not audio\n")
    return root


GOOD = ["a/one.wav", "a/two.flac", "a/b/three.wav", "c/four.wav", "c/zero.wav"]
BAD = {"c/empty.wav": "empty file (0 bytes)", "corrupt.wav": "not readable as audio"}


def _expected_logmel(path, **params):
    y, sr = fio.load(path)
    with batch.deterministic_fft():
        if y.size == 0:
            return np.zeros((params.get("n_mels", 128), 0), np.float32)
        return feature.melspectrogram(y, sr=sr, log="db", **params)


def _npy_bytes(array):
    # Outputs are C-ordered (fortran_order False), as loaders expect.
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array))
    return buf.getvalue()


def _outputs(outdir):
    found = {}
    for folder, _, files in os.walk(outdir):
        for name in files:
            if name.endswith(".npy"):
                path = os.path.join(folder, name)
                found[os.path.relpath(path, outdir)] = open(path, "rb").read()
    return found


@pytest.fixture(scope="module")
def converted(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    log = io.StringIO()
    summary = batch.convert(tree, out, feature="logmel", workers=2, log=log, **PARAMS)
    return out, summary, log.getvalue()


def test_tree_converts_to_library_results(tree, converted):
    out, summary, log = converted
    assert sorted(summary.converted) == sorted(str(tree / p) for p in GOOD)
    assert summary.skipped == [] and not summary.interrupted
    assert sorted(_outputs(out)) == sorted(p.rsplit(".", 1)[0] + ".npy" for p in GOOD)
    for rel in GOOD:
        got = (out / (rel.rsplit(".", 1)[0] + ".npy")).read_bytes()
        # Byte for byte what np.save writes for the library's own result.
        assert got == _npy_bytes(_expected_logmel(tree / rel, **PARAMS)), rel
    zero = np.load(out / "c" / "zero.npy")
    assert zero.shape == (40, 0) and zero.dtype == np.float32


def test_failures_reported_with_path_and_reason(tree, converted):
    out, summary, log = converted
    failed = dict(summary.failed)
    assert sorted(failed) == sorted(str(tree / p) for p in BAD)
    for rel, reason in BAD.items():
        assert reason in failed[str(tree / rel)]
        assert f"FAILED {tree / rel}: {reason}" in log
    assert "2 failed" in str(summary)


def test_manifest_lists_every_output(tree, converted):
    out, summary, _ = converted
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [e["input"] for e in lines] == [str(tree / p) for p in ("a/b/three.wav", "a/one.wav", "a/two.flac",
                                                                     "c/four.wav", "c/zero.wav")]
    for e in lines:
        data = np.load(out / e["output"])
        assert list(data.shape) == e["shape"] and e["dtype"] == str(data.dtype)
        assert e["sha256"] == fio.sha256_file(out / e["output"])
        assert e["sr"] == sf.info(e["input"]).samplerate
        assert e["duration"] == pytest.approx(sf.info(e["input"]).duration)
        # Every parameter, resolved (librosa's defaults for those not given).
        assert e["params"] == {"feature": "logmel", **PARAMS, "sr": None, "channels": "mix", "dtype": "float32",
                               "win_length": 512, "window": "hann", "center": True, "pad_mode": "constant",
                               "power": 2.0, "fmin": 0.0, "fmax": None, "htk": False, "preemphasis": 0.0,
                               "preset": "librosa", "norm": "slaney", "amin": 1e-10, "top_db": 80.0}


def test_second_run_does_nothing(tree, converted):
    out, _, _ = converted
    stamps = {p: os.stat(out / p).st_mtime_ns for p in _outputs(out)}
    manifest = (out / "manifest.jsonl").read_bytes()
    again = batch.convert(tree, out, feature="logmel", workers=2, progress=False, **PARAMS)
    assert again.converted == [] and len(again.skipped) == len(GOOD) and len(again.failed) == len(BAD)
    assert {p: os.stat(out / p).st_mtime_ns for p in _outputs(out)} == stamps
    assert (out / "manifest.jsonl").read_bytes() == manifest


def test_dask_gives_identical_bytes(tree, converted, tmp_path):
    distributed = pytest.importorskip("distributed")
    out, _, _ = converted
    summary = batch.convert(tree, tmp_path / "local", feature="logmel", workers=2, dask_local=True, progress=False,
                            **PARAMS)
    assert len(summary.converted) == len(GOOD) and len(summary.failed) == len(BAD)
    assert _outputs(tmp_path / "local") == _outputs(out)
    # An existing cluster, by its scheduler's address; its workers run without Dask's malloc trim.
    with batch.local_cluster(1) as cluster, distributed.Client(cluster) as client:
        assert list(client.run(os.getenv, "MALLOC_TRIM_THRESHOLD_").values()) == [None]
        summary = batch.convert(tree, tmp_path / "remote", feature="logmel", scheduler=cluster.scheduler_address,
                                progress=False, **PARAMS)
    assert len(summary.converted) == len(GOOD)
    assert _outputs(tmp_path / "remote") == _outputs(out)


def test_local_cluster_workers_run_without_malloc_trim_left_by_an_earlier_cluster(monkeypatch):
    distributed = pytest.importorskip("distributed")
    # What a plain distributed.LocalCluster started in this process leaves in its environment.
    # (os.getenv runs on the worker; os.environ.get would carry this process's environ along.)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with batch.local_cluster(1) as cluster, distributed.Client(cluster) as client:
        assert list(client.run(os.getenv, "MALLOC_TRIM_THRESHOLD_").values()) == [None]
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # this process's own setting is left as it was


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream", [io.StringIO, _Terminal], ids=["log", "terminal"])
def test_progress_bar_on_terminal_log_lines_otherwise(tree, tmp_path, stream):
    log = stream()
    batch.convert(tree / "a", tmp_path, feature="mel", workers=1, log=log, **PARAMS)
    text = log.getvalue()
    if stream is _Terminal:
        assert "\r" in text and "h audio" in text and "3/3 files" in text and "x real time" in text
    else:
        assert "\r" not in text
        assert "fastspec convert: 3/3 files, 0.002/0.002 h audio, " in text and "x real time, ETA 0 s" in text


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_other_start_methods_give_identical_bytes(tree, converted, tmp_path, method):
    out, _, _ = converted
    batch.convert(tree / "c", tmp_path, feature="logmel", workers=1, start_method=method, progress=False, **PARAMS)
    assert _outputs(tmp_path) == {k[2:]: v for k, v in _outputs(out).items() if k.startswith("c/")}


def test_overwrite_redoes_and_other_parameters_are_refused(tree, converted, tmp_path):
    out, _, _ = converted
    with pytest.raises(ParameterError, match="holds outputs made with other parameters"):
        batch.convert(tree, out, feature="logmel", workers=1, progress=False, n_fft=1024)
    small = tmp_path / "one"
    batch.convert(tree / "a" / "one.wav", small, feature="logmel", workers=1, progress=False, **PARAMS)
    redo = batch.convert(tree / "a" / "one.wav", small, feature="logmel", workers=1, progress=False, overwrite=True,
                         n_fft=1024)
    assert redo.converted == [str(tree / "a" / "one.wav")]
    assert np.load(small / "one.npy").shape[0] == 128


def test_npz_and_csv_manifest(tree, tmp_path):
    summary = batch.convert(tree / "a", tmp_path, feature="spectrogram", format="npz", manifest="csv", workers=1,
                            progress=False, n_fft=256, hop_length=64)
    assert len(summary.converted) == 3
    with np.load(tmp_path / "b" / "three.npz") as z:
        y, sr = fio.load(tree / "a" / "b" / "three.wav")
        with batch.deterministic_fft():
            np.testing.assert_array_equal(z["feature"], spectrogram(y, n_fft=256, hop_length=64))
        assert int(z["sr"]) == 44100 and int(z["hop_length"]) == 64
    rows = (tmp_path / "manifest.csv").read_text().splitlines()
    assert rows[0] == "input,output,sr,hop_length,duration,shape,dtype,feature,params,sha256"
    assert len(rows) == 4 and "b/three.npz,44100,64,2.5,129x1723,float32,spectrogram" in rows[1]


def test_inputs_glob_list_files_and_collisions(tree, tmp_path):
    found = batch.find_inputs(tree)
    assert sorted(os.path.relpath(p, tree) for p, _ in found) == sorted(GOOD + list(BAD))
    assert [os.path.relpath(p, tree) for p, _ in batch.find_inputs(tree, glob="*.flac")] == ["a/two.flac"]
    listing = tmp_path / "files.txt"
    listing.write_text(f"# two files\n{tree / 'a' / 'one.wav'}\n{os.path.relpath(tree / 'c' / 'four.wav', tmp_path)}\n")
    assert [p for p, _ in batch.find_inputs(listing)] == [str(tree / "a" / "one.wav"), str(tree / "c" / "four.wav")]
    (tmp_path / "x").mkdir()
    sf.write(tmp_path / "x" / "s.wav", np.zeros(100), 8000)
    sf.write(tmp_path / "x" / "s.flac", np.zeros(100), 8000)
    sf.write(tmp_path / "x" / "t.wav", np.zeros(100), 8000)
    sf.write(tmp_path / "x" / "t.ogg", np.zeros(100), 8000)
    # Every clash in one report, not one per run.
    with pytest.raises(ParameterError, match=r"2 output\(s\) would be written twice") as info:
        batch.convert(tmp_path / "x", tmp_path / "out", workers=1, progress=False)
    assert "s.npy" in str(info.value) and "t.npy" in str(info.value) and "--keep-extension" in str(info.value)
    summary = batch.convert(tmp_path / "x", tmp_path / "out", workers=1, progress=False, keep_extension=True)
    assert sorted(batch.read_manifest(tmp_path / "out")) == ["s.flac.npy", "s.wav.npy", "t.ogg.npy", "t.wav.npy"]
    assert len(summary.converted) == 4
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="no audio files found"):
        batch.convert(tmp_path / "empty", tmp_path / "out2", workers=1, progress=False)
    with pytest.raises(ParameterError, match="input '.*nowhere' does not exist"):
        batch.convert(tmp_path / "nowhere", tmp_path / "out", workers=1)


def test_bad_parameters(tree, tmp_path):
    with pytest.raises(ParameterError, match="feature='cqt' must be one of"):
        batch.convert(tree, tmp_path, feature="cqt")
    with pytest.raises(ParameterError, match="feature='spectrogram' takes no parameter n_mels"):
        batch.convert(tree, tmp_path, feature="spectrogram", n_mels=40)
    with pytest.raises(ParameterError, match="block_frames=1000 must be a multiple of 256"):
        batch.convert(tree, tmp_path, block_frames=1000)
    with pytest.raises(ParameterError, match="hop_length=0 must be a positive integer"):
        batch.convert(tree, tmp_path, hop_length=0)
    with pytest.raises(ParameterError, match="format='wav' must be one of 'npy', 'npz', 'shards', 'zarr'"):
        batch.convert(tree, tmp_path, format="wav")
    with pytest.raises(ParameterError, match="workers=0 must be a positive integer"):
        batch.convert(tree, tmp_path, workers=0)
    with pytest.raises(ParameterError, match="at most one of client, scheduler and dask_local"):
        batch.convert(tree, tmp_path, scheduler="tcp://localhost:1", dask_local=True)
    assert not os.listdir(tmp_path)  # nothing written before the parameters are checked


def test_per_file_parameter_error_is_a_failure(tree, tmp_path):
    # fmax=6000 is fine at 22.05 kHz but above the Nyquist frequency of the 8 kHz file.
    summary = batch.convert(tree / "c" / "four.wav", tmp_path, feature="mel", workers=1, progress=False, fmax=6000.0)
    assert summary.converted == [] and summary.failed[0][0] == str(tree / "c" / "four.wav")
    assert "fmax" in summary.failed[0][1]


# ----- long files in blocks ---------------------------------------------------------------------
BLOCK_CASES = [
    ("spectrogram", {}, dict(n_fft=1024, hop_length=256)),
    ("logspec", {}, dict(n_fft=1024, hop_length=256, top_db=60.0)),
    ("logmel", {}, dict(n_fft=1024, hop_length=256, n_mels=64)),
    ("logmel", {"channels": "all"}, dict(n_fft=1024, hop_length=256, n_mels=64)),
    ("logmel", {"sr": 16000}, dict(n_fft=512, hop_length=160, n_mels=40)),
    ("logmel", {}, dict(preset="torchaudio", n_fft=400, n_mels=64, top_db=80.0)),
    ("mel", {}, dict(n_fft=2048, hop_length=256, center=False)),
    ("mfcc", {}, dict(n_fft=1024, hop_length=256, n_mfcc=13)),
    ("mfcc", {"dtype": "float64"}, dict(n_fft=1024, hop_length=300, n_mels=40, top_db=None)),
]


@pytest.mark.parametrize("name, options, params", BLOCK_CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1].values())) or c[2].get('preset', 'x')}"
                              for c in BLOCK_CASES])
def test_long_file_in_blocks_equals_whole_file(tmp_path, name, options, params):
    path = tmp_path / "long.flac"
    sf.write(path, _tone_noise(22050, 20.3, channels=2, seed=5), 22050, subtype="PCM_24")
    outputs = {}
    for block_frames in (256, 1 << 20):
        job = batch.Job(name, tuple(sorted(params.items())), options.get("sr"), options.get("channels", "mix"),
                        options.get("dtype", "float32"), "npy", block_frames)
        dst = tmp_path / f"{block_frames}.npy"
        with batch.deterministic_fft():
            fields = batch.convert_file(job, str(path), str(dst))
        outputs[block_frames] = np.load(dst)
        assert list(outputs[block_frames].shape) == fields["shape"]
        assert fields["sha256"] == fio.sha256_file(dst)
    blocked, whole = outputs[256], outputs[1 << 20]
    assert blocked.shape[-1] > 4 * 256  # really several blocks
    assert blocked.dtype == whole.dtype == np.dtype(options.get("dtype", "float32"))
    np.testing.assert_array_equal(blocked, whole)
    assert sorted(os.listdir(tmp_path)) == ["1048576.npy", "256.npy", "long.flac"]  # no scratch left


def test_long_file_in_blocks_to_npz(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, _tone_noise(16000, 12.0, seed=7), 16000, subtype="PCM_16")
    job = batch.Job("logmel", (("hop_length", 128), ("n_fft", 512)), None, "mix", "float32", "npz", 256)
    with batch.deterministic_fft():
        batch.convert_file(job, str(path), str(tmp_path / "long.npz"))
        y, sr = fio.load(path)
        expected = feature.melspectrogram(y, sr=sr, n_fft=512, hop_length=128, log="db")
    np.testing.assert_array_equal(fio.load_feature(tmp_path / "long.npz"), expected)
    assert sorted(os.listdir(tmp_path)) == ["long.npz", "long.wav"]


def test_whole_file_path_equals_library(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, _tone_noise(22050, 4.0, channels=2, seed=6), 22050, subtype="PCM_16")
    y, _ = fio.load(path, channels="all")
    job = batch.Job("logspec", (("hop_length", 256), ("n_fft", 1024)), None, "all", "float32", "npy", 1 << 20)
    with batch.deterministic_fft():
        batch.convert_file(job, str(path), str(tmp_path / "a.npy"))
        expected = power_to_db(spectrogram(y, n_fft=1024, hop_length=256, power=2.0))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), expected)


def test_seed_features_equal_compat(tree, tmp_path):
    compat = pytest.importorskip("fastspec.compat")
    summary = batch.convert(tree / "a" / "one.wav", tmp_path, feature="seed-mel", workers=1, progress=False,
                            fft_size=1024, step_size=64, thresh=4.0, n_freq_components=32, shorten_factor=4)
    assert summary.converted
    y, sr = fio.load(tree / "a" / "one.wav", dtype=np.float64)
    with batch.deterministic_fft():
        mel_filter, _ = compat.create_mel_filter(1024, n_freq_components=32, samplerate=sr)
        pretty = compat.pretty_spectrogram(y, fft_size=1024, step_size=64, log=True, thresh=4.0)
        expected = compat.make_mel(pretty, mel_filter, shorten_factor=4)
    got = np.load(tmp_path / "one.npy")
    # The notebook's numbers (float16 from make_mel), stored in the run's dtype as the manifest says.
    assert got.dtype == np.float32 and batch.read_manifest(tmp_path)["one.npy"]["dtype"] == "float32"
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    # seed-pretty in librosa's layout (n_bins, n_frames), and in float64 when asked.
    out = tmp_path / "pretty"
    batch.convert(tree / "a" / "one.wav", out, feature="seed-pretty", workers=1, progress=False, dtype="float64",
                  fft_size=1024, step_size=64)
    got = np.load(out / "one.npy")
    with batch.deterministic_fft():
        pretty = compat.pretty_spectrogram(y, fft_size=1024, step_size=64)
    assert got.dtype == np.float64 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, pretty.T)


def test_seed_mel_at_44k_says_to_raise_fft_size(tree, tmp_path):
    summary = batch.convert(tree / "a" / "b" / "three.wav", tmp_path, feature="seed-mel", workers=1, progress=False)
    [(_, reason)] = summary.failed
    assert "raise fft_size (--fft-size 2048)" in reason


# ----- interruption ------------------------------------------------------------------------------
def _slow_tree(root, n_files=12):
    root.mkdir()
    for i in range(n_files):
        sf.write(root / f"f{i:02d}.wav", _tone_noise(44100, 8.0, seed=i), 44100, subtype="PCM_16")


SLOW = ["--feature", "mfcc", "--n-fft", "2048", "--hop-length", "32", "--workers", "1", "--quiet"]


def _cli(*args):
    # The installed fastspec: the tests' working folder is outside the checkout.
    return subprocess.Popen([sys.executable, "-m", "fastspec.cli", "convert", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_lines(manifest, n, proc, timeout=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("no progress")


def _temporaries(folder):
    return [name for name in os.listdir(folder) if name.endswith(fio.TEMP_SUFFIX) or fio.TEMP_SUFFIX in name]


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="interrupts a run midway: needs compiled kernels' speed")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_killed_run_leaves_no_partial_output_and_resumes(tmp_path, sig):
    _slow_tree(tmp_path / "in")
    out = tmp_path / "out"
    proc = _cli(tmp_path / "in", "-o", out, *SLOW)
    _wait_for_lines(out / "manifest.jsonl", 2, proc)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert _temporaries(out) == []
    time.sleep(0.5)  # SIGKILL: the worker dies with its parent (PR_SET_PDEATHSIG)
    done = sorted(name for name in os.listdir(out) if name.endswith(".npy"))
    assert 2 <= len(done) < 12, done  # killed halfway
    frames = 1 + (8 * 44100) // 32
    for name in done:  # whatever has its final name is complete
        assert np.load(out / name).shape == (20, frames)
    before = {name: (out / name).read_bytes() for name in done}
    recorded = batch.read_manifest(out)  # outputs renamed after the last manifest line are redone
    assert 2 <= len(recorded) <= len(done) and set(recorded) <= set(done)

    rerun = _cli(tmp_path / "in", "-o", out, *SLOW)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert f"{12 - len(recorded)} converted, {len(recorded)} skipped" in stdout
    assert _temporaries(out) == []
    finished = sorted(name for name in os.listdir(out) if name.endswith(".npy"))
    assert finished == [f"f{i:02d}.npy" for i in range(12)]
    assert all((out / name).read_bytes() == data for name, data in before.items())
    entries = batch.read_manifest(out)
    assert sorted(entries) == finished
    assert all(fio.sha256_file(out / name) == entries[name]["sha256"] for name in finished)


def test_worker_crash_fails_that_file_only(tree, tmp_path, monkeypatch):
    # Forked workers inherit the patch: converting one.wav kills its worker outright.
    real = batch.convert_file

    def crashing(job, src, dst):
        if src.endswith("one.wav"):
            os._exit(3)
        return real(job, src, dst)

    # The worker's conversion is looked up in the module that runs it.
    from fastspec.apps.convert import job

    monkeypatch.setattr(job, "convert_file", crashing)
    log = io.StringIO()
    summary = batch.convert(tree / "a", tmp_path, feature="mel", workers=2, start_method="fork", progress=False,
                            log=log, **PARAMS)
    assert summary.failed == [(str(tree / "a" / "one.wav"), batch.CRASHED)]
    assert "a worker process died" in log.getvalue()  # the recovery is logged, not silent
    assert [f["kind"] for f in _failures(tmp_path)] == ["crashed"]
    assert sorted(summary.converted) == [str(tree / "a" / "b" / "three.wav"), str(tree / "a" / "two.flac")]
    assert sorted(_outputs(tmp_path)) == ["b/three.npy", "two.npy"]


# ----- resume checks what it keeps -----------------------------------------------------------------
def _small_corpus(root):
    root.mkdir()
    for i in range(3):
        sf.write(root / f"s{i}.wav", _tone_noise(16000, 1.0, seed=10 + i), 16000, subtype="PCM_16")
    return root


def test_resume_redoes_a_changed_input(tmp_path):
    src, out = _small_corpus(tmp_path / "in"), tmp_path / "out"
    first = batch.convert(src, out, feature="logmel", workers=1, progress=False, **PARAMS)
    assert len(first.converted) == 3
    # New audio under the old name (a different length, so a stale feature would show).
    sf.write(src / "s1.wav", _tone_noise(16000, 2.0, seed=99), 16000, subtype="PCM_16")
    again = batch.convert(src, out, feature="logmel", workers=1, progress=False, **PARAMS)
    assert again.converted == [str(src / "s1.wav")]
    assert sorted(again.skipped) == [str(src / "s0.wav"), str(src / "s2.wav")]
    y, _ = sf.read(src / "s1.wav", dtype="float32")
    with batch.deterministic_fft():
        expected = feature.melspectrogram(y, sr=16000, log="db", **PARAMS)
    np.testing.assert_array_equal(np.load(out / "s1.npy"), expected)
    assert batch.read_manifest(out)["s1.npy"]["shape"] == list(expected.shape)


@pytest.mark.parametrize("damage", ["garbage", "truncate", "same_size"])
def test_resume_redoes_a_damaged_output(tmp_path, damage):
    src, out = _small_corpus(tmp_path / "in"), tmp_path / "out"
    batch.convert(src, out, feature="logmel", workers=1, progress=False, **PARAMS)
    good = (out / "s2.npy").read_bytes()
    if damage == "garbage":
        (out / "s2.npy").write_bytes(b"not an npy file")
    elif damage == "truncate":
        (out / "s2.npy").write_bytes(good[:-100])
    else:  # same size and header, data flipped: only --verify's hash can tell
        (out / "s2.npy").write_bytes(good[:-8] + bytes(8))
    again = batch.convert(src, out, feature="logmel", workers=1, progress=False, verify=damage == "same_size",
                          **PARAMS)
    assert again.converted == [str(src / "s2.npy".replace(".npy", ".wav"))]
    assert (out / "s2.npy").read_bytes() == good


def test_list_file_keeps_a_hash_inside_a_path(tmp_path):
    folder = tmp_path / "take #2"
    folder.mkdir()
    sf.write(folder / "a#b.wav", _tone_noise(16000, 0.5, seed=5), 16000)
    listing = tmp_path / "inputs.txt"
    listing.write_text("# a comment line\ntake #2/a#b.wav\n   # indented comment\n")
    assert batch.find_inputs(listing) == [(str(folder / "a#b.wav"), str(folder))]


def test_explicit_defaults_are_the_same_job(tmp_path):
    src, out = _small_corpus(tmp_path / "in"), tmp_path / "out"
    batch.convert(src, out, feature="logmel", workers=1, progress=False, n_fft=512, hop_length=128)
    # librosa's defaults spelled out (n_mels=128, fmin=0 as an int, top_db=80) are the run above.
    again = batch.convert(src, out, feature="logmel", workers=1, progress=False, n_fft=512, hop_length=128,
                          n_mels=128, fmin=0, top_db=80, preset="librosa")
    assert again.converted == [] and len(again.skipped) == 3
    with pytest.raises(ParameterError, match="other parameters"):
        batch.convert(src, out, feature="logmel", workers=1, progress=False, n_fft=512, hop_length=128, n_mels=64)
    entry = next(iter(batch.read_manifest(out).values()))
    assert entry["params"]["n_mels"] == 128 and entry["params"]["norm"] == "slaney"  # every parameter recorded


def test_manifest_of_an_older_run_still_matches(tmp_path):
    # Entries that recorded only the parameters given are re-resolved before comparing.
    src, out = _small_corpus(tmp_path / "in"), tmp_path / "out"
    batch.convert(src, out, feature="mel", workers=1, progress=False, **PARAMS)
    lines = (out / batch.MANIFEST).read_text().splitlines()
    old = []
    for line in lines:
        entry = json.loads(line)
        entry["params"] = {"feature": "mel", **PARAMS, "sr": None, "channels": "mix", "dtype": "float32"}
        entry["job"] = "0123456789abcdef"
        old.append(json.dumps(entry))
    (out / batch.MANIFEST).write_text("\n".join(old) + "\n")
    again = batch.convert(src, out, feature="mel", workers=1, progress=False, **PARAMS)
    assert len(again.skipped) == 3


# ----- faults ------------------------------------------------------------------------------------
def _failures(outdir):
    path = outdir / "failures.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_disk_full_stops_the_run_early(tmp_path, monkeypatch):
    import errno

    from fastspec.apps.convert import job

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(12):
        sf.write(src / f"f{i:02d}.wav", _tone_noise(16000, 0.5, seed=i), 16000)
    real = job.convert_file
    calls = []

    def filling(job_, s, d):
        calls.append(s)
        if len(calls) > 2:  # the disk fills after two files
            raise OSError(errno.ENOSPC, "No space left on device", d)
        return real(job_, s, d)

    monkeypatch.setattr(job, "convert_file", filling)
    log = io.StringIO()
    with pytest.raises(batch.DiskFullError, match="disk full"):
        batch.convert(src, out, feature="mel", workers=1, start_method="fork", progress=False, log=log, **PARAMS)
    # Stopped at the first full write, not after trying every remaining file: only those in
    # flight (at most 4 per worker) fail, and one message says so.
    failures = _failures(out)
    assert 1 <= len(failures) <= 4 and {f["kind"] for f in failures} == {"disk-full"}
    assert log.getvalue().count("FAILED") == 1 and "stopping" in log.getvalue()
    assert len(batch.read_manifest(out)) == 2 and _temporaries(out) == []
    # Space freed: the re-run converts the rest and keeps the two.
    monkeypatch.setattr(job, "convert_file", real)
    summary = batch.convert(src, out, feature="mel", workers=1, start_method="fork", progress=False, **PARAMS)
    assert len(summary.skipped) == 2 and len(summary.converted) == 10 and _failures(out) == []
    assert len(batch.read_manifest(out)) == 12


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    import fcntl

    src, out = _small_corpus(tmp_path / "in"), tmp_path / "out"
    out.mkdir()
    holder = os.open(out / ".fastspec-convert.lock", os.O_RDWR | os.O_CREAT)
    os.write(holder, b"4242")
    fcntl.flock(holder, fcntl.LOCK_EX)  # another run holds the folder
    try:
        with pytest.raises(ParameterError, match=r"in use by another fastspec convert \(pid 4242\)"):
            batch.convert(src, out, feature="mel", workers=1, progress=False, **PARAMS)
        assert not (out / batch.MANIFEST).exists()
    finally:
        os.close(holder)
    # Released (as when that run ends, however it ends): the folder works again.
    assert len(batch.convert(src, out, feature="mel", workers=1, progress=False, **PARAMS).converted) == 3


def test_concurrent_runs_never_lose_outputs(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(8):
        sf.write(src / f"c{i}.wav", _tone_noise(16000, 1.0, seed=20 + i), 16000)
    cmd = [sys.executable, "-m", "fastspec.cli", "convert", str(src), "-o", str(out), "--feature", "mel",
           "--n-fft", "512", "--hop-length", "128", "--n-mels", "40", "--workers", "1", "--quiet"]
    runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in runs]
    codes = sorted(code for code, _ in results)
    # Either both ran one after the other (the first was done before the second started) or
    # the second was refused; never interleaved.
    assert codes in ([0, 0], [0, 2]), results
    if codes == [0, 2]:
        assert any("in use by another fastspec convert" in err for _, err in results)
    assert sorted(batch.read_manifest(out)) == [f"c{i}.npy" for i in range(8)]
    assert _temporaries(out) == [] and _failures(out) == []


def test_an_unwritable_output_subfolder_fails_only_its_files(tree, tmp_path, monkeypatch):
    from fastspec.apps import convert as convert_app

    real = os.makedirs
    blocked = str(tmp_path / "b")  # outputs mirror the inputs under their root, tree / "a"

    def makedirs(path, *args, **kwargs):
        if str(path).startswith(blocked):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(convert_app.os, "makedirs", makedirs)
    summary = batch.convert(tree / "a", tmp_path, feature="mel", workers=1, progress=False, **PARAMS)
    assert [src for src, _ in summary.failed] == [str(tree / "a" / "b" / "three.wav")]
    assert sorted(summary.converted) == [str(tree / "a" / "one.wav"), str(tree / "a" / "two.flac")]
    assert [f["kind"] for f in _failures(tmp_path)] == ["os-error"]


def test_overwrite_keeps_the_old_output_and_line_when_the_input_now_fails(tmp_path):
    src, out = _small_corpus(tmp_path / "in"), tmp_path / "out"
    batch.convert(src, out, feature="mel", workers=1, progress=False, **PARAMS)
    old = (out / "s0.npy").read_bytes()
    (src / "s0.wav").write_bytes(b"RIFF garbage")  # the input is now unreadable
    summary = batch.convert(src, out, feature="mel", workers=1, progress=False, overwrite=True, **PARAMS)
    assert [s for s, _ in summary.failed] == [str(src / "s0.wav")]
    assert (out / "s0.npy").read_bytes() == old
    assert "s0.npy" in batch.read_manifest(out)  # the file and its record stay together
    assert _failures(out)[0]["input"] == str(src / "s0.wav")


def _marked(mark):
    """Pids of the live processes whose environment holds ``mark``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if mark.encode() in f.read():
                        with open(f"/proc/{entry}/stat") as st:
                            if st.read().split(") ")[-1][0] != "Z":  # zombies are gone already
                                pids.append(int(entry))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("method", ["forkserver", "spawn"])
@pytest.mark.parametrize("reaped", ["wait", "communicate"])
def test_kill_9_leaves_no_process_behind(tmp_path, method, reaped):
    # "communicate": the killed run's parent reaps it only once its output pipes close, which the
    # workers hold: they must notice a killed (zombie) run, not only a vanished one.
    import uuid

    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        sf.write(src / f"k{i}.wav", _tone_noise(16000, 60.0, seed=30 + i), 16000)
    mark = f"FASTSPEC_TEST_MARK={uuid.uuid4().hex}"
    env = dict(os.environ, **dict([mark.split("=")]))
    run = subprocess.Popen([sys.executable, "-m", "fastspec.cli", "convert", str(src), "-o", str(tmp_path / "out"),
                            "--feature", "mfcc", "--n-fft", "2048", "--hop-length", "64", "--workers", "2",
                            "--start-method", method, "--quiet"], env=env,
                           stdout=subprocess.PIPE if reaped == "communicate" else subprocess.DEVNULL,
                           stderr=subprocess.PIPE if reaped == "communicate" else subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(_marked(mark)) < 4 and time.monotonic() < deadline:  # the run, its helper processes, 2 workers
        time.sleep(0.1)
    assert run.poll() is None, "the run ended before it could be killed: give it more work"
    helpers = set(_marked(mark)) - {run.pid}
    assert len(helpers) >= 2
    run.kill()
    if reaped == "communicate":
        run.communicate(timeout=30)
    else:
        run.wait()
    deadline = time.monotonic() + 10
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _marked(mark) == [], f"left behind after kill -9 ({method})"


def test_a_truncated_input_converts_with_a_warning_recorded(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    sf.write(src / "whole.wav", _tone_noise(16000, 2.0, seed=40), 16000, subtype="PCM_16")
    data = (src / "whole.wav").read_bytes()
    (src / "cut.wav").write_bytes(data[:len(data) // 2])  # the header still claims 2 s
    info = fio.info(src / "cut.wav")
    assert info.frames < 16000 and info.problems and "truncated" in info.problems[0]
    assert fio.info(src / "whole.wav").problems == ()
    log = io.StringIO()
    summary = batch.convert(src, out, feature="mel", workers=1, progress=False, log=log, **PARAMS)
    assert len(summary.converted) == 2
    assert f"WARNING {src / 'cut.wav'}: header data size" in log.getvalue()
    entries = batch.read_manifest(out)
    assert entries["cut.npy"]["warnings"] == list(info.problems) and "warnings" not in entries["whole.npy"]
    # What the file holds was converted: the first half of the whole file's samples.
    y, _ = sf.read(src / "cut.wav", dtype="float32")
    with batch.deterministic_fft():
        np.testing.assert_array_equal(np.load(out / "cut.npy"), feature.melspectrogram(y, sr=16000, **PARAMS))


def test_fmax_is_checked_against_each_files_own_rate(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    sf.write(src / "wide.wav", _tone_noise(44100, 1.0, seed=50), 44100)
    sf.write(src / "narrow.wav", _tone_noise(16000, 1.0, seed=51), 16000)
    summary = batch.convert(src, out, feature="logmel", workers=1, progress=False, fmax=16000.0, n_mels=64)
    assert summary.converted == [str(src / "wide.wav")]  # 16 kHz fits 44.1 kHz, not 16 kHz
    assert [s for s, _ in summary.failed] == [str(src / "narrow.wav")]
    assert "fmax=16000.0 must be <= sr / 2 = 8000.0" in summary.failed[0][1]


def test_a_features_warning_is_given_once_per_run(tmp_path):
    import warnings

    src, out = _small_corpus(tmp_path / "in"), tmp_path / "out"
    sf.write(src / "other_rate.wav", _tone_noise(22050, 1.0, seed=60), 22050)
    log = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:  # the filters as they are, none added
        batch.convert(src, out, feature="logmel", preset="torchaudio", workers=2, start_method="fork",
                      progress=False, log=log)
    assert not [w for w in caught if "Empty filters" in str(w.message)]  # not repeated by Python either
    text = log.getvalue()
    assert text.count("Empty filters detected") in (1, 2), text  # once per distinct text (rate), not per worker
    assert "WARNING: Empty filters detected in mel frequency basis (n_mels=128, n_fft=400, sr=16000)" in text
