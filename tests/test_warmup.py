"""fastspec.warm_up: the first calls' kernel loading and planning, paid ahead (and safe to fork around)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastspec
from fastspec import ParameterError, data


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


FORK_DURING_WARM_UP = """
import os, time
import numpy as np, fastspec
y = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
thread = fastspec.warm_up(background=True)
children = []
for _ in range(10):
    time.sleep(0.05)
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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_fork_during_a_background_warm_up():
    subprocess.run([sys.executable, "-c", FORK_DURING_WARM_UP], check=True, timeout=300)
