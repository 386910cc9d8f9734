"""Cold-start cases: whole fresh processes, timed from launch to exit.

What a notebook user or a data-loader worker pays before its first result: the interpreter,
``import``, loading (or, with empty caches, compiling) numba kernels, planning FFTs. Each call
runs ``python -c ...`` in a new process; "warm" uses the caches earlier runs left (numba's
kernels, fastspec's FFTW wisdom, see ``FASTSPEC_WISDOM_DIR``), "empty" points both, and
librosa's numba cache, at a new empty folder for every run. The floor is the interpreter with
NumPy imported, which any of them pays.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from .registry import Case, has_module, register

_SIGNAL = "y = (0.1 * np.random.default_rng(0).standard_normal(5 * 22050)).astype(np.float32)\n"
_CODE = {
    "import": {"fastspec": "import fastspec", "librosa": "import librosa"},
    "melspectrogram": {
        "fastspec": "import sys, numpy as np, fastspec\n" + _SIGNAL
                    + "np.save(sys.argv[1], fastspec.melspectrogram(y=y, sr=22050))",
        "librosa": "import sys, numpy as np, librosa\n" + _SIGNAL
                   + "np.save(sys.argv[1], librosa.feature.melspectrogram(y=y, sr=22050))",
    },
}


def _process(code, empty_caches):
    """A zero-argument callable running ``code`` in a fresh interpreter; returns what it saved, if anything."""
    def run():
        scratch = tempfile.mkdtemp(prefix="fastspec-coldstart-")
        try:
            env = dict(os.environ)
            if empty_caches:
                env.update(NUMBA_CACHE_DIR=os.path.join(scratch, "numba"),
                           FASTSPEC_WISDOM_DIR=os.path.join(scratch, "wisdom"))
            out = os.path.join(scratch, "result.npy")
            subprocess.run([sys.executable, "-c", code, out], check=True, env=env, cwd=scratch,
                           stdout=subprocess.DEVNULL)
            return np.load(out) if os.path.exists(out) else None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return run


def _check(name, ours, theirs):
    if ours is None and theirs is None:  # an import: nothing to compare
        return
    err = float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))
    assert ours.shape == theirs.shape and err <= 1e-5, f"{name}: relative error {err:.3g}"


def _case(task, empty_caches):
    def setup():
        impls = {name: _process(code, empty_caches) for name, code in _CODE[task].items()
                 if name == "fastspec" or has_module(name)}
        impls["interpreter + numpy floor"] = _process("import numpy", empty_caches)
        return impls

    caches = "empty caches" if empty_caches else "warm caches"
    label = "import" if task == "import" else "import + first melspectrogram 5 s 22.05 kHz"
    register(Case(f"fresh process: {label}, {caches}", "coldstart", setup, _check, quick=False))


for _task in _CODE:
    _case(_task, empty_caches=False)
_case("melspectrogram", empty_caches=True)
