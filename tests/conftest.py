import os

import numpy as np
import pytest

from fastspec.reference import tolerance


@pytest.fixture(scope="session", autouse=True)
def _outside_the_checkout(tmp_path_factory):
    # Processes the tests start (python -m fastspec.cli, python -c) put their working folder on
    # sys.path: from the checkout's root they would import the source tree, not the installed package.
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(before)


def assert_close(actual, expected, kind, dtype=None, scale=None):
    """Assert dtype-derived agreement: max |actual - expected| <= tol * scale (default max|expected|)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    dtype = actual.dtype if dtype is None else dtype
    tol = tolerance(dtype, kind)
    scale = float(np.max(np.abs(expected))) if scale is None else scale
    err = float(np.max(np.abs(actual.astype(np.complex128) - expected.astype(np.complex128))))
    assert err <= tol * scale, f"{kind}: max abs error {err:.3g} > {tol:.3g} x {scale:.3g}"


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


_FORK_DURING = """
import os, threading, time
import numpy as np, fastspec
y = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
{start}
children = []
for _ in range({forks}):
    time.sleep({pause})
    pid = os.fork()
    if pid == 0:
        try:
            ok = fastspec.melspectrogram(y=y, sr=16000).shape == (128, 32)
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    children.append(pid)
thread.join()
deadline = time.monotonic() + 120
codes = []
for pid in children:
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            codes.append(os.waitstatus_to_exitcode(status))
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            codes.append("hung")
            break
        time.sleep(0.05)
assert codes == [0] * len(children), codes
"""


def fork_during(start, forks, pause):
    """A script that runs ``start`` (which must bind ``thread``, already started), forks ``forks``
    children ``pause`` seconds apart meanwhile, and exits 0 only if every child's first
    ``melspectrogram`` succeeded without hanging."""
    return _FORK_DURING.format(start=start, forks=forks, pause=pause)
