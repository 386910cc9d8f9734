"""Dataset-scale conversion, timed as whole commands: fastspec convert against librosa + joblib.

Usage::

    python benchmarks/bench_convert.py [--workers 2] [--repeats 3] [--data DIR] [--skip-memory] [--skip-dask]

1. **Throughput.** One hour of audio as 360 generated 10 s WAV files (22.05 kHz, 16-bit) is
   turned into log-mel features (80 bands, n_fft 1024, hop 256, ``power_to_db`` defaults) by
   ``fastspec convert`` and by a librosa script (``librosa.load`` + ``melspectrogram`` +
   ``power_to_db`` + ``np.save``, run by joblib), each with ``--workers`` processes. Each is
   timed as a fresh subprocess, start-up included, alternating, ``--repeats`` times; the table
   gives the best of each and the ratio. The outputs are compared (same shapes, values within
   float32 rounding of librosa's).
2. **Where the time goes.** The serial start-up (imports, then the warm-up the workers
   inherit by fork) and, per file on one thread, decode, compute and write (with the checksum).
3. **Dask scaling.** The same job on a local ``dask.distributed`` cluster of 1 and of 2 workers
   (already started and warmed up), throughput ratio.
4. **Peak memory.** A 2-hour 44.1 kHz mono WAV converted to log-mel by ``fastspec convert``
   with one worker: the largest resident set of any process of the command, and of the
   command's processes together (sampled).

The machine is shared: every ratio comes from runs made side by side in one invocation.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEATURE = ["--feature", "logmel", "--n-fft", "1024", "--hop-length", "256", "--n-mels", "80"]

LIBROSA_SCRIPT = r'''
import glob, os, sys
import numpy as np
import librosa
from joblib import Parallel, delayed

def one(src, dst):
    y, sr = librosa.load(src, sr=None)
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=256, n_mels=80))
    np.save(dst, S)

src_dir, out_dir, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out_dir, exist_ok=True)
files = sorted(glob.glob(os.path.join(src_dir, "*.wav")))
Parallel(n_jobs=workers)(delayed(one)(f, os.path.join(out_dir, os.path.basename(f)[:-4] + ".npy")) for f in files)
'''


def _env():
    return dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))


def generate(folder, n_files=360, seconds=10.0, sr=22050):
    """Write ``n_files`` deterministic speech/music-like WAVs (16-bit) into ``folder``."""
    import soundfile as sf

    from fastspec import data

    os.makedirs(folder, exist_ok=True)
    if len(glob.glob(os.path.join(folder, "*.wav"))) == n_files:
        return folder
    kinds = (data.speech, data.music, data.birdsong)
    base = {k.__name__: k(sr, seconds) for k in kinds}
    rng = np.random.default_rng(0)
    for i in range(n_files):
        y = np.roll(base[kinds[i % 3].__name__], int(rng.integers(sr * seconds)))
        y = y + 0.01 * rng.standard_normal(y.size).astype(np.float32)
        sf.write(os.path.join(folder, f"clip{i:04d}.wav"), y, sr, subtype="PCM_16")
    return folder


def _timed(cmd, cpu=None):
    """Wall time of a subprocess; appends its CPU time (with reaped descendants) to ``cpu``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return elapsed


