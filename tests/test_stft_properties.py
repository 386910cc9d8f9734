"""Property-based sweep of the STFT's parameter space against the plain reference."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import fastspec
from fastspec import reference

from .conftest import assert_close


@settings(max_examples=60, deadline=None)
@given(
    n_fft=st.integers(2, 300),
    hop_fraction=st.floats(0.05, 1.6),
    win_fraction=st.floats(0.3, 1.0),
    n_samples=st.integers(1, 2000),
    center=st.booleans(),
    pad_mode=st.sampled_from(["constant", "reflect", "edge"]),
    window=st.sampled_from(["hann", "hamming", "blackman", ("kaiser", 4.0), "boxcar"]),
    float32=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_stft_equals_reference_everywhere(n_fft, hop_fraction, win_fraction, n_samples, center, pad_mode,
                                          window, float32, seed):
    win_length = max(1, int(n_fft * win_fraction))
    hop = max(1, int(win_length * hop_fraction))
    if not center and n_samples < n_fft:
        n_samples = n_fft
    dtype = np.float32 if float32 else np.float64
    y = np.random.default_rng(seed).standard_normal(n_samples).astype(dtype)
    kwargs = dict(n_fft=n_fft, hop_length=hop, win_length=win_length, window=window, center=center,
                  pad_mode=pad_mode)
    ours = fastspec.stft(y, **kwargs)
    expected = reference.stft(y, **kwargs)
    assert ours.dtype == np.result_type(dtype, np.complex64)
    assert_close(ours, expected, "stft", scale=max(float(np.abs(expected).max()), 1e-3))
