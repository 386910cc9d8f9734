"""pytest-benchmark over the registry in ``fastspec.benchmark``: one test per case.

Each test first runs every implementation once and asserts its agreement with fastspec, so a
fast wrong answer fails. With benchmarks disabled (the default, see pyproject.toml) that check
is all it does, which is how CI runs the quick tier. With ``--benchmark-enable`` it times
fastspec with pytest-benchmark and every implementation (fastspec, reference, librosa, the FFT
floors...) side by side with one timer, into ``extra_info["timings"]``, which
``benchmarks/render_table.py`` turns into the README's table.

Cases outside the quick tier are marked ``slow`` and deselected by default; run everything with
``pytest benchmarks --benchmark-enable -m "slow or not slow" --benchmark-json=bench.json``.
"""

import pytest

import fastspec
from fastspec.benchmark import CASES, check_case, time_callable
from fastspec.benchmark.runner import limit_blas_threads

PARAMS = [pytest.param(case, id=case.name, marks=[] if case.quick else [pytest.mark.slow]) for case in CASES]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Like for like: fastspec, every floor and every anchor (BLAS too) on one thread.
    old = fastspec.set_num_threads(1)
    yield
    fastspec.set_num_threads(old)


@pytest.mark.parametrize("case", PARAMS)
def test_case(case, benchmark):
    impls = case.setup()
    check_case(case, impls)
    benchmark.group = case.group
    if not benchmark.disabled:
        with limit_blas_threads(1):
            benchmark.extra_info["timings"] = {name: time_callable(fn, warm_up=False) for name, fn in impls.items()}
    benchmark(impls["fastspec"])
