"""fastspec where FFTW's library cannot be found (its built-in FFT takes over) or numba has nowhere to cache.

The no-FFTW runs are fresh interpreters whose library locator finds nothing; their results are
compared with this process's (FFTW's, where it has FFTW) and with the NumPy oracle.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pytest

import fastspec
from fastspec import compat, data, reference

from .conftest import assert_close

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZES = (1, 2, 7, 400, 512, 1009, 2048)
COMPAT_SIZES = (8, 14, 400, 1010, 2048)  # the seed's inversion takes even sizes of at least 4
DTYPES = ("float32", "float64")
SR = 8000
# Relative to max |expected|: FFT-based results of the two back ends agree to a few ulps of the
# transform, iterated ones (Griffin-Lim, the seed's inversion) to a few more.
RTOL = {"float32": 2e-6, "float64": 1e-12}
RTOL_ITERATED = {"float32": 2e-5, "float64": 1e-11}


def workload(n_fft, dtype):
    """Every kind of transform at one ``n_fft``: ``{name: result}``."""
    y = data.music(SR, 1.0, dtype=dtype)
    hop = max(1, n_fft // 4)
    S = fastspec.stft(y, n_fft=n_fft, hop_length=hop)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Empty filters", UserWarning)  # n_fft of 1 and 2 have too few bins
        mel = fastspec.melspectrogram(y=y, sr=SR, n_fft=n_fft, hop_length=hop, n_mels=4)
    return {
        "stft": S,
        "istft": fastspec.istft(S, n_fft=n_fft, hop_length=hop, length=y.size),
        "spectrogram": fastspec.spectrogram(y, n_fft=n_fft, hop_length=hop, power=2.0),
        "melspectrogram": mel,
        "griffin_lim": fastspec.griffin_lim(np.abs(S), n_fft=n_fft, hop_length=hop, n_iter=3, length=y.size, rng=0),
    }


def compat_workload(n_fft, dtype):
    """The seed notebook's analysis and both of its inversions at one ``n_fft``."""
    y = data.music(SR, 1.0, dtype=dtype)
    step = n_fft // 4
    pretty = compat.pretty_spectrogram(y, fft_size=n_fft, step_size=step)
    two_sided = np.abs(compat.stft(y, fftsize=n_fft, step=step, real=False, compute_onesided=False))
    return {
        "pretty_spectrogram": pretty,
        "invert_pretty_spectrogram": compat.invert_pretty_spectrogram(pretty, fft_size=n_fft, step_size=step,
                                                                      n_iter=3),
        "iterate_invert_spectrogram": compat.iterate_invert_spectrogram(two_sided, n_fft, step, n_iter=3),
    }


def all_workloads():
    """``{"<family>/<n_fft>/<dtype>/<name>": result}`` of every workload."""
    out = {}
    for dtype in DTYPES:
        for n_fft in SIZES:
            out.update({f"stft/{n_fft}/{dtype}/{k}": v for k, v in workload(n_fft, dtype).items()})
        for n_fft in COMPAT_SIZES:
            out.update({f"compat/{n_fft}/{dtype}/{k}": v for k, v in compat_workload(n_fft, dtype).items()})
    return out


def _repeat(signal, found, times=5):
    with fastspec.config(num_threads=1):
        found += [fastspec.spectrogram(signal, n_fft=1009, hop_length=64) for _ in range(times)]


