"""Deterministic example signals, synthesised (nothing is downloaded or shipped).

Every generator takes the sample rate, duration and dtype and returns the same samples for the
same arguments on every machine.
"""

import numpy as np

from . import _validate
from ._validate import ParameterError


def _time(sr, duration):
    sr = _validate.positive_int(sr, "sr")
    duration = _validate.positive_float(duration, "duration")
    return np.arange(int(round(sr * duration))) / sr


def tone(sr=22050, duration=1.0, freq=440.0, *, dtype=np.float32):
    """A sine at ``freq`` Hz, amplitude 0.5."""
    t = _time(sr, duration)
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(dtype)


def chirp(sr=22050, duration=1.0, f0=100.0, f1=None, *, dtype=np.float32):
    """A linear chirp from ``f0`` to ``f1`` Hz (default ``0.45 * sr``), amplitude 0.5."""
    t = _time(sr, duration)
    f1 = 0.45 * sr if f1 is None else f1
    phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / max(duration, 1e-12) * t ** 2)
    return (0.5 * np.sin(phase)).astype(dtype)


def noise(sr=22050, duration=1.0, *, seed=0, dtype=np.float32):
    """White Gaussian noise, standard deviation 0.1, from a seeded generator."""
    t = _time(sr, duration)
    return (0.1 * np.random.default_rng(seed).standard_normal(t.size)).astype(dtype)


def birdsong(sr=44100, duration=2.0, *, dtype=np.float32):
    """Harmonic frequency sweeps in short syllables, like bird song (2-8 kHz fundamentals)."""
    t = _time(sr, duration)
    y = np.zeros_like(t)
    syllable = 0.18
    for k, start in enumerate(np.arange(0.05, duration - syllable, 0.25)):
        local = t - start
        inside = (local >= 0) & (local < syllable)
        f_start, f_end = (2000 + 700 * (k % 4), 5500 - 400 * (k % 3))
        rate = (f_end - f_start) / syllable
        phase = 2 * np.pi * (f_start * local + 0.5 * rate * local ** 2)
        envelope = np.sin(np.pi * np.clip(local / syllable, 0, 1)) ** 2
        for h, amp in ((1, 1.0), (2, 0.35), (3, 0.12)):
            if h * max(f_start, f_end) < 0.48 * sr:
                y[inside] += amp * envelope[inside] * np.sin(h * phase[inside])
    return (0.3 * y / max(np.abs(y).max(), 1e-12)).astype(dtype)


def speech(sr=16000, duration=2.0, *, seed=0, dtype=np.float32):
    """A speech-like signal: voiced vowels alternating with unvoiced fricative noise.

    Vowels are a glottal pulse train (pitch gliding around 120 Hz) through three formant
    resonators; fricatives are pre-emphasised noise.
    """
    from scipy.signal import lfilter

    t = _time(sr, duration)
    rng = np.random.default_rng(seed)
    f0 = 120 + 25 * np.sin(2 * np.pi * 1.3 * t)
    phase = np.cumsum(f0) / sr
    pulses = np.diff(np.floor(phase), prepend=0.0)
    vowels = ((730, 1090, 2440), (270, 2290, 3010), (570, 840, 2410), (440, 1020, 2240))
    segment = 0.25
    y = np.zeros_like(t)
    for k in range(int(np.ceil(duration / segment))):
        sl = slice(int(k * segment * sr), min(t.size, int((k + 1) * segment * sr)))
        if k % 3 == 2:  # unvoiced: high-passed noise, like /s/
            seg = lfilter([1, -0.95], [1], rng.standard_normal(sl.stop - sl.start)) * 0.15
        else:
            seg = pulses[sl].copy()
            for formant, bandwidth in zip(vowels[k % 4], (80, 100, 120), strict=True):
                r = np.exp(-np.pi * bandwidth / sr)
                theta = 2 * np.pi * min(formant, 0.45 * sr) / sr
                seg = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], seg)
        # Voiced sounds carry most of speech's energy: RMS 0.1 against 0.02 for fricatives.
        seg = seg * ((0.02 if k % 3 == 2 else 0.1) / max(np.sqrt(np.mean(seg ** 2)), 1e-12))
        ramp = np.minimum(1, np.minimum(np.arange(seg.size), np.arange(seg.size)[::-1]) / (0.01 * sr))
        y[sl] = seg * ramp
    return (0.3 * y / max(np.abs(y).max(), 1e-12)).astype(dtype)


def music(sr=22050, duration=2.0, *, dtype=np.float32):
    """A music-like harmonic mix: three notes with decaying harmonics, changing every 0.5 s."""
    t = _time(sr, duration)
    y = np.zeros_like(t)
    notes = (220.0, 277.18, 329.63, 392.0, 246.94, 311.13)
    for k, start in enumerate(np.arange(0, duration, 0.5)):
        local = t - start
        inside = local >= 0
        env = np.exp(-3 * np.clip(local, 0, None)) * inside
        for j in range(3):
            f = notes[(k + 2 * j) % len(notes)]
            for h in range(1, 8):
                if h * f < 0.45 * sr:
                    y += env * np.sin(2 * np.pi * h * f * local) / h ** 1.5
    return (0.3 * y / max(np.abs(y).max(), 1e-12)).astype(dtype)


def example(sr=22050, duration=4.0, *, dtype=np.float32):
    """The demo signal: bird-song-like harmonic chirps, then a speech-like section."""
    half = duration / 2
    return np.concatenate([birdsong(sr, half, dtype=np.float64), speech(sr, half, dtype=np.float64)]).astype(dtype)


SIGNALS = {"tone": tone, "chirp": chirp, "noise": noise, "birdsong": birdsong, "speech": speech,
           "music": music, "example": example}


def signal(name, sr=22050, duration=1.0, *, dtype=np.float32):
    """Return the named example signal (a key of :data:`SIGNALS`)."""
    if name not in SIGNALS:
        raise ParameterError(f"signal name={name!r} must be one of {sorted(SIGNALS)}")
    return SIGNALS[name](sr, duration, dtype=dtype)
