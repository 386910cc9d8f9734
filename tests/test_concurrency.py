"""Concurrency: results must not depend on what else runs at the same time.

Calls from several Python threads at once (on shared objects too, each call also on fastspec's
own threads), calls while another thread changes ``set_num_threads``, forked children of a
threaded parent, and a Dask worker converting two files at once. Every wait is bounded, so a
deadlock fails the test instead of blocking the run.
"""

import multiprocessing
import os
import random
import threading
import time
from collections import Counter

import numba
import numpy as np
import pytest
import soundfile as sf

import fastspec
from fastspec import batch, compat

SR = 22050
CALLER_THREADS = 8
GRACE = 60.0  # seconds a caller thread may overrun its deadline before it counts as hung
CHILD_TIMEOUT = 30.0  # seconds a group of forked children may take (they need well under one)

pytestmark = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="timed concurrent runs need the compiled kernels")


@pytest.fixture(autouse=True)
def restore_thread_setting():
    old = fastspec.get_num_threads()
    yield
    fastspec.set_num_threads(old)


@pytest.fixture
def estimate_plans():
    """Plans from FFTW's ESTIMATE heuristic, the caller's effort restored afterwards.

    A child that builds a plan the parent also builds may measure a different algorithm, which
    changes the last bits of its results; the heuristic picks the same one in both.
    """
    old = fastspec.set_planner_effort("FFTW_ESTIMATE")
    yield
    fastspec.set_planner_effort(old)


def _signal(seconds, dtype, seed, channels=None):
    """A 100 Hz to 5 kHz chirp plus noise from a seeded generator; ``channels`` rows if given."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    phase = 2 * np.pi * (100 * t + 4900 * t**2 / (2 * seconds))
    noise = rng.standard_normal(t.shape if channels is None else (channels, t.size))
    return (0.5 * np.sin(phase) + 0.05 * noise).astype(dtype)


def _as_arrays(result):
    """A case's result (an array, a tuple of them or a number) as a tuple of arrays."""
    return tuple(map(np.asarray, result)) if isinstance(result, tuple) else (np.asarray(result),)


def _agree(got, want, equal):
    """Same number of arrays, each of the same dtype and shape, and ``equal`` in values."""
    return len(got) == len(want) and all(
        g.dtype == w.dtype and g.shape == w.shape and equal(g, w) for g, w in zip(got, want, strict=True))


def _identical(got, want):
    """Same dtypes, shapes and bytes (so NaN and signed zeros count as equal only to themselves)."""
    return _agree(got, want, lambda g, w: g.tobytes() == w.tobytes())


def _close(got, want):
    """Equal to rounding: with two threads an overlap-add sums its frames in another order."""
    def equal(g, w):
        rtol = 1e-5 if w.dtype in (np.float32, np.complex64) else 1e-10
        return np.allclose(g, w, rtol=rtol, atol=rtol * float(np.max(np.abs(w), initial=0)))

    return _agree(got, want, equal)


class _Tally:
    """One caller thread's counts per case: calls, results that disagree, exceptions."""

    def __init__(self):
        self.runs, self.wrong, self.errors = Counter(), Counter(), Counter()
        self.first_error = {}


def _hammer(cases, expected, agree, deadline, seed, tally):
    """Call the cases in passes of a shuffled order until ``deadline``, recording into ``tally``."""
    order = sorted(cases)
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        rng.shuffle(order)
        for name in order:
            if time.monotonic() >= deadline:
                break
            tally.runs[name] += 1
            try:
                got = _as_arrays(cases[name]())
            except Exception as err:  # recorded per case; the assertion at the end lists them
                tally.errors[name] += 1
                tally.first_error.setdefault(name, f"{type(err).__name__}: {err}")
                continue
            if not agree(got, expected[name]):
                tally.wrong[name] += 1


def _run_callers(n_threads, cases, expected, agree, seconds):
    """Hammer ``cases`` from ``n_threads`` daemon threads; return the problems and the total calls."""
    deadline = time.monotonic() + seconds
    tallies = [_Tally() for _ in range(n_threads)]
    threads = [threading.Thread(target=_hammer, args=(cases, expected, agree, deadline, i, tallies[i]), daemon=True)
               for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline + GRACE - time.monotonic()))
    # A hung thread's tally may still change: only finished threads are counted.
    finished = [tally for thread, tally in zip(threads, tallies, strict=True) if not thread.is_alive()]
    runs, wrong, errors, first = Counter(), Counter(), Counter(), {}
    for tally in finished:
        runs.update(tally.runs)
        wrong.update(tally.wrong)
        errors.update(tally.errors)
        for name, message in tally.first_error.items():
            first.setdefault(name, message)
    problems = []
    if len(finished) < n_threads:
        problems.append(f"{n_threads - len(finished)} of {n_threads} threads still running {GRACE:g} s after "
                        "the deadline (deadlock?)")
    problems += [f"{name}: never ran" for name in sorted(cases) if runs[name] == 0]
    problems += [f"{name}: {wrong[name]} of {runs[name]} results differ" for name in sorted(wrong)]
    problems += [f"{name}: {errors[name]} of {runs[name]} calls raised, first {first[name]}" for name in sorted(errors)]
    return problems, sum(runs.values())