def throughput(data_dir, workdir, workers, repeats):
    audio_seconds = 10.0 * len(glob.glob(os.path.join(data_dir, "*.wav")))
    script = os.path.join(workdir, "librosa_job.py")
    with open(script, "w") as f:
        f.write(LIBROSA_SCRIPT)
    runs = {"fastspec convert": [], "librosa + joblib": []}
    cpu = {name: [] for name in runs}
    out_fs, out_lr = os.path.join(workdir, "out_fastspec"), os.path.join(workdir, "out_librosa")
    for _ in range(repeats):
        for name in runs:
            out = out_fs if name.startswith("fastspec") else out_lr
            shutil.rmtree(out, ignore_errors=True)
            cmd = ([sys.executable, "-m", "fastspec.cli", "convert", data_dir, "-o", out, *FEATURE,
                    "--workers", str(workers), "--quiet"] if name.startswith("fastspec")
                   else [sys.executable, script, data_dir, out, str(workers)])
            runs[name].append(_timed(cmd, cpu[name]))
    _compare_outputs(out_fs, out_lr)
    best = {name: min(times) for name, times in runs.items()}
    print(f"\n## Throughput: 1 h of audio (360 x 10 s WAV, 22.05 kHz) -> log-mel, {workers} workers, "
          f"whole command, best of {repeats}\n")
    print("| command | wall time (s) | x real time | runs (s) | CPU time of the runs (s) |")
    print("|---|---:|---:|---|---|")
    for name, t in best.items():
        print(f"| {name} | {t:.2f} | {audio_seconds / t:,.0f} | {', '.join(f'{x:.2f}' for x in runs[name])} | "
              f"{', '.join(f'{x:.2f}' for x in cpu[name])} |")
    ratio = best["librosa + joblib"] / best["fastspec convert"]
    paired = [lr / fs for fs, lr in zip(runs["fastspec convert"], runs["librosa + joblib"], strict=True)]
    print(f"\nfastspec / librosa throughput: **{ratio:.2f}x** (best vs best); per alternating pair: "
          f"{', '.join(f'{r:.2f}' for r in paired)}")
    return best


