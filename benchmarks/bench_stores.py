"""A corpus of short clips into each output layout, timed as whole commands; then reading it back.

Usage::

    python benchmarks/bench_stores.py [--clips 100000] [--workers 2] [--repeats 1] [--data DIR] [--skip-librosa]

1. **Writing.** ``--clips`` generated one-second 16 kHz 16-bit WAVs (in folders of 1000) go to
   80-band log-mel (n_fft 512, hop 160) with ``fastspec convert --format npy``, ``shards`` and
   ``zarr``, and with a librosa script (``librosa.load`` + ``melspectrogram`` + ``power_to_db`` +
   ``np.save``, run by joblib), each with ``--workers`` processes, each a fresh command timed
   from outside, start-up included. Clips per second and the ratio to the ``.npy`` path.
2. **Resume scan.** The same command again on the finished output: finding the inputs and
   checking every item is still valid, nothing to convert.
3. **Files.** Output files per 1000 clips.
4. **Reading** (``fastspec.open_features``, in this process): one random item (median of 2000),
   and every item in order (MB/s of feature data), first as the writing left the page cache,
   then again with the store's files cached.

Before each command, the disk's dirty pages are written back and every input is read once, so
that each command starts with the inputs cached and nothing left to write.

Every store's items are checked against the ``.npy`` path's, bit for bit, on a sample of 500.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

FEATURE = ["--feature", "logmel", "--n-fft", "512", "--hop-length", "160", "--n-mels", "80"]

LIBROSA_SCRIPT = r'''
import os, sys
import numpy as np
import librosa
from joblib import Parallel, delayed

def one(src, dst):
    y, sr = librosa.load(src, sr=None)
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=512, hop_length=160, n_mels=80))
    np.save(dst, S)

src_dir, out_dir, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
pairs = []
for folder, _, names in os.walk(src_dir):
    rel = os.path.relpath(folder, src_dir)
    os.makedirs(os.path.join(out_dir, rel), exist_ok=True)
    pairs += [(os.path.join(folder, n), os.path.join(out_dir, rel, n[:-4] + ".npy"))
              for n in names if n.endswith(".wav")]
Parallel(n_jobs=workers, batch_size=256)(delayed(one)(s, d) for s, d in sorted(pairs))
'''


def generate(folder, n_clips, sr=16000):
    """Write ``n_clips`` one-second deterministic speech-like WAVs, 1000 to a folder."""
    import soundfile as sf

    from fastspec import data

    marker = os.path.join(folder, f".complete-{n_clips}")
    if os.path.exists(marker):
        return folder
    base = data.speech(sr, 8.0, seed=0)
    rng = np.random.default_rng(0)
    for i in range(n_clips):
        sub = os.path.join(folder, f"part{i // 1000:04d}")
        if i % 1000 == 0:
            os.makedirs(sub, exist_ok=True)
        start = int(rng.integers(base.size - sr))
        y = base[start:start + sr] + 0.01 * rng.standard_normal(sr).astype(np.float32)
        sf.write(os.path.join(sub, f"utt{i:07d}.wav"), y, sr, subtype="PCM_16")
    open(marker, "w").close()
    return folder


def _settle(corpus):
    """Write back what earlier commands left dirty and read every input once: each command starts alike.

    The VM's disk is slow next to the work (a cold input costs a 0.7 ms read, about a file's
    conversion), so without this the command after a large write is measured on the disk.
    """
    os.sync()
    for folder, _, names in os.walk(corpus):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                f.read()


def _timed(cmd):
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def _count_files(folder):
    return sum(len(files) for _, _, files in os.walk(folder))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data", help="folder for the generated clips (kept between runs)")
    parser.add_argument("--skip-librosa", action="store_true")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="fastspec-stores-")
    corpus = args.data or os.path.join(work, "clips")
    t0 = time.perf_counter()
    generate(corpus, args.clips)
    print(f"corpus: {args.clips} one-second 16 kHz clips in {corpus} ({time.perf_counter() - t0:.0f} s to make)")
    fastspec = [sys.executable, "-m", "fastspec.cli", "convert", corpus, *FEATURE, "--workers", str(args.workers),
                "--quiet"]
    rows = {}
    try:
        for _ in range(args.repeats):
            for fmt in ("npy", "shards", "zarr"):
                out = os.path.join(work, fmt)
                shutil.rmtree(out, ignore_errors=True)
                _settle(corpus)
                seconds, _ = _timed(fastspec + ["-o", out, "--format", fmt])
                rows.setdefault(fmt, []).append(seconds)
                _settle(corpus)
                scan, stdout = _timed(fastspec + ["-o", out, "--format", fmt])
                assert f"0 converted, {args.clips} skipped" in stdout, stdout
                rows.setdefault(fmt + " resume", []).append(scan)
            if not args.skip_librosa:
                out = os.path.join(work, "librosa")
                shutil.rmtree(out, ignore_errors=True)
                _settle(corpus)
                seconds, _ = _timed([sys.executable, "-c", LIBROSA_SCRIPT, corpus, out, str(args.workers)])
                rows.setdefault("librosa", []).append(seconds)
        npy = min(rows["npy"])
        print(f"\n| writing ({args.workers} workers, whole command) | seconds (best of {args.repeats}) | clips/s | "
              "vs npy |\n|---|---|---|---|")
        for name in ("npy", "shards", "zarr", "librosa"):
            if name in rows:
                best = min(rows[name])
                print(f"| {name} | {best:.1f} | {args.clips / best:,.0f} | {npy / best:.2f}x |")
        print("\n| resume scan of the finished run | seconds |\n|---|---|")
        for fmt in ("npy", "shards", "zarr"):
            print(f"| {fmt} | {min(rows[fmt + ' resume']):.2f} |")
        print("\n| output files per 1000 clips | |\n|---|---|")
        for fmt in ("npy", "shards", "zarr"):
            print(f"| {fmt} | {_count_files(os.path.join(work, fmt)) / args.clips * 1000:.1f} |")
        _reading(work, args.clips)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _reading(work, n_clips):
    import fastspec

    print("\n| reading | one random item (median) | all in order, MB/s of features |\n|---|---|---|")
    rng = np.random.default_rng(1)
    with fastspec.open_features(os.path.join(work, "npy")) as npy:
        reference_keys = npy.keys()
        sample = [reference_keys[i] for i in rng.choice(len(reference_keys), 500, replace=False)]
        expected = {os.path.splitext(k)[0]: npy[k].array for k in sample}
        for fmt in ("npy", "shards", "zarr"):
            with fastspec.open_features(os.path.join(work, fmt)) as store:
                keys = store.keys()
                if fmt != "npy":
                    for key, array in expected.items():
                        assert np.array_equal(store[key].array, array), (fmt, key)
                times = []
                for i in rng.integers(0, len(keys), 2000):
                    t0 = time.perf_counter()
                    store[int(i)]
                    times.append(time.perf_counter() - t0)
            rates = []
            for _ in range(2):  # as the writing left the cache, then cached
                with fastspec.open_features(os.path.join(work, fmt)) as store:
                    t0 = time.perf_counter()
                    nbytes = sum(item.array.nbytes for item in store)
                    rates.append(nbytes / (time.perf_counter() - t0) / 1e6)
            print(f"| {fmt} | {np.median(times) * 1e3:.3f} ms | {rates[0]:,.0f} MB/s, cached {rates[1]:,.0f} MB/s "
                  f"({nbytes / 1e9:.2f} GB) |")
    assert len(keys) == n_clips


if __name__ == "__main__":
    main()