# ----- many threads, many plan shapes, shared objects -------------------------------------------
def _cases():
    """Name -> zero-argument call: n_fft 128 to 2048, float32 and float64, short, long and batched."""
    short32 = _signal(0.25, np.float32, 1)
    mid32 = _signal(1.5, np.float32, 2)
    mid64 = _signal(1.5, np.float64, 3)
    long32 = _signal(4.0, np.float32, 4)
    long64 = _signal(3.0, np.float64, 5)
    pair32 = _signal(2.0, np.float32, 6, channels=2)
    X_long32 = fastspec.stft(long32, n_fft=1024, hop_length=256)
    X_pair64 = fastspec.stft(pair32.astype(np.float64), n_fft=512, hop_length=128)
    S_long32 = np.abs(X_long32)
    S_mid32 = fastspec.spectrogram(mid32, n_fft=1024, hop_length=256)
    S_mid64 = fastspec.spectrogram(mid64, n_fft=512, hop_length=128)
    S_pair32 = fastspec.spectrogram(pair32, n_fft=512, hop_length=128)
    M = fastspec.melspectrogram(mid32, sr=SR, n_fft=1024, hop_length=256, n_mels=64)
    pretty = compat.pretty_spectrogram(mid64, fft_size=512, step_size=64)
    pretty_coarse = compat.pretty_spectrogram(short32.astype(np.float64), fft_size=512, step_size=128)
    mel_filter, mel_inversion = compat.create_mel_filter(512, n_freq_components=32, samplerate=SR)
    # One instance of each class, used from every thread at once.
    tf = fastspec.Stft(n_fft=1024, hop_length=256)
    mel = fastspec.MelSpectrogram(sr=SR, n_fft=2048, hop_length=512, n_mels=64, log="db")
    mfcc = fastspec.MFCC(sr=SR, n_fft=512, hop_length=128, n_mels=40, n_mfcc=13)
    X_shared = tf.stft(mid64)

    def seed_mel_round_trip():
        m = compat.make_mel(pretty, mel_filter, shorten_factor=4)
        return m, compat.mel_to_spectrogram(m, mel_inversion, spec_thresh=5, shorten_factor=4)

    return {
        "spectrogram long32 1024": lambda: fastspec.spectrogram(long32, n_fft=1024, hop_length=256),
        "spectrogram pair32 512 power": lambda: fastspec.spectrogram(pair32, n_fft=512, hop_length=128, power=2.0),
        "spectrogram short32 2048": lambda: fastspec.spectrogram(short32, n_fft=2048, hop_length=512),
        "stft mid64 2048": lambda: fastspec.stft(mid64, n_fft=2048, hop_length=512),
        "istft long32 1024": lambda: fastspec.istft(X_long32, hop_length=256, length=long32.size),
        "istft pair64 512": lambda: fastspec.istft(X_pair64, hop_length=128),
        "melspectrogram long32": lambda: fastspec.melspectrogram(long32, sr=SR, n_fft=2048, hop_length=512),
        "melspectrogram db pair32": lambda: fastspec.melspectrogram(pair32, sr=SR, n_fft=1024, hop_length=256,
                                                                    n_mels=40, log="db"),
        "mfcc mid64": lambda: fastspec.mfcc(mid64, sr=SR, n_fft=512, hop_length=128, n_mfcc=13),
        "griffin_lim random long32": lambda: fastspec.griffin_lim(S_long32, n_iter=4, hop_length=256, rng=0),
        "griffin_lim pghi mid64": lambda: fastspec.griffin_lim(S_mid64, n_iter=4, hop_length=128, init="pghi"),
        "griffin_lim pair32": lambda: fastspec.griffin_lim(S_pair32, n_iter=3, hop_length=128, rng=0),
        "pghi mid32": lambda: fastspec.pghi(S_mid32, hop_length=256),
        "mel_to_stft": lambda: fastspec.mel_to_stft(M, sr=SR, n_fft=1024, n_iter=20),
        "mel_to_audio": lambda: fastspec.mel_to_audio(M, sr=SR, n_fft=1024, hop_length=256, n_iter=3, rng=0,
                                                      nnls_iter=20),
        "spectral_convergence": lambda: fastspec.spectral_convergence(S_long32, long32, hop_length=256),
        "compat.pretty_spectrogram": lambda: compat.pretty_spectrogram(mid64, fft_size=512, step_size=64),
        "compat.invert_pretty_spectrogram": lambda: compat.invert_pretty_spectrogram(
            pretty_coarse, fft_size=512, step_size=128, n_iter=2),
        "compat.make_mel/mel_to_spectrogram": seed_mel_round_trip,
        "compat.stft": lambda: compat.stft(mid64, fftsize=128, step=65),
        "shared Stft.spectrogram long64": lambda: tf.spectrogram(long64),
        "shared Stft.stft mid32": lambda: tf.stft(mid32),
        "shared Stft.istft": lambda: tf.istft(X_shared, length=mid64.size),
        "shared MelSpectrogram long64": lambda: mel(long64),
        "shared MelSpectrogram pair32": lambda: mel(pair32),
        "shared MFCC long32": lambda: mfcc(long32),
    }


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_bit_identical(threads):
    # The process's own FFT setup (measured plans by default): within one process results must
    # not depend on concurrent calls in any setup.
    fastspec.set_num_threads(threads)  # restored by the autouse fixture
    cases = _cases()
    expected = {name: _as_arrays(call()) for name, call in cases.items()}
    unstable = [name for name, call in cases.items() if not _identical(_as_arrays(call()), expected[name])]
    assert not unstable, f"not reproducible even on one caller thread: {unstable}"
    problems, calls = _run_callers(CALLER_THREADS, cases, expected, _identical, seconds=6.0)
    assert not problems, f"{calls} calls from {CALLER_THREADS} threads:\n" + "\n".join(problems)


