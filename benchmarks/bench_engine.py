"""The block engine's figures, each from fresh processes: thread scaling, per-call overhead, cold plans, memory.

Usage::

    python benchmarks/bench_engine.py [--processes 5] [--rounds 15] [--part threads|clip|cold|memory]

1. **Threads.** In each of ``--processes`` fresh processes: every task on 1 and on 2 fastspec threads
   and its FFT floors (bare batched FFTW transforms of the same frames: 1 thread; 2 Python threads
   running half the frames each, or one FFTW plan with 2 threads, whichever is faster), timed in
   interleaved rounds; medians per process. Printed per process, then the worst process.
2. **Clip.** A 1 s clip through a reusable ``MelSpectrogram`` (22.05 kHz, n_fft 1024, hop 256,
   80 mels) against its FFT floor, one thread, medians.
3. **Cold.** The first ``spectrogram`` with ``n_fft=2**20`` (2**21 samples) in a fresh process,
   numba cache warm (a first run is made to compile).
4. **Memory.** A fresh process's resident memory before and after spectrograms at 400 distinct
   ``n_fft`` values (300 ... 4289), with the default plan cache bound.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.abspath(__file__)


def _rounds(impls, rounds):
    """Median seconds of each zero-argument callable, timed in interleaved rounds after one warm-up each."""
    for fn in impls.values():
        fn()
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in samples.items()}


def _floors(frames, inverse_too=False, n_iter=1):
    """FFT floors of ``frames`` (windowed rows): 1 thread, and the faster of the two 2-thread forms."""
    import pyfftw

    real, cplx = frames.dtype, np.result_type(frames.dtype, np.complex64)
    n_fft = frames.shape[-1]

    def plans(rows, threads):
        src = pyfftw.empty_aligned(rows.shape, dtype=real)
        dst = pyfftw.empty_aligned(rows.shape[:-1] + (n_fft // 2 + 1,), dtype=cplx)
        fwd = pyfftw.FFTW(src, dst, axes=(-1,), flags=("FFTW_MEASURE",), threads=threads)
        inv = pyfftw.FFTW(dst, src, axes=(-1,), direction="FFTW_BACKWARD",
                          flags=("FFTW_MEASURE", "FFTW_DESTROY_INPUT"), threads=threads)
        src[...] = rows

        def run():
            for _ in range(n_iter):
                fwd.execute()
                if inverse_too:
                    inv.execute()

        return run

    one = plans(frames, 1)
    fftw_two = plans(frames, 2)
    halves = [plans(h, 1) for h in np.array_split(frames, 2)]

    def python_two():
        other = threading.Thread(target=halves[1])
        other.start()
        halves[0]()
        other.join()

    return one, fftw_two, python_two


def _tasks():
    import fastspec
    from fastspec import data
    from fastspec.benchmark.cases_stft import framed

    y44 = data.birdsong(44100, 60.0, dtype=np.float32)
    y22 = data.birdsong(22050, 60.0, dtype=np.float32)
    y10 = data.speech(22050, 10.0, dtype=np.float32)
    tf44 = fastspec.Stft(n_fft=2048, hop_length=512)
    tf22 = fastspec.Stft(n_fft=1024, hop_length=256)
    logmel = fastspec.MelSpectrogram(sr=22050, n_fft=1024, hop_length=256, n_mels=80, log="db")
    mfcc = fastspec.MFCC(sr=22050, n_fft=1024, hop_length=256, n_mels=80)
    S10 = tf22.spectrogram(y10)
    M10 = fastspec.melspectrogram(y10, sr=22050, n_fft=1024, hop_length=256, n_mels=80)
    gl = dict(n_fft=1024, hop_length=256, n_iter=32, rng=0)
    return [
        ("spectrogram 60 s 44.1 kHz n_fft=2048 hop=512", lambda: tf44.spectrogram(y44), framed(tf44, y44, np.float32),
         False, 1),
        ("log-mel 80 60 s 22.05 kHz n_fft=1024 hop=256", lambda: logmel(y22), framed(tf22, y22, np.float32), False, 1),
        ("mfcc 20 of 80 60 s 22.05 kHz n_fft=1024 hop=256", lambda: mfcc(y22), framed(tf22, y22, np.float32), False,
         1),
        ("griffin_lim 32 it 10 s 22.05 kHz n_fft=1024 hop=256", lambda: fastspec.griffin_lim(S10, **gl),
         framed(tf22, y10, np.float32), True, 32),
        ("mel_to_audio 32 it 10 s 22.05 kHz n_fft=1024 hop=256", lambda: fastspec.mel_to_audio(
            M10, sr=22050, **gl), framed(tf22, y10, np.float32), True, 32),
    ]


def one_process_threads(rounds):
    """Every task at 1 and 2 threads with its floors, in this process: ``{task: {figure: seconds}}``."""
    import fastspec
    from fastspec.benchmark.runner import limit_blas_threads

    results = {}
    with limit_blas_threads(1):
        for name, fn, frames, inverse_too, n_iter in _tasks():
            floor_one, floor_fftw_two, floor_python_two = _floors(frames, inverse_too, n_iter)

            def at(threads, fn=fn):
                return lambda: (fastspec.set_num_threads(threads), fn())

            timings = _rounds({"1 thread": at(1), "2 threads": at(2), "floor 1": floor_one,
                               "floor 2 (FFTW threads)": floor_fftw_two, "floor 2 (Python threads)": floor_python_two},
                              rounds)
            timings["floor 2"] = min(timings["floor 2 (FFTW threads)"], timings["floor 2 (Python threads)"])
            results[name] = timings
    return results


def clip(rounds):
    """Per-call figures of the 1 s clip (one thread)."""
    import fastspec
    from fastspec import data
    from fastspec.benchmark.cases_stft import fft_floors, framed

    fastspec.set_num_threads(1)
    y = data.speech(22050, 1.0, dtype=np.float32)
    mel = fastspec.MelSpectrogram(sr=22050, n_fft=1024, hop_length=256, n_mels=80)
    floor = fft_floors(framed(mel.stft, y, np.float32))["fftw floor"]
    batch = 20

    def many(fn):
        def run():
            for _ in range(batch):
                fn()
        return run

    t = _rounds({"MelSpectrogram": many(lambda: mel(y)), "fftw floor": many(floor)}, rounds * 5)
    return {name: seconds / batch for name, seconds in t.items()}


COLD_SCRIPT = """
import time, numpy as np
t0 = time.perf_counter()
import fastspec
y = np.random.default_rng(0).standard_normal(2 ** 21).astype(np.float32)
t1 = time.perf_counter()
S = fastspec.spectrogram(y, n_fft=2 ** 20, hop_length=2 ** 18)
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {S.shape}")
"""

MEMORY_SCRIPT = """
import resource, numpy as np, fastspec
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
fastspec.spectrogram(y, n_fft=256, hop_length=64)
before = rss_mb()
for n_fft in range(300, 300 + 400 * 10, 10):
    fastspec.spectrogram(y, n_fft=n_fft, hop_length=n_fft // 4)
print(f"{before:.0f} {rss_mb():.0f} {fastspec._fft.cached_bytes() / 2**20:.1f}")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--part", choices=("threads", "clip", "cold", "memory"), action="append")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_process_threads(args.rounds)))
        return
    parts = args.part or ["threads", "clip", "cold", "memory"]
    if "threads" in parts:
        runs = []
        for i in range(args.processes):
            out = subprocess.run([sys.executable, HERE, "--one", "--rounds", str(args.rounds)], check=True,
                                 capture_output=True, text=True)
            runs.append(json.loads(out.stdout))
            print(f"process {i + 1}:")
            for name, t in runs[-1].items():
                print(f"  {name}: 1 thread {t['1 thread'] * 1e3:.2f} ms, 2 threads {t['2 threads'] * 1e3:.2f} ms "
                      f"({t['2 threads'] / t['1 thread']:.2f}x), 2-thread floor {t['floor 2'] * 1e3:.2f} ms "
                      f"({t['2 threads'] / t['floor 2']:.2f}x), 1-thread floor {t['floor 1'] * 1e3:.2f} ms "
                      f"({t['1 thread'] / t['floor 1']:.2f}x)")
        print("worst of the processes:")
        for name in runs[0]:
            scale = max(r[name]["2 threads"] / r[name]["1 thread"] for r in runs)
            floor = max(r[name]["2 threads"] / r[name]["floor 2"] for r in runs)
            print(f"  {name}: 2 threads / 1 thread <= {scale:.2f}, 2 threads / 2-thread floor <= {floor:.2f}")
    if "clip" in parts:
        out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {os.path.dirname(HERE)!r}); "
                              f"import bench_engine, json; print(json.dumps(bench_engine.clip({args.rounds})))"],
                             check=True, capture_output=True, text=True)
        t = json.loads(out.stdout)
        print(f"1 s clip, reusable MelSpectrogram: {t['MelSpectrogram'] * 1e6:.0f} us, FFT floor "
              f"{t['fftw floor'] * 1e6:.0f} us ({t['MelSpectrogram'] / t['fftw floor']:.2f}x)")
    if "cold" in parts:
        subprocess.run([sys.executable, "-c", COLD_SCRIPT], check=True, capture_output=True)  # compile once
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", COLD_SCRIPT], check=True, capture_output=True, text=True)
            imports, first = out.stdout.split()[:2]
            print(f"fresh process, n_fft=2**20: import {float(imports):.2f} s, first spectrogram {float(first):.2f} s")
    if "memory" in parts:
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], check=True, capture_output=True, text=True)
        before, after, cached = out.stdout.split()
        print(f"400 distinct n_fft: resident {before} MB -> {after} MB (+{int(after) - int(before)} MB), "
              f"plan cache holds {cached} MB")


if __name__ == "__main__":
    main()
