"""Bad input across the public entry points: a ParameterError naming the parameter, nothing else.

Each row: a call and a fragment of the message, which names the parameter and the problem.
"""

import numpy as np
import pytest

import fastspec
from fastspec import ParameterError, compat, filters

_Y = np.random.default_rng(0).standard_normal(4096)
_S = np.abs(fastspec.stft(_Y, n_fft=512, hop_length=128))
_X = np.abs(compat.stft(_Y, fftsize=512, step=128, compute_onesided=False))
_PRETTY = compat.pretty_spectrogram(_Y, fft_size=512, step_size=128)

CASES = [
    # integers: bools, zero, negatives, floats with a fraction, and overflowing sizes
    ("stft hop True", lambda: fastspec.stft(_Y, hop_length=True), "hop_length=True"),
    ("stft n_fft 0", lambda: fastspec.stft(_Y, n_fft=0), "n_fft=0"),
    ("stft n_fft 2**70", lambda: fastspec.stft(_Y, n_fft=2**70), "too large"),
    ("stft n_fft 1.5", lambda: fastspec.stft(_Y, n_fft=1.5), "n_fft=1.5"),
    ("stft window", lambda: fastspec.stft(_Y, n_fft=512, window="nope"), "window"),
    ("stft pad_mode", lambda: fastspec.stft(_Y, n_fft=512, pad_mode="bogus"), "pad_mode"),
    ("stft NaN", lambda: fastspec.stft(np.full(1024, np.nan)), "NaN"),
    ("stft text", lambda: fastspec.stft(np.array(["a", "b"])), "y"),
    ("istft names its argument", lambda: fastspec.istft(np.ones(3)), "stft_matrix"),
    ("istft length 0", lambda: fastspec.istft(fastspec.stft(_Y, n_fft=512), length=0), "length=0"),
    ("spectrogram power", lambda: fastspec.spectrogram(_Y, power=-1.0), "power"),
    ("griffin_lim n_iter", lambda: fastspec.griffin_lim(_S, n_iter=-1), "n_iter=-1"),
    ("griffin_lim n_iter bool", lambda: fastspec.griffin_lim(_S, n_iter=True), "n_iter=True"),
    ("griffin_lim negative S", lambda: fastspec.griffin_lim(-_S), "S"),
    ("griffin_lim init", lambda: fastspec.griffin_lim(_S, init="bogus"), "init"),
    ("pghi gamma huge", lambda: fastspec.pghi(_S, hop_length=128, gamma=1e300), "gamma"),
    ("pghi hop huge", lambda: fastspec.pghi(_S, hop_length=2**70), "hop_length"),
    ("pghi gamma text", lambda: fastspec.pghi(_S, hop_length=128, gamma="1"), "gamma"),
    ("power_to_db top_db nan", lambda: fastspec.power_to_db(_S, top_db=float("nan")), "top_db=nan"),
    ("power_to_db top_db text", lambda: fastspec.power_to_db(_S, top_db="80"), "top_db='80'"),
    ("power_to_db top_db negative", lambda: fastspec.power_to_db(_S, top_db=-1), "top_db=-1"),
    ("power_to_db ref text", lambda: fastspec.power_to_db(_S, ref="1"), "ref='1'"),
    ("power_to_db ref of empty", lambda: fastspec.power_to_db(np.array([]), ref=np.max), "empty"),
    ("power_to_db amin", lambda: fastspec.power_to_db(_S, amin=0), "amin=0"),
    ("power_to_db text", lambda: fastspec.power_to_db(np.array(["1"])), "S must be a numeric"),
    ("db_to_power ref", lambda: fastspec.db_to_power(_S, ref="2"), "ref='2'"),
    ("melspectrogram fmax", lambda: fastspec.melspectrogram(_Y, sr=16000, fmax=9000.0), "fmax=9000"),
    ("melspectrogram n_mels", lambda: fastspec.melspectrogram(_Y, sr=16000, n_mels=0), "n_mels=0"),
    ("melspectrogram preset", lambda: fastspec.melspectrogram(_Y, preset="kaldi"), "preset='kaldi'"),
    ("melspectrogram log", lambda: fastspec.melspectrogram(_Y, log="log2"), "log='log2'"),
    ("melspectrogram y and S", lambda: fastspec.melspectrogram(_Y, S=_S), "exactly one of y"),
    ("mfcc n_mfcc", lambda: fastspec.mfcc(_Y, n_mfcc=500), "n_mfcc=500"),
    ("mfcc lifter", lambda: fastspec.mfcc(_Y, lifter=-1.0), "lifter"),
    ("mel_to_stft n_iter", lambda: fastspec.mel_to_stft(np.ones((128, 4)), n_iter=-2), "n_iter=-2"),
    ("mel_to_audio M negative", lambda: fastspec.mel_to_audio(-np.ones((128, 4))), "M"),
    ("delta width", lambda: fastspec.delta(np.ones((3, 20)), width=4), "width=4"),
    ("filters.mel sr", lambda: filters.mel(sr=0, n_fft=512), "sr=0"),
    ("filters.mel norm", lambda: filters.mel(sr=16000, n_fft=512, norm="bogus"), "norm='bogus'"),
    ("pretty_to_audio names X_s", lambda: fastspec.pretty_to_audio(np.ones(3)), "X_s"),
    ("compat step -1", lambda: compat.iterate_invert_spectrogram(_X, 512, -1, n_iter=2), "step=-1"),
    ("compat invert step 0", lambda: compat.invert_spectrogram(_X, 0), "step=0"),
    ("compat pretty step -1", lambda: compat.invert_pretty_spectrogram(_PRETTY, fft_size=512, step_size=-1), "step=-1"),
    ("compat n_iter -1", lambda: compat.iterate_invert_spectrogram(_X, 512, 128, n_iter=-1), "n_iter=-1"),
    ("compat NaN", lambda: compat.pretty_spectrogram(np.full(2048, np.nan)), "NaN"),
]


@pytest.mark.parametrize("call, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_parameter(call, fragment):
    with pytest.raises(ParameterError) as info:
        call()
    assert fragment in str(info.value)


def test_parameter_error_is_a_value_error():
    # So code written for librosa's ParameterError (a ValueError) or numpy's errors still catches it.
    assert issubclass(ParameterError, ValueError)


@pytest.mark.parametrize("length", [1, 2, 129, 257, 641])
def test_griffin_lim_finite_for_any_length(length):
    # A frame whose analysed spectrum is exactly zero used to give 0 * inf = NaN at its sample.
    y = fastspec.griffin_lim(_S, hop_length=128, n_iter=2, length=length, init="zeros")
    assert y.shape == (length,) and np.all(np.isfinite(y))
    y = fastspec.mel_to_audio(fastspec.melspectrogram(_Y, sr=22050, n_fft=512, hop_length=128), sr=22050, n_fft=512,
                              hop_length=128, n_iter=2, length=length)
    assert y.shape == (length,) and np.all(np.isfinite(y))


@pytest.mark.parametrize("window", [np.zeros(512), "boxcar"])
def test_griffin_lim_finite_for_degenerate_windows(window):
    y = fastspec.griffin_lim(_S, hop_length=128, n_iter=2, window=window, init="zeros")
    assert np.all(np.isfinite(y))
    assert np.all(np.isfinite(fastspec.griffin_lim(_S, hop_length=128, n_iter=2, win_length=1, init="zeros")))


def test_power_to_db_of_empty_is_empty():
    assert fastspec.power_to_db(np.array([])).shape == (0,)