# ----- the thread setting changed while calls run ----------------------------------------------
def test_set_num_threads_toggled_during_calls():
    y32 = _signal(3.0, np.float32, 7)
    y64 = _signal(2.0, np.float64, 8)
    X = fastspec.stft(y32, n_fft=1024, hop_length=256)
    S = fastspec.spectrogram(y64, n_fft=512, hop_length=128)
    cases = {
        "istft": lambda: fastspec.istft(X, hop_length=256, length=y32.size),
        "spectrogram": lambda: fastspec.spectrogram(y64, n_fft=2048, hop_length=256),
        "griffin_lim": lambda: fastspec.griffin_lim(S, n_iter=4, hop_length=128, rng=0),
        "melspectrogram": lambda: fastspec.melspectrogram(y32, sr=SR, n_fft=1024, hop_length=256, n_mels=64,
                                                          log="db"),
    }
    fastspec.set_num_threads(1)
    expected = {name: _as_arrays(call()) for name, call in cases.items()}
    fastspec.set_num_threads(2)
    for name, call in cases.items():  # the tolerance holds between the two settings themselves
        assert _close(_as_arrays(call()), expected[name]), name

    stop = threading.Event()

    def toggle():
        n = 2
        while not stop.is_set():
            n = 3 - n
            fastspec.set_num_threads(n)
            time.sleep(0.0002)

    toggler = threading.Thread(target=toggle, daemon=True)
    toggler.start()
    try:
        # Callers on daemon threads rather than the main one, so that a deadlock times out.
        problems, calls = _run_callers(3, cases, expected, _close, seconds=2.0)
    finally:
        stop.set()
        toggler.join(10)
    assert not toggler.is_alive()
    assert not problems, f"{calls} calls while the setting toggled:\n" + "\n".join(problems)


# ----- fork -----------------------------------------------------------------------------------------
def _fork_jobs():
    """What the forked children compute, each on fastspec's threads (two of them)."""
    y = _signal(5.0, np.float32, 9)
    S = fastspec.spectrogram(y[:2 * SR], n_fft=1024, hop_length=256)
    return {
        "spectrogram": lambda: fastspec.spectrogram(y, n_fft=1024, hop_length=256),
        "griffin_lim": lambda: fastspec.griffin_lim(S, n_iter=4, hop_length=256, rng=0),
        "melspectrogram": lambda: fastspec.melspectrogram(y, sr=SR, n_fft=2048, hop_length=512, log="db"),
        # A shape no plan exists for at the fork: the child has to build plans itself.
        "new plans": lambda: fastspec.stft(y, n_fft=768, hop_length=192),
    }


def _fork_child(name, conn):
    """Body of a forked child: run job ``name`` at two threads, send ``(status, value)`` back."""
    try:
        fastspec.set_num_threads(2)
        conn.send(("ok", _fork_jobs()[name]()))
    except BaseException as err:  # reported by the parent, which has the test's context
        conn.send(("error", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


def _fork(ctx, name):
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_fork_child, args=(name, send), daemon=True)
    process.start()
    send.close()
    return name, process, receive


def _collect(children, timeout):
    """``[(name, status, value)]`` from the children; one that is still running at the timeout is killed."""
    deadline = time.monotonic() + timeout
    results = []
    try:
        for name, process, conn in children:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                results.append((name, "error", f"no result within {timeout:g} s (hung)"))
                continue
            try:
                status, value = conn.recv()
            except EOFError:
                process.join(5)
                status, value = "error", f"exited with code {process.exitcode} without a result"
            results.append((name, status, value))
    finally:
        for _, process, conn in children:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)
            conn.close()
    exits = {name: process.exitcode for name, process, _ in children}
    return [(name, status, value) if status != "ok" or exits[name] == 0 else
            (name, "error", f"sent its result but exited with code {exits[name]}") for name, status, value in results]