def thread_checks():
    """Whether 2 threads, and two Python threads at once, give the bits of 1 thread: ``{check: bool}``."""
    import threading

    checks = {}
    for dtype in DTYPES:
        y = data.music(22050, 3.0, dtype=dtype)

        def calls(y=y):
            S = fastspec.stft(y, n_fft=1009, hop_length=128)
            return [S, fastspec.istft(S, n_fft=1009, hop_length=128, length=y.size),
                    fastspec.griffin_lim(np.abs(S), n_fft=1009, hop_length=128, n_iter=3, rng=0),
                    fastspec.melspectrogram(y=y, sr=22050, n_fft=512, hop_length=64)]

        with fastspec.config(num_threads=1):
            alone = calls()
        with fastspec.config(num_threads=2):
            shared = calls()
        checks[f"num_threads/{dtype}"] = all(np.array_equal(a, b) for a, b in zip(alone, shared, strict=True))
        # Two Python threads executing the same plans at once, on different signals.
        signals = [y, y[::-1].copy()]
        with fastspec.config(num_threads=1):
            serial = [fastspec.spectrogram(s, n_fft=1009, hop_length=64) for s in signals]
        found = [[], []]
        threads = [threading.Thread(target=_repeat, args=(s, f)) for s, f in zip(signals, found, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        checks[f"python_threads/{dtype}"] = all(len(f) == 5 and all(np.array_equal(r, s) for r in f)
                                                for f, s in zip(found, serial, strict=True))
    return checks


# A fresh interpreter whose FFTW locator finds nothing anywhere: first with FFTW demanded (an
# error), then as by default (the fallback, with its warning).
_NO_FFTW = """
import json, sys, warnings
import numpy as np
import fastspec
from fastspec import _fft
_fft._candidates = lambda: iter(())
_fft._loaded_by_pyfftw = lambda: iter(())
from tests import test_portability as t

report = {}
_fft.FFT_BACKEND = "fftw"
try:
    fastspec.stft(np.zeros(64, np.float32), n_fft=16)
except RuntimeError as error:
    report["strict"] = str(error)
_fft.FFT_BACKEND = "auto"
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")  # every warning shown: the once-only must be fastspec's own
    results = t.all_workloads()
    report["threads"] = t.thread_checks()
report["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught if "FFTW" in str(w.message)]
report["libraries"] = {prefix: lib is None for prefix, lib in _fft._libraries.items()}
np.savez(sys.argv[1], **results)
print(json.dumps(report))
"""


def _run(script, *args, env=None, cwd=ROOT):
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [environment.get("PYTHONPATH")] if p])
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=environment, cwd=cwd)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def without_fftw(tmp_path_factory):
    """``(results, report)`` of the no-FFTW interpreter, and this process's results of the same workloads."""
    path = tmp_path_factory.mktemp("no_fftw") / "results.npz"
    report = json.loads(_run(_NO_FFTW, path).stdout.strip().splitlines()[-1])
    with np.load(path) as saved:
        results = dict(saved)
    with fastspec.config(planner_effort="FFTW_ESTIMATE"):
        here = all_workloads()
    return results, report, here


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_fft", SIZES)
def test_without_fftw_every_transform_agrees(without_fftw, n_fft, dtype):
    results, _, here = without_fftw
    for name in ("stft", "istft", "spectrogram", "melspectrogram", "griffin_lim"):
        key = f"stft/{n_fft}/{dtype}/{name}"
        actual, expected = results[key], here[key]
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, key
        rtol = (RTOL_ITERATED if name == "griffin_lim" else RTOL)[dtype]
        err = np.max(np.abs(actual - expected), initial=0.0)
        assert err <= rtol * np.max(np.abs(expected), initial=0.0), f"{key}: {err:.3g}"
    # And the fallback's STFT against the NumPy oracle.
    y = data.music(SR, 1.0, dtype=dtype)
    assert_close(results[f"stft/{n_fft}/{dtype}/stft"], reference.stft(y, n_fft=n_fft, hop_length=max(1, n_fft // 4)),
                 "stft")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_fft", COMPAT_SIZES)
def test_without_fftw_the_seed_api_agrees(without_fftw, n_fft, dtype):
    results, _, here = without_fftw
    for name in ("pretty_spectrogram", "invert_pretty_spectrogram", "iterate_invert_spectrogram"):
        key = f"compat/{n_fft}/{dtype}/{name}"
        actual, expected = results[key], here[key]
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, key
        err = np.max(np.abs(actual - expected))
        assert err <= RTOL_ITERATED["float64"] * np.max(np.abs(expected)), f"{key}: {err:.3g}"  # float64 inside


def test_without_fftw_one_warning_and_no_error(without_fftw):
    _, report, _ = without_fftw
    assert "could not find FFTW's" in report["strict"] and "FASTSPEC_FFT=fftw" in report["strict"]
    assert len(report["warnings"]) == 1, report["warnings"]
    assert report["warnings"][0].startswith("UserWarning:") and "built-in FFT" in report["warnings"][0]
    assert "pip install pyfftw" in report["warnings"][0] and "FASTSPEC_FFT=fallback" in report["warnings"][0]
    assert report["libraries"] == {"fftw": True, "fftwf": True}  # both precisions on the fallback


def test_without_fftw_threads_give_the_same_bits(without_fftw):
    _, report, _ = without_fftw
    assert report["threads"] == {f"{kind}/{dtype}": True for dtype in DTYPES for kind in ("num_threads",
                                                                                         "python_threads")}


_FORCED = """
import json, sys, warnings
import numpy as np
import fastspec
from fastspec import _fft
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for dtype in (np.float32, np.float64):
        S = fastspec.stft(np.sin(np.arange(4000) / 5).astype(dtype), n_fft=1009, hop_length=200)
    fastspec.export_wisdom(sys.argv[1])
    accepted = fastspec.import_wisdom(sys.argv[1])
print(json.dumps({"backend": _fft.FFT_BACKEND, "libraries": [lib is None for lib in _fft._libraries.values()],
                  "warnings": [str(w.message) for w in caught], "accepted": accepted}))
"""


def test_forced_fallback_is_silent_and_has_no_wisdom(tmp_path):
    env = dict(os.environ, FASTSPEC_FFT=" Fallback ")
    report = json.loads(_run(_FORCED, tmp_path / "wisdom", env=env).stdout)
    assert report == {"backend": "fallback", "libraries": [True, True], "warnings": [],
                      "accepted": [False, False, False]}
    assert (tmp_path / "wisdom").read_bytes() == bytes(24)  # three empty parts


def test_an_unknown_backend_is_an_error():
    env = dict(os.environ, FASTSPEC_FFT="cufft")
    done = subprocess.run([sys.executable, "-c", "import numpy as np, fastspec; fastspec.stft(np.zeros(64), n_fft=16)"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode != 0 and "FASTSPEC_FFT='cufft' is not one of auto, fftw, fallback" in done.stderr


def _rows(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=DTYPES[::-1])
def test_fallback_fft_matches_numpy(dtype):
    from fastspec._kernels import fallback_fft

    rtol = 1e-12 if dtype == np.float64 else 1e-6
    cplx = np.result_type(dtype, np.complex64)
    rng = np.random.default_rng(0)
    sizes = [*range(1, 70), 121, 289, 400, 512, 961, 3721, 1009, 1344, 2018, 2048, 4099, 3 * 5 * 7 * 11 * 13, 2 ** 16,
             65521]
    for n in sizes:
        batch = 3
        plan = fallback_fft.describe("r2c", n, batch, dtype)
        x = _rows(rng, (batch, n), dtype)
        spectrum = np.empty((batch, n // 2 + 1), cplx)
        fallback_fft.EXECUTE(plan.ctypes.data, x.ctypes.data, spectrum.ctypes.data)
        expected = np.fft.rfft(x.astype(np.float64), axis=1)
        err = np.max(np.abs(spectrum - expected))
        assert err <= rtol * np.max(np.abs(expected)), f"r2c n={n}: {err:.3g}"
        # c2r: unnormalised, the imaginary parts of DC and Nyquist ignored (as FFTW and NumPy do), input kept.
        given = (expected + 0.5j * _rows(rng, expected.shape, np.float64)).astype(cplx)
        kept = given.copy()
        back = np.empty((batch, n), dtype)
        plan = fallback_fft.describe("c2r", n, batch, dtype)
        fallback_fft.EXECUTE(plan.ctypes.data, given.ctypes.data, back.ctypes.data)
        expected = n * np.fft.irfft(given.astype(np.complex128), n=n, axis=1)
        err = np.max(np.abs(back - expected))
        assert err <= rtol * np.max(np.abs(expected)), f"c2r n={n}: {err:.3g}"
        np.testing.assert_array_equal(given, kept)


def test_fallback_tables_are_exact_where_the_roots_are():
    from fastspec._kernels import fallback_fft

    for n in (4, 8, 12, 1000, 4096, 1009 * 4):
        roots = fallback_fft.unit_roots(np.arange(0, n, n // 4), n)
        np.testing.assert_array_equal(roots, [1, -1j, -1, 1j])
    assert fallback_fft.radices(4 * 4 * 2 * 3 * 7 * 61) == [4, 4, 2, 3, 7, 61]
    assert fallback_fft.radices(2 * 67) is None  # Bluestein's
    assert [fallback_fft.smooth_length(n) for n in (1, 2017, 8197)] == [1, 2025, 8640]


# ----- numba with nowhere to cache ---------------------------------------------------------------
# The package folder and HOME made unwritable by numba's own check failing there: the locators all
# ask ensure_cache_path whether they may write, which refuses everything outside TMPDIR (or
# everything, for "nowhere").
_NO_CACHE_PLACE = """
import os, sys, tempfile, warnings
import numba.core.caching as caching
temporary = tempfile.gettempdir()
ensure = caching._CacheLocator.ensure_cache_path

def refuse(self):
    if sys.argv[1] == "nowhere" or not os.path.abspath(self.get_cache_path()).startswith(temporary + os.sep):
        raise PermissionError("read-only, as in a locked-down container")
    ensure(self)

caching._CacheLocator.ensure_cache_path = refuse
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numba, numpy as np, fastspec
    from fastspec import reference
    y = np.sin(np.arange(4000) / 5).astype(np.float32)
    S = fastspec.stft(y, n_fft=256, hop_length=64)
assert np.allclose(S, reference.stft(y, n_fft=256, hop_length=64), atol=1e-3)
assert numba.config.CACHE_DIR == "", numba.config.CACHE_DIR  # numba's own setting left as it was
print([str(w.message) for w in caught if "numba" in str(w.message)])
"""


def _locked_env(tmp_path):
    """The environment of a container: HOME unwritable, TMPDIR of its own, no NUMBA_CACHE_DIR."""
    home, temporary = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temporary.mkdir()
    home.chmod(0o555)
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), TMPDIR=str(temporary))
    return env, temporary


def test_kernels_cache_in_a_private_temporary_folder_where_numba_has_none(tmp_path):
    env, temporary = _locked_env(tmp_path)
    assert _run(_NO_CACHE_PLACE, "temporary", env=env).stdout.strip() == "[]"
    folder = temporary / (f"fastspec-numba-cache-{os.getuid()}" if hasattr(os, "getuid") else "fastspec-numba-cache")
    assert any(folder.rglob("pipeline.forward_complex-*.nbi"))  # the kernels were cached there
    if hasattr(os, "getuid"):
        assert folder.stat().st_mode & 0o077 == 0


def test_kernels_compile_uncached_with_a_warning_where_nothing_is_writable(tmp_path):
    env, _ = _locked_env(tmp_path)
    warned = _run(_NO_CACHE_PLACE, "nowhere", env=env).stdout
    assert warned.count("every process compiles them afresh") == 1 and "NUMBA_CACHE_DIR" in warned


def _drops_write_permission():
    """A command prefix under which this process's files' permission bits hold (root: without the override)."""
    if not hasattr(os, "geteuid"):
        return None
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"] if setpriv else None


def test_import_from_a_read_only_install(tmp_path):
    prefix = _drops_write_permission()
    if prefix is None:
        pytest.skip("no way to make permission bits hold for this user")
    site = tmp_path / "site"
    shutil.copytree(ROOT / "fastspec", site / "fastspec", ignore=shutil.ignore_patterns("__pycache__"))
    env, temporary = _locked_env(tmp_path)
    env["PYTHONPATH"] = str(site)
    for path in [site, *site.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    script = ("import numpy as np, fastspec; from fastspec import reference; "
              f"assert fastspec.__file__.startswith({str(site)!r}), fastspec.__file__; "
              "y = np.sin(np.arange(4000) / 5).astype(np.float32); S = fastspec.stft(y, n_fft=256, hop_length=64); "
              "assert np.allclose(S, reference.stft(y, n_fft=256, hop_length=64), atol=1e-3)")
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                              env=env, cwd=tempfile.gettempdir())
        assert done.returncode == 0, done.stderr[-4000:]
        assert not any(site.rglob("__pycache__"))  # nothing written into the install
        assert any(temporary.rglob("*.nbi"))
    finally:
        for path in [site, *site.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # so that pytest can remove it