def _compare_outputs(out_fs, out_lr):
    names = sorted(os.listdir(out_lr))
    worst = 0.0
    for name in names[:: max(1, len(names) // 20)]:
        a, b = np.load(os.path.join(out_fs, name)), np.load(os.path.join(out_lr, name))
        assert a.shape == b.shape and a.dtype == b.dtype, (name, a.shape, b.shape)
        worst = max(worst, float(np.max(np.abs(a - b))))
    assert worst < 1e-2, f"fastspec and librosa log-mel differ by {worst} dB"
    print(f"(outputs checked: same shapes and dtype, max difference {worst:.2g} dB on every 18th file)")


_STARTUP = r"""
import time
t0 = time.perf_counter()
import fastspec.cli, fastspec.batch as batch
from fastspec.apps.convert import job as job_mod
t1 = time.perf_counter()
job = batch.Job("logmel", (("hop_length", 256), ("n_fft", 1024), ("n_mels", 80)), None, "mix", "float32", "npy",
                16384)
job_mod.warm(job, None)
print(t1 - t0, time.perf_counter() - t1)
"""


def breakdown(data_dir, workers):
    """The command's serial start-up, and one thread's decode / compute / write time per file."""
    import soundfile as sf

    from fastspec import batch, io
    from fastspec.apps.convert import job as job_mod

    starts = [subprocess.run([sys.executable, "-c", _STARTUP], env=_env(), capture_output=True, text=True,
                             check=True).stdout.split() for _ in range(3)]
    imports, warm = (min(float(s[i]) for s in starts) for i in (0, 1))
    files = sorted(glob.glob(os.path.join(data_dir, "*.wav")))[:60]
    job = batch.Job("logmel", (("hop_length", 256), ("n_fft", 1024), ("n_mels", 80)), None, "mix", "float32", "npy",
                    16384)
    tmp = tempfile.mkdtemp()
    phases = {"decode": 0.0, "compute": 0.0, "write": 0.0}
    with batch.deterministic_fft():
        feat = job_mod.feature_for(job, 22050)
        feat.whole(sf.read(files[0], dtype="float32")[0])
        for i, path in enumerate(files):
            t0 = time.perf_counter()
            with io.AudioStream(path) as stream:
                y = np.concatenate(list(stream))
            t1 = time.perf_counter()
            S = feat.whole(y)
            t2 = time.perf_counter()
            io.save_feature(os.path.join(tmp, f"{i}.npy"), S)  # a new file each time, as in a run
            t3 = time.perf_counter()
            phases["decode"] += t1 - t0
            phases["compute"] += t2 - t1
            phases["write"] += t3 - t2
    shutil.rmtree(tmp)
    per_file = {k: v / len(files) for k, v in phases.items()}
    total = sum(per_file.values())
    print("\n## Where the time goes (fastspec convert)\n")
    print(f"- serial start-up in the parent, before the workers fork: imports {imports:.2f} s (numpy, numba, "
          f"soundfile, fastspec), warm-up {warm:.2f} s (pyFFTW import, numba's first cache load, plans)")
    print(f"- per 10 s file on one thread: decode {per_file['decode'] * 1e3:.2f} ms, compute "
          f"{per_file['compute'] * 1e3:.2f} ms, write + SHA-256 {per_file['write'] * 1e3:.2f} ms "
          f"= {total * 1e3:.2f} ms ({10 / total:,.0f}x real time per thread)")
    print(f"- 360 files on {workers} workers at that rate: {360 * total / workers:.2f} s")
    return per_file


def dask_scaling(data_dir, workdir):
    from distributed import Client

    from fastspec import batch

    params = dict(feature="logmel", n_fft=1024, hop_length=256, n_mels=80, progress=False)
    local = {}
    for n in (1, 2):
        out = os.path.join(workdir, f"out_local{n}")
        local[n] = batch.convert(data_dir, out, workers=n, **params).realtime_factor
        shutil.rmtree(out)
    results = {}
    for n in (1, 2):
        t0 = time.perf_counter()
        with batch.local_cluster(n) as cluster, Client(cluster) as client:
            started = time.perf_counter() - t0
            out = os.path.join(workdir, f"out_dask{n}")
            batch.convert(data_dir, out, client=client, overwrite=True, **params)  # warm-up
            shutil.rmtree(out)
            summary = batch.convert(data_dir, out, client=client, **params)
            results[n] = (summary.realtime_factor, summary.wall_seconds, started)
    print("\n## Dask scaling (fastspec.batch.local_cluster, warmed up; cluster start not included)\n")
    print("| workers | wall time (s) | x real time | cluster start (s) |")
    print("|---:|---:|---:|---:|")
    for n, (rt, wall, started) in results.items():
        print(f"| {n} | {wall:.2f} | {rt:,.0f} | {started:.1f} |")
    print(f"\n2 workers / 1 worker throughput: **{results[2][0] / results[1][0]:.2f}x** "
          f"(local worker processes, start-up included: {local[1]:,.0f}x and {local[2]:,.0f}x real time, "
          f"{local[2] / local[1]:.2f}x)")


def peak_memory(workdir, hours=2.0, sr=44100):
    import psutil
    import soundfile as sf

    path = os.path.join(workdir, "long", "two_hours.wav")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    n = int(hours * 3600 * sr)
    if not os.path.exists(path) or sf.info(path).frames != n:
        block = sr * 60
        rng = np.random.default_rng(0)
        with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as f:
            for start in range(0, n, block):
                t = (start + np.arange(min(block, n - start))) / sr
                f.write(0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size))
    out = os.path.join(workdir, "out_long")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "fastspec.cli", "convert", path, "-o", out, *FEATURE, "--workers", "1", "--quiet"]
    proc = psutil.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_sum = [0]

    def sample():
        while proc.poll() is None:
            try:
                procs = [proc] + proc.children(recursive=True)
                peak_sum[0] = max(peak_sum[0], sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.05)

    t0 = time.perf_counter()
    sampler = threading.Thread(target=sample)
    sampler.start()
    proc.communicate()
    sampler.join()
    elapsed = time.perf_counter() - t0
    import resource

    peak_one = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KB -> MB, largest process
    S = np.load(os.path.join(out, "two_hours.npy"), mmap_mode="r")
    print(f"\n## Peak memory: {hours:g} h at {sr / 1000:g} kHz ({os.path.getsize(path) / 1e6:,.0f} MB WAV) -> log-mel "
          f"{S.shape} ({S.nbytes / 1e6:,.0f} MB)\n")
    print(f"- largest process: **{peak_one:,.0f} MB** resident; all processes of the command together: "
          f"{peak_sum[0] / 1e6:,.0f} MB (sampled every 50 ms); {elapsed:.1f} s, "
          f"{hours * 3600 / elapsed:,.0f}x real time on one worker")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", help="folder for the 360 generated files (kept; default: a temporary folder)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="fastspec-bench-")
    try:
        data_dir = generate(args.data or os.path.join(workdir, "wav"))
        print(f"load before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        throughput(data_dir, workdir, args.workers, args.repeats)
        breakdown(data_dir, args.workers)
        if not args.skip_dask:
            dask_scaling(data_dir, workdir)
        if not args.skip_memory:
            peak_memory(workdir)
        print(f"\nload after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
