"""The block engine's contract: results independent of threads, settings per thread, a bounded plan cache,
reproducible plans, fork hooks, and module boundaries."""

import ast
import gc
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastspec
from fastspec import _fft, data

from .conftest import fork_during

PACKAGE = pathlib.Path(fastspec.__file__).parent


def _each_thread_count(fn, counts=(1, 2, 3)):
    results = []
    for n in counts:
        with fastspec.config(num_threads=n):
            results.append(fn())
    return results


@pytest.mark.parametrize("name", ["istft", "griffin_lim", "mfcc", "mel_to_audio", "spectrogram_batch"])
def test_results_do_not_depend_on_thread_count(name):
    y = data.music(22050, 4.0, dtype=np.float32)
    S = fastspec.stft(y, n_fft=1024, hop_length=128)
    M = fastspec.melspectrogram(y, sr=22050, n_fft=1024, hop_length=256)
    calls = {
        "istft": lambda: fastspec.istft(S, hop_length=128, length=y.size),
        "griffin_lim": lambda: fastspec.griffin_lim(np.abs(S), hop_length=128, n_iter=5, rng=1, return_history=True),
        "mfcc": lambda: fastspec.mfcc(y, sr=22050, n_fft=1024, hop_length=256),
        "mel_to_audio": lambda: fastspec.mel_to_audio(M, sr=22050, n_fft=1024, hop_length=256, n_iter=3, rng=2),
        "spectrogram_batch": lambda: fastspec.spectrogram(np.stack([y, y[::-1]]), n_fft=512, hop_length=64),
    }
    first, *others = _each_thread_count(calls[name])
    for other in others:
        for a, b in zip(np.atleast_1d(first) if name != "griffin_lim" else first,
                        np.atleast_1d(other) if name != "griffin_lim" else other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_config_overrides_only_the_calling_thread():
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def other():
        inside.wait(10)
        seen["other"] = fastspec.get_num_threads()
        done.set()

    old = fastspec.set_num_threads(2)
    try:
        thread = threading.Thread(target=other)
        thread.start()
        with fastspec.config(num_threads=1, reproducible=True):
            seen["inside"] = fastspec.get_num_threads()
            inside.set()
            done.wait(10)
        thread.join(10)
        seen["after"] = fastspec.get_num_threads()
    finally:
        fastspec.set_num_threads(old)
    assert seen == {"inside": 1, "other": 2, "after": 2}


def test_plan_cache_respects_its_bound():
    y = data.noise(8000, 0.5, dtype=np.float32)
    limit_mb = 0.5
    with fastspec.config(plan_cache_mb=limit_mb):
        for n_fft in range(200, 1200, 37):
            fastspec.spectrogram(y, n_fft=n_fft, hop_length=n_fft // 4)
            assert _fft.cached_bytes() <= limit_mb * (1 << 20)
        reference = fastspec.spectrogram(y, n_fft=512, hop_length=128)
    gc.collect()  # threads of earlier tests hand their kept plans back when their locals are collected
    fastspec.clear_plan_cache()
    assert _fft.cached_bytes() < limit_mb * (1 << 20)
    # Evicted plans are made again, with the same results.
    np.testing.assert_array_equal(fastspec.spectrogram(y, n_fft=512, hop_length=128), reference)


_REPRODUCIBLE_SCRIPT = """
import hashlib, sys
import numpy as np
import fastspec
from fastspec import data

y = data.birdsong(22050, 3.0, dtype=np.float32)
if sys.argv[1] == "measured-first":
    # Measured plans (and their wisdom) for the same shapes, made before reproducible mode.
    with fastspec.config(planner_effort="FFTW_PATIENT"):
        fastspec.spectrogram(y, n_fft=1024, hop_length=256)
        fastspec.griffin_lim(fastspec.spectrogram(y, n_fft=1024, hop_length=256), n_iter=2, rng=0)
fastspec.set_reproducible(True)
S = fastspec.spectrogram(y, n_fft=1024, hop_length=256)
y_gl = fastspec.griffin_lim(S, n_iter=4, rng=0)
print(hashlib.sha256(S.tobytes() + y_gl.tobytes()).hexdigest())
"""


def test_reproducible_mode_gives_the_same_bytes_in_every_process():
    def digest(mode):
        out = subprocess.run([sys.executable, "-c", _REPRODUCIBLE_SCRIPT, mode], capture_output=True, text=True,
                             timeout=300, check=True)
        return out.stdout.strip()

    first = digest("fresh")
    assert len(first) == 64
    assert digest("measured-first") == first
    assert digest("fresh") == first


def test_import_leaves_numba_settings_alone():
    script = ("import numba; before = numba.config.THREADING_LAYER; import fastspec; "
              "assert numba.config.THREADING_LAYER == before, numba.config.THREADING_LAYER")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_fork_while_another_thread_plans():
    # A thread keeps making new plans (the planner lock taken and released all the time) while the
    # main thread forks: the child must get a usable planner and pool, never a held lock.
    stop = threading.Event()
    y = data.noise(8000, 0.5, dtype=np.float32)

    def planner():
        n_fft = 300
        while not stop.is_set():
            fastspec.spectrogram(y, n_fft=n_fft, hop_length=100)
            n_fft = 300 + (n_fft - 299) % 500

    thread = threading.Thread(target=planner)
    thread.start()
    try:
        for _ in range(5):
            pid = os.fork()
            if pid == 0:  # child: exit 0 only if fastspec works at once
                try:
                    with fastspec.config(num_threads=2):
                        S = fastspec.spectrogram(y, n_fft=1000, hop_length=100)
                        ok = np.allclose(fastspec.istft(fastspec.stft(y, n_fft=1000, hop_length=100), hop_length=100,
                                                        length=y.size), y, atol=1e-4)
                    os._exit(0 if ok and S.shape == (501, 41) else 1)
                except BaseException:
                    os._exit(2)
            deadline = 60
            for _ in range(deadline * 10):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                threading.Event().wait(0.1)
            else:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("a fork child hung")
            assert os.waitstatus_to_exitcode(status) == 0
    finally:
        stop.set()
        thread.join(30)


def test_import_loads_no_numba_scipy_or_fftw():
    script = ("import sys, fastspec\n"
              "heavy = [m for m in ('numba', 'llvmlite', 'scipy', 'pyfftw') if m in sys.modules]\n"
              "assert not heavy, heavy\n"
              "fastspec.melspectrogram(y=fastspec.data.noise(16000, 0.5), sr=16000)\n"
              "assert 'numba' in sys.modules\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


# The first call in the thread loads numba and the kernels: the forks are spread over that loading.
FORK_DURING_FIRST_CALL = fork_during(
    "thread = threading.Thread(target=lambda: fastspec.melspectrogram(y=y, sr=16000))\nthread.start()",
    forks=20, pause=0.02)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_fork_while_another_thread_loads_the_kernels():
    # Kernels load on the first call; a fork then must neither hang the child nor break it.
    subprocess.run([sys.executable, "-c", FORK_DURING_FIRST_CALL], check=True, timeout=240)


WISDOM_SCRIPT = """
import sys, numpy as np, fastspec
y = np.random.default_rng(0).standard_normal(40000).astype(np.float32)
np.save(sys.argv[1], fastspec.spectrogram(y, n_fft=1536, hop_length=100))
"""


def _run_with_wisdom_dir(folder, out, **env):
    env = {**os.environ, "FASTSPEC_WISDOM_DIR": str(folder), "FASTSPEC_REPRODUCIBLE": "0", **env}
    subprocess.run([sys.executable, "-c", WISDOM_SCRIPT, str(out)], check=True, timeout=120, env=env)
    return np.load(out)


def test_measured_plans_are_remembered_between_processes(tmp_path):
    folder = tmp_path / "wisdom"
    first = _run_with_wisdom_dir(folder, tmp_path / "a.npy")
    files = list(folder.glob("fftwf-*.wisdom"))
    assert len(files) == 1 and files[0].stat().st_size > 100
    saved = files[0].read_bytes()
    # The next process plans from the file: the same algorithms, so the same bits, and nothing new to save.
    assert np.array_equal(_run_with_wisdom_dir(folder, tmp_path / "b.npy"), first)
    assert files[0].read_bytes() == saved
    files[0].write_bytes(b"(not wisdom")  # a damaged file is ignored (plans measured afresh), and replaced
    again = _run_with_wisdom_dir(folder, tmp_path / "c.npy")
    assert np.allclose(again, first, rtol=1e-5, atol=1e-5 * float(np.max(first)))
    assert files[0].read_bytes().startswith(b"(fftw")


def test_wisdom_persistence_can_be_off_or_impossible(tmp_path):
    (tmp_path / "a-file").write_text("")
    for folder in ("", tmp_path / "a-file" / "sub"):  # off; a folder that cannot be made
        _run_with_wisdom_dir(folder, tmp_path / "out.npy", XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists() and (tmp_path / "a-file").read_text() == ""


def _private_uses(path):
    """``module._name`` uses and ``from module import _name`` imports of another fastspec module in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("fastspec")):
            for alias in node.names:
                name = alias.asname or alias.name
                target = (PACKAGE / (node.module or "").replace(".", "/") / alias.name)
                is_module = target.with_suffix(".py").exists() or target.is_dir()
                if is_module:
                    modules.add(name)
                elif alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.name}:{node.lineno} imports {alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_reaches_into_another_modules_private_names():
    found = [use for path in sorted(PACKAGE.rglob("*.py")) for use in _private_uses(path)]
    assert found == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the last-resort locator reads /proc/self/maps")
def test_fftw_is_found_when_the_usual_places_fail():
    script = ("import numpy as np, fastspec, fastspec._fft as f; f._candidates = lambda: []; "
              "y = np.sin(np.arange(4096) / 7.0).astype(np.float32); "
              "S = fastspec.spectrogram(y, n_fft=256, hop_length=64); "
              "ref = np.abs(np.fft.rfft(np.hanning(257)[:-1] * y[:256])); "
              "assert np.allclose(S[:, 2], ref, rtol=1e-4, atol=1e-3), abs(S[:, 2] - ref).max()")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
