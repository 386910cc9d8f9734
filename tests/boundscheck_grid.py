"""The kernels' edge grid, run by tests/test_kernels_boundscheck.py under NUMBA_BOUNDSCHECK=1.

Every call returns or raises a checked error (ParameterError, or the ValueError/TypeError the seed's
code raises, which compat repeats before any kernel runs); numba's bounds checks turn any
out-of-bounds access in a kernel into an IndexError, which ends this script with a traceback.
"""

import itertools
import sys
import warnings

import numba
import numpy as np

import fastspec
from fastspec import ParameterError, compat

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)


@numba.njit
def _probe(a, i):
    return a[i]


try:  # the grid proves nothing unless bounds checks are on
    _probe(np.zeros(2), 5)
    sys.exit("bounds checks are off: NUMBA_BOUNDSCHECK=1 did not reach numba")
except IndexError:
    pass
calls = 0


def attempt(fn, *args, **kwargs):
    global calls
    calls += 1
    try:
        return fn(*args, **kwargs)
    except (ParameterError, ValueError, TypeError):  # not IndexError: that is what this grid looks for
        return None


for n_fft, dtype in itertools.product((1, 2, 3, 16, 17), (np.float32, np.float64)):
    for hop, n, center, pad_mode in itertools.product((1, max(1, n_fft // 2), n_fft, 2 * n_fft + 1),
                                                      (1, n_fft - 1, n_fft, n_fft + 1, 3 * n_fft + 2),
                                                      (True, False), ("constant", "reflect", "edge")):
        if n < 1:
            continue
        y = rng.standard_normal((2, n)).astype(dtype)
        kw = dict(n_fft=n_fft, hop_length=hop, center=center)
        X = attempt(fastspec.stft, y, pad_mode=pad_mode, **kw)
        attempt(fastspec.spectrogram, y, power=1.5, pad_mode=pad_mode, **kw)
        attempt(fastspec.stft, y, win_length=max(1, n_fft // 2), **kw)
        if X is None:
            continue
        for length in (None, 1, n, n + hop + 3):
            attempt(fastspec.istft, X, length=length, **kw)
            attempt(fastspec.griffin_lim, np.abs(X), n_iter=1, length=length, rng=0, **kw)
        attempt(fastspec.pghi, np.abs(X), **kw)
    sr = 8000
    for n_mels, n in itertools.product((1, 4), (1, n_fft, 5 * n_fft + 3)):
        y = rng.standard_normal(n).astype(dtype)
        M = attempt(fastspec.melspectrogram, y, sr=sr, n_fft=max(n_fft, 2), hop_length=max(1, n_fft // 2),
                    n_mels=n_mels)
        attempt(fastspec.mfcc, y, sr=sr, n_fft=max(n_fft, 2), hop_length=max(1, n_fft // 2), n_mels=n_mels, n_mfcc=1)
        attempt(fastspec.melspectrogram, y, sr=16000, preset="psf", n_fft=max(n_fft, 2))
        if M is not None:
            attempt(fastspec.mel_to_audio, M, sr=sr, n_fft=max(n_fft, 2), hop_length=max(1, n_fft // 2), n_iter=1)

for fftsize, step, n in itertools.product((4, 6, 16), (1, 2, 3, 8, 20), (4, 17, 64)):
    x = rng.standard_normal(n)
    X = attempt(compat.stft, x, fftsize=fftsize, step=step, compute_onesided=False)
    attempt(compat.pretty_spectrogram, x, fft_size=fftsize, step_size=step)
    if X is not None and len(X):
        attempt(compat.invert_spectrogram, X, step)
        attempt(compat.iterate_invert_spectrogram, np.abs(X), fftsize, step, n_iter=1)
        attempt(compat.xcorr_offset, x[:fftsize], x[:fftsize][::-1])
print(f"{calls} calls, no out-of-bounds access")
sys.exit(0)
