"""Feature stores: ``convert --format shards|zarr`` and ``fastspec.open_features`` for every layout."""

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time

import numba
import numpy as np
import pytest
import soundfile as sf

import fastspec
from fastspec import ParameterError, batch
from fastspec import io as fio

zarr = pytest.importorskip("zarr")

PARAMS = dict(feature="logmel", n_fft=512, hop_length=128, n_mels=40)


def _clip(sr, seconds, seed, channels=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = 0.3 * np.sin(2 * np.pi * (200 + 37 * seed) * t)[:, None] + 0.05 * rng.standard_normal((t.size, channels))
    return y if channels > 1 else y[:, 0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """23 clips of several lengths and rates in nested folders, a dotted name, a zero-length and a corrupt file."""
    root = tmp_path_factory.mktemp("clips")
    for i in range(20):
        folder = root / f"spk{i % 3}"
        folder.mkdir(exist_ok=True)
        sf.write(folder / f"utt{i:02d}.wav", _clip(16000, 0.3 + 0.07 * i, i), 16000, subtype="PCM_16")
    sf.write(root / "spk0" / "take.2.flac", _clip(22050, 1.1, 30), 22050)
    sf.write(root / "spk1" / "silent.wav", np.zeros(0), 16000)
    (root / "spk2" / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
    return root


N_GOOD = 22  # the zero-length clip converts to zero frames


def _key(npy_relpath):
    stem = os.path.splitext(npy_relpath)[0]
    folder, name = os.path.split(stem)
    return f"{folder}/{name.replace('.', '_')}" if folder else name.replace(".", "_")


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """The .npy path's arrays, by store key."""
    out = tmp_path_factory.mktemp("npy")
    summary = batch.convert(corpus, out, workers=2, progress=False, **PARAMS)
    assert len(summary.converted) == N_GOOD and len(summary.failed) == 1
    with fastspec.open_features(out) as store:
        return {_key(item.key): item for item in store}


def _check_store(path, reference, *, dtype=None):
    with fastspec.open_features(path) as store:
        items = list(store)
        assert len(store) == len(items) == N_GOOD
        assert sorted(item.key for item in items) == sorted(reference)
        for item in items:
            expected = reference[item.key].array
            if dtype is not None:
                expected = expected.astype(dtype)
            assert item.array.dtype == expected.dtype and item.array.shape == expected.shape, item.key
            assert np.array_equal(item.array, expected), item.key  # bit for bit
        return store, items


@pytest.mark.parametrize("fmt, compression", [("shards", None), ("shards", "gzip"), ("zarr", None),
                                              ("zarr", "zstd")])
def test_every_item_equals_the_npy_path(corpus, reference, tmp_path, fmt, compression):
    out = tmp_path / "store"
    summary = batch.convert(corpus, out, workers=2, progress=False, format=fmt, compression=compression,
                            shard_items=5, **PARAMS)
    assert len(summary.converted) == N_GOOD
    assert [(os.path.basename(src), reason.split(" (")[0]) for src, reason in summary.failed] == [
        ("broken.wav", "not readable as audio")]  # reported, as for .npy
    store, items = _check_store(out, reference)
    # Random access by position and key gives the items iteration gave, in the same order.
    with fastspec.open_features(out) as again:
        assert again.keys() == [item.key for item in items]
        for i in (0, 7, N_GOOD - 1, -1):
            assert np.array_equal(again[i].array, items[i].array)
        assert np.array_equal(again["spk0/take_2"].array, reference["spk0/take_2"].array)
        meta = again["spk1/utt04"].metadata
        assert meta["sr"] == 16000 and meta["source"].endswith("utt04.wav")
        assert meta["sha256"] == reference["spk1/utt04"].metadata["sha256"]  # the same .npy bytes
        assert abs(meta["duration"] - (0.3 + 0.07 * 4)) < 1e-4
        assert "spk0/take_2" in again and "nope" not in again
        with pytest.raises(KeyError, match="nope"):
            again["nope"]
        with pytest.raises(IndexError):
            again[N_GOOD]
    assert store.metadata["params"]["n_mels"] == 40 and store.metadata["kind"] == "logmel"


def test_shards_are_few_files_and_webdataset_streams_them(corpus, reference, tmp_path):
    wds = pytest.importorskip("webdataset")
    out = tmp_path / "shards"
    batch.convert(corpus, out, workers=2, progress=False, format="shards", shard_items=10, **PARAMS)
    shards = sorted(name for name in os.listdir(out) if name.endswith(".tar"))
    assert shards == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]  # 22 items, 10 a shard
    seen = {}
    for sample in wds.WebDataset([str(out / name) for name in shards], shardshuffle=False):
        array = np.load(io.BytesIO(sample["npy"]))
        meta = json.loads(sample["json"])
        assert sample["__key__"] not in seen
        seen[sample["__key__"]] = array
        assert meta["sr"] in (16000, 22050) and meta["kind"] == "logmel"
    assert sorted(seen) == sorted(reference)
    assert all(np.array_equal(seen[k], reference[k].array) for k in seen)


def test_zarr_store_reads_with_zarr_alone(corpus, reference, tmp_path):
    out = tmp_path / "z"
    batch.convert(corpus, out, workers=2, progress=False, format="zarr", shard_items=4, **PARAMS)
    root = zarr.open_group(str(out), mode="r")
    assert root.attrs["fastspec"]["params"]["n_mels"] == 40
    keys = list(root["key"][:])
    assert sorted(keys) == sorted(reference)
    for i, key in enumerate(keys):
        start, n = int(root["start"][i]), int(root["n_frames"][i])
        rows = root["features"][start:start + n]  # (frames, bins)
        assert np.array_equal(rows.T, reference[key].array)
        assert int(root["sr"][i]) == reference[key].metadata["sr"]


def test_float16_storage_and_all_channels(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    for i in range(6):
        sf.write(root / f"s{i}.wav", _clip(16000, 0.4 + 0.1 * i, i, channels=2), 16000, subtype="FLOAT")
    kw = dict(PARAMS, channels="all", storage="float16", progress=False, workers=2)
    batch.convert(root, tmp_path / "npy", **kw)
    with fastspec.open_features(tmp_path / "npy") as npy:
        expected = {_key(item.key): item.array for item in npy}
    assert all(a.dtype == np.float16 and a.shape[0] == 2 for a in expected.values())
    for fmt in ("shards", "zarr"):
        batch.convert(root, tmp_path / fmt, format=fmt, shard_items=4, **kw)
        with fastspec.open_features(tmp_path / fmt) as store:
            got = {item.key: item.array for item in store}
        assert sorted(got) == sorted(expected)
        assert all(got[k].dtype == np.float16 and np.array_equal(got[k], expected[k]) for k in got), fmt


def test_a_long_file_in_blocks_goes_into_a_store(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    sf.write(root / "long.wav", _clip(16000, 12.0, 1), 16000)
    sf.write(root / "short.wav", _clip(16000, 0.5, 2), 16000)
    kw = dict(PARAMS, block_frames=512, progress=False, workers=1)  # 1501 frames: three blocks
    batch.convert(root, tmp_path / "npy", **kw)
    expected = np.load(tmp_path / "npy" / "long.npy")
    for fmt in ("shards", "zarr"):
        batch.convert(root, tmp_path / fmt, format=fmt, **kw)
        with fastspec.open_features(tmp_path / fmt) as store:
            assert np.array_equal(store["long"].array, expected), fmt
        assert not [n for n in os.listdir(tmp_path / fmt) if fio.TEMP_SUFFIX in n]


def _store_content(path):
    with fastspec.open_features(path) as store:
        return [(item.key, item.array.tobytes(), item.metadata["sha256"]) for item in store]


def test_local_workers_dask_local_and_a_threaded_dask_worker_write_the_same(corpus, tmp_path):
    distributed = pytest.importorskip("distributed")
    kw = dict(PARAMS, progress=False, shard_items=3)
    for fmt in ("shards", "zarr"):
        batch.convert(corpus, tmp_path / f"{fmt}-local", format=fmt, workers=2, **kw)
        batch.convert(corpus, tmp_path / f"{fmt}-dask", format=fmt, workers=2, dask_local=True, **kw)
    # One worker process whose two threads write two units at the same time.
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0")
    try:
        with distributed.Client(cluster) as client:
            for fmt in ("shards", "zarr"):
                batch.convert(corpus, tmp_path / f"{fmt}-threads", format=fmt, client=client, **kw)
    finally:
        cluster.close(timeout=30)
    for fmt in ("shards", "zarr"):
        local = _store_content(tmp_path / f"{fmt}-local")
        assert len(local) == N_GOOD
        assert _store_content(tmp_path / f"{fmt}-dask") == local
        assert _store_content(tmp_path / f"{fmt}-threads") == local
    # Shards are byte-identical files, whichever engine wrote them.
    names = sorted(n for n in os.listdir(tmp_path / "shards-local") if n.endswith(".tar"))
    for engine in ("dask", "threads"):
        assert sorted(n for n in os.listdir(tmp_path / f"shards-{engine}") if n.endswith(".tar")) == names
        for name in names:
            theirs = (tmp_path / f"shards-{engine}" / name).read_bytes()
            assert theirs == (tmp_path / "shards-local" / name).read_bytes()


def test_second_run_skips_everything_and_a_changed_input_is_redone_without_a_stale_copy(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    for i in range(9):
        sf.write(root / f"c{i}.wav", _clip(16000, 0.5, i), 16000)
    kw = dict(PARAMS, progress=False, workers=2, shard_items=4)
    for fmt in ("shards", "zarr"):
        out = tmp_path / fmt
        first = batch.convert(root, out, format=fmt, **kw)
        assert len(first.converted) == 9
        again = batch.convert(root, out, format=fmt, **kw)
        assert len(again.skipped) == 9 and not again.converted
    time.sleep(0.01)
    sf.write(root / "c5.wav", _clip(16000, 0.8, 99), 16000)  # changed: longer, other content
    batch.convert(root, tmp_path / "npy", **kw)
    expected = np.load(tmp_path / "npy" / "c5.npy")
    for fmt in ("shards", "zarr"):
        out = tmp_path / fmt
        redo = batch.convert(root, out, format=fmt, **kw)
        assert str(root / "c5.wav") in redo.converted
        with fastspec.open_features(out) as store:
            assert len(store) == 9 and sorted(store.keys()) == [f"c{i}" for i in range(9)]
            assert np.array_equal(store["c5"].array, expected)
    # No shard holds the old c5 (its shard went whole, the other items with it).
    members = []
    for name in sorted(os.listdir(tmp_path / "shards")):
        if name.endswith(".tar"):
            with tarfile.open(tmp_path / "shards" / name) as tar:
                members += [m.name for m in tar.getmembers() if m.name.endswith(".npy")]
    assert sorted(members) == [f"c{i}.npy" for i in range(9)]


def test_an_index_left_behind_by_a_killed_run_is_rebuilt_by_a_run_with_nothing_to_do(corpus, reference, tmp_path):
    out = tmp_path / "z"
    batch.convert(corpus, out, workers=2, progress=False, format="zarr", **PARAMS)
    # A run killed after its last manifest line, before its index: the index is an older one.
    root = zarr.open_group(str(out), mode="a")
    root["key"].resize((3,))
    root["start"].resize((3,))
    root["n_frames"].resize((3,))
    attrs = dict(root.attrs["fastspec"])
    attrs["manifest_bytes"] -= 1
    root.attrs["fastspec"] = attrs
    again = batch.convert(corpus, out, workers=2, progress=False, format="zarr", **PARAMS)
    assert len(again.skipped) == N_GOOD and not again.converted
    _check_store(out, reference)


def test_a_store_made_with_other_parameters_is_refused(corpus, tmp_path):
    out = tmp_path / "z"
    batch.convert(corpus, out, workers=1, progress=False, format="zarr", **PARAMS)
    with pytest.raises(ParameterError, match="other parameters"):
        batch.convert(corpus, out, workers=1, progress=False, format="zarr", **dict(PARAMS, n_mels=64))
    with pytest.raises(ParameterError, match="other parameters"):  # another layout in the same folder, too
        batch.convert(corpus, out, workers=1, progress=False, format="shards", **PARAMS)


def test_bad_store_options(corpus, tmp_path):
    with pytest.raises(ParameterError, match="compression='zstd' does not apply to format='shards'"):
        batch.convert(corpus, tmp_path / "a", format="shards", compression="zstd", **PARAMS)
    with pytest.raises(ParameterError, match="compression='gzip' does not apply to format='npy'"):
        batch.convert(corpus, tmp_path / "a", compression="gzip", **PARAMS)
    with pytest.raises(ParameterError, match="storage='int8'"):
        batch.convert(corpus, tmp_path / "a", format="zarr", storage="int8", **PARAMS)
    with pytest.raises(ParameterError, match="shard_items=0"):
        batch.convert(corpus, tmp_path / "a", format="shards", shard_items=0, **PARAMS)
    with pytest.raises(ParameterError, match="cannot go in a Zarr store"):
        batch.convert(corpus, tmp_path / "a", format="zarr", feature="seed-pretty")
    with pytest.raises(ParameterError, match="not a fastspec feature store"):
        fastspec.open_features(tmp_path)


def test_random_reads_from_many_threads_equal_lone_reads(corpus, reference, tmp_path):
    for fmt in ("shards", "zarr"):
        out = tmp_path / fmt
        batch.convert(corpus, out, workers=2, progress=False, format=fmt, shard_items=6, **PARAMS)
        with fastspec.open_features(out) as store:
            keys = store.keys()
            errors = []

            def read(seed, keys=keys, errors=errors, store=store):
                rng = np.random.default_rng(seed)
                for _ in range(60):
                    key = keys[rng.integers(len(keys))]
                    if not np.array_equal(store[key].array, reference[key].array):
                        errors.append(key)

            threads = [threading.Thread(target=read, args=(s,)) for s in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, (fmt, errors)


def _cli(*args):
    return subprocess.Popen([sys.executable, "-m", "fastspec.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="interrupts a run midway: needs compiled kernels' speed")
@pytest.mark.parametrize("fmt", ["shards", "zarr"])
def test_kill_9_then_resume_gives_a_complete_store(tmp_path, fmt):
    root = tmp_path / "in"
    root.mkdir()
    for i in range(40):
        sf.write(root / f"k{i:02d}.wav", _clip(22050, 2.0, i), 22050, subtype="PCM_16")
    out = tmp_path / "out"
    slow = ["--feature", "mfcc", "--n-fft", "2048", "--hop-length", "16", "--workers", "2", "--quiet",
            "--format", fmt, "--shard-items", "3"]
    run = _cli("convert", root, "-o", out, *slow)
    manifest = out / "manifest.jsonl"
    t0 = time.monotonic()
    while not (manifest.exists() and len(manifest.read_text().splitlines()) >= 6):
        assert run.poll() is None, run.communicate()
        assert time.monotonic() - t0 < 120, "no progress"
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    time.sleep(1.0)  # its workers notice and end (see engines: they watch the run's process)
    recorded = len(batch.read_manifest(out))
    assert 6 <= recorded < 40

    rerun = _cli("convert", root, "-o", out, *slow)
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert f"{40 - recorded} converted, {recorded} skipped" in stdout
    assert not [n for n in os.listdir(out) if fio.TEMP_SUFFIX in n]
    summary = batch.convert(root, tmp_path / "npy", workers=2, progress=False, feature="mfcc", n_fft=2048,
                            hop_length=16)
    assert len(summary.converted) == 40
    with fastspec.open_features(out) as store, fastspec.open_features(tmp_path / "npy") as npy:
        keys = [item.key for item in store]
        assert sorted(keys) == [f"k{i:02d}" for i in range(40)]  # none missing, none twice
        for item in store:
            assert np.array_equal(item.array, npy[f"{item.key}.npy"].array)
    if fmt == "shards":  # and no shard holds an item twice (a killed run's shard is removed)
        members = []
        for name in os.listdir(out):
            if name.endswith(".tar"):
                with tarfile.open(out / name) as tar:
                    members += [m.name for m in tar.getmembers() if m.name.endswith(".npy")]
        assert sorted(members) == [f"k{i:02d}.npy" for i in range(40)]


def test_cli_reads_store_items(corpus, reference, tmp_path):
    out = tmp_path / "z"
    run = _cli("convert", corpus, "-o", out, "--format", "zarr", "--quiet", "--feature", "logmel", "--n-fft", "512",
               "--hop-length", "128", "--n-mels", "40")
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 1 and "broken.wav" in stderr  # the corrupt input fails; the rest converts
    info = _cli("info", f"{out}::spk1/utt04")
    stdout, stderr = info.communicate(timeout=120)
    assert info.returncode == 0, stderr
    assert "shape: (40, " in stdout and reference["spk1/utt04"].metadata["sha256"] in stdout
    plot = _cli("plot", f"{out}::spk1/utt04", "-o", tmp_path / "p.png")
    assert plot.communicate(timeout=120) and plot.returncode == 0
    assert (tmp_path / "p.png").stat().st_size > 1000
    inv = _cli("invert", f"{out}::spk0/take_2", "-o", tmp_path / "back.wav")
    stdout, stderr = inv.communicate(timeout=300)
    assert inv.returncode == 0, stderr
    y, sr = sf.read(tmp_path / "back.wav")
    assert sr == 22050 and abs(y.size / sr - 1.1) < 0.05
    missing = _cli("info", f"{out}::nope")
    _, stderr = missing.communicate(timeout=120)
    assert missing.returncode != 0 and "no item 'nope'" in stderr


def test_shard_writer_writes_the_bytes_tarfile_writes():
    from fastspec.apps.convert.stores import _TarWriter

    members = [("a.npy", b"x" * 700), ("spk0/utt_00.json", b"{}"), ("d/" + "y" * 120 + ".npy", b"z" * 513),
               ("späk/ü.json", b"[1]"), ("empty.npy", b"")]
    ours = io.BytesIO()
    writer = _TarWriter(ours)
    offsets = [writer.add(name, data[:3], data[3:]) for name, data in members]
    writer.close()
    theirs = io.BytesIO()
    with tarfile.open(fileobj=theirs, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, \
                "", ""
            tar.addfile(info, io.BytesIO(data))
    assert ours.getvalue() == theirs.getvalue()
    with tarfile.open(fileobj=io.BytesIO(ours.getvalue())) as tar:
        assert [m.offset_data for m in tar.getmembers()] == offsets


def test_a_store_of_a_later_layout_is_refused(corpus, tmp_path):
    out = tmp_path / "s"
    batch.convert(corpus, out, workers=1, progress=False, format="shards", **PARAMS)
    info = json.loads((out / "store.json").read_text())
    (out / "store.json").write_text(json.dumps(dict(info, layout_version=info["layout_version"] + 1)))
    with pytest.raises(ParameterError, match="layout version 2"):
        fastspec.open_features(out)
