"""fastspec.warm_up: the first calls' kernel loading and planning, paid ahead (and safe to fork around)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastspec
from fastspec import ParameterError, data

from .conftest import fork_during


def test_warm_up_in_a_fresh_process_loads_kernels_and_plans():
    script = ("import sys, numpy as np, fastspec\n"
              "assert 'numba' not in sys.modules\n"
              "fastspec.warm_up(n_fft=1024, kinds=('stft', 'melspectrogram'))\n"
              "assert 'numba' in sys.modules and 'fastspec._kernels.pipeline' in sys.modules\n")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)


def test_calls_after_warm_up_give_the_same_numbers():
    y = data.speech(16000, 1.0, seed=3)
    before = fastspec.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=128)
    fastspec.warm_up(n_fft=512, kinds=("stft", "istft", "melspectrogram", "mfcc", "griffin_lim"))
    thread = fastspec.warm_up(n_fft=(256, 512), dtype=np.float64, background=True)
    thread.join(300)
    assert not thread.is_alive()
    assert np.array_equal(fastspec.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=128), before)


def test_warm_up_refuses_what_it_cannot_prepare():
    with pytest.raises(ParameterError, match="n_fft"):
        fastspec.warm_up(n_fft=0)
    with pytest.raises(ParameterError, match="dtype"):
        fastspec.warm_up(dtype=np.int16)
    with pytest.raises(ParameterError, match="kinds"):
        fastspec.warm_up(kinds=("chroma",))


FORK_DURING_WARM_UP = fork_during("thread = fastspec.warm_up(background=True)", forks=10, pause=0.05)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_fork_during_a_background_warm_up():
    subprocess.run([sys.executable, "-c", FORK_DURING_WARM_UP], check=True, timeout=300)
