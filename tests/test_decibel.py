import librosa
import numpy as np
import pytest

import fastspec
from fastspec import ParameterError, data


@pytest.fixture
def power_spec(dtype):
    return fastspec.spectrogram(data.speech(16000, 0.5, dtype=dtype), n_fft=512, hop_length=128, power=2.0)


@pytest.mark.parametrize("ref", [1.0, np.max, 0.5])
@pytest.mark.parametrize("top_db", [80.0, None, 40.0])
def test_power_to_db_matches_librosa(power_spec, ref, top_db, dtype):
    ours = fastspec.power_to_db(power_spec, ref=ref, top_db=top_db)
    theirs = librosa.power_to_db(power_spec, ref=ref, top_db=top_db)
    assert ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(ours, theirs, rtol=0, atol={np.float32: 1e-4, np.float64: 1e-10}[dtype.type])
    if top_db is not None:
        assert ours.max() - ours.min() <= top_db + 1e-4


@pytest.mark.parametrize("ref", [1.0, np.max])
def test_amplitude_to_db_matches_librosa(power_spec, ref, dtype):
    magnitude = np.sqrt(power_spec)
    ours = fastspec.amplitude_to_db(magnitude, ref=ref)
    theirs = librosa.amplitude_to_db(magnitude, ref=ref)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol={np.float32: 1e-4, np.float64: 1e-10}[dtype.type])


def test_db_round_trips(power_spec, dtype):
    S = power_spec + 1e-3  # above amin, so the conversion is invertible
    back = fastspec.db_to_power(fastspec.power_to_db(S, top_db=None))
    np.testing.assert_allclose(back, S, rtol={np.float32: 1e-5, np.float64: 1e-12}[dtype.type])
    mag = np.sqrt(S)
    np.testing.assert_allclose(fastspec.db_to_amplitude(fastspec.amplitude_to_db(mag, top_db=None)), mag,
                               rtol={np.float32: 1e-5, np.float64: 1e-12}[dtype.type])
    np.testing.assert_allclose(fastspec.db_to_power(np.array([0.0, 10.0, -20.0]), ref=2.0), [2.0, 20.0, 0.02])
    np.testing.assert_allclose(fastspec.db_to_amplitude(np.array([20.0])), [10.0])


def test_db_does_not_modify_input(power_spec):
    before = power_spec.copy()
    fastspec.power_to_db(power_spec, ref=np.max)
    np.testing.assert_array_equal(power_spec, before)


def test_db_errors():
    with pytest.raises(ParameterError, match="amin=0"):
        fastspec.power_to_db(np.ones(3), amin=0)
    with pytest.raises(ParameterError, match="top_db=-1"):
        fastspec.power_to_db(np.ones(3), top_db=-1)