def _fork_problems(results, expected, label):
    problems = []
    for name, status, value in results:
        if status != "ok":
            problems.append(f"{label}, {name}: {value}")
        elif not _identical(_as_arrays(value), _as_arrays(expected[name])):
            problems.append(f"{label}, {name}: result differs from the parent's")
    return problems


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_child_after_threaded_parent(estimate_plans):
    ctx = multiprocessing.get_context("fork")
    fastspec.set_num_threads(2)
    jobs = _fork_jobs()
    names = ["spectrogram", "griffin_lim", "melspectrogram"]
    # The parent has run the pool (and built the plans) before it forks.
    expected = {name: jobs[name]() for name in names}
    problems = _fork_problems(_collect([_fork(ctx, name) for name in names], CHILD_TIMEOUT), expected,
                              "fork after threaded calls")

    # Fork while another thread is inside fastspec: each new length has a remainder chunk of a new
    # size, so in the first calls plans are being built (under the planner's lock) as well as run.
    y = _signal(2.0, np.float32, 10)
    stop, running, busy_errors = threading.Event(), threading.Event(), []

    def busy():
        i = 0
        try:
            while not stop.is_set():
                fastspec.spectrogram(y[:y.size - 37 * (i % 64)], n_fft=512, hop_length=128)
                i += 1
                running.set()
        except Exception as err:  # reported below
            busy_errors.append(f"{type(err).__name__}: {err}")
            running.set()

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    children = []
    try:
        assert running.wait(GRACE), "the busy thread made no call"
        for name in ["spectrogram", "new plans", "melspectrogram"]:
            children.append(_fork(ctx, name))
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(GRACE)
        results = _collect(children, CHILD_TIMEOUT)
    assert not thread.is_alive(), "the busy thread hung"
    assert not busy_errors, busy_errors
    expected["new plans"] = jobs["new plans"]()
    problems += _fork_problems(results, expected, "fork while a thread runs fastspec")
    assert not problems, "\n".join(problems)


# ----- Dask worker with two threads ----------------------------------------------------------------
def _outputs(folder):
    """Relative path -> bytes of every feature file under ``folder`` (the manifest is in run order)."""
    return {os.path.relpath(os.path.join(root, name), folder): open(os.path.join(root, name), "rb").read()
            for root, _, files in os.walk(folder) for name in files if name.endswith(".npy")}


def _within(seconds, function, *args, **kwargs):
    """``function(*args, **kwargs)`` on a daemon thread; fail if it takes longer than ``seconds``."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as err:  # re-raised in the test's thread
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} still running after {seconds:g} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# Small hops: each conversion is long enough (a few ms) for the worker's two threads to overlap.
FEATURES = [("logmel", dict(n_fft=1024, hop_length=64, n_mels=64)),
            ("mfcc", dict(n_fft=512, hop_length=32, n_mels=40, n_mfcc=13))]


def test_dask_threaded_worker_same_bytes(tmp_path):
    distributed = pytest.importorskip("distributed")
    corpus = tmp_path / "in"
    corpus.mkdir()
    for i, seconds in enumerate([0.5, 0.9, 1.4, 2.0, 2.5, 3.0]):
        sf.write(corpus / f"clip{i}.wav", _signal(seconds, np.float64, 20 + i), SR, subtype="PCM_16")
    problems = []
    # A single worker process whose two threads convert two files at the same time.
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0")
    try:
        with distributed.Client(cluster) as client:
            for feature, params in FEATURES:
                local, dask = tmp_path / f"{feature}-local", tmp_path / f"{feature}-dask"
                one = _within(GRACE, batch.convert, corpus, local, feature=feature, workers=1, progress=False,
                              **params)
                two = _within(GRACE, batch.convert, corpus, dask, feature=feature, client=client, progress=False,
                              **params)
                assert len(one.converted) == len(two.converted) == 6 and not one.failed and not two.failed
                reference, threaded = _outputs(local), _outputs(dask)
                assert sorted(threaded) == sorted(reference)
                differ = sorted(name for name in reference if threaded[name] != reference[name])
                if differ:
                    problems.append(f"{feature}: {len(differ)} of {len(reference)} files differ: {differ}")
    finally:
        cluster.close(timeout=30)
    assert not problems, "\n".join(problems)
