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
