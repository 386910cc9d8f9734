"""Benchmark cases for the core: STFT, spectrogram, ISTFT."""

import numpy as np

from .. import data, reference
from .._config import set_num_threads
from ..reference import tolerance
from ..stft import Stft
from .registry import Case, has_module, register


def fft_floors(frames, threads=1):
    """Bare batched rfft over already framed and windowed data: pyFFTW (FFTW_MEASURE) and scipy."""
    import pyfftw
    import scipy.fft

    n_fft = frames.shape[-1]
    src = pyfftw.empty_aligned(frames.shape, dtype=frames.dtype)
    dst = pyfftw.empty_aligned(frames.shape[:-1] + (n_fft // 2 + 1,), dtype=np.result_type(frames.dtype, np.complex64))
    plan = pyfftw.FFTW(src, dst, axes=(-1,), flags=("FFTW_MEASURE",), threads=threads)
    src[...] = frames
    return {
        "fftw floor": plan.execute,
        "scipy floor": lambda: scipy.fft.rfft(src, axis=-1, workers=threads),
    }


def inverse_fft_floors(spectra, n_fft, threads=1):
    """Bare batched irfft over frames of spectra (rows): pyFFTW (FFTW_MEASURE) and scipy."""
    import pyfftw
    import scipy.fft

    src = pyfftw.empty_aligned(spectra.shape, dtype=spectra.dtype)
    dst = pyfftw.empty_aligned(spectra.shape[:-1] + (n_fft,), dtype=spectra.real.dtype)
    plan = pyfftw.FFTW(src, dst, axes=(-1,), direction="FFTW_BACKWARD", flags=("FFTW_MEASURE",),
                       threads=threads)

    def fftw_floor():
        src[...] = spectra  # c2r destroys its input: restore it, as fastspec copies frames in
        plan.execute()

    return {"fftw floor": fftw_floor,
            "scipy floor": lambda: scipy.fft.irfft(spectra, n=n_fft, axis=-1, workers=threads)}


def with_threads(fn, threads):
    """Run ``fn`` with fastspec set to ``threads`` threads, restoring the setting after."""
    def run():
        old = set_num_threads(threads)
        try:
            return fn()
        finally:
            set_num_threads(old)

    return run


def framed(tf, y, dtype):
    """The frames ``tf`` would transform, windowed (for the floors)."""
    pad = tf.n_fft // 2 if tf.center else 0
    padded = np.pad(y.astype(dtype), pad, mode=tf.pad_mode)
    n_frames = tf.n_frames(y.shape[-1])
    idx = np.arange(tf.n_fft)[None, :] + tf.hop_length * np.arange(n_frames)[:, None]
    return np.ascontiguousarray(padded[idx] * tf.window(dtype))


def relative_check(kind, dtype):
    """A check that compares results relative to the largest magnitude of the other result."""
    tol = tolerance(dtype, kind)

    def check(name, ours, theirs):
        theirs = np.asarray(theirs)
        assert ours.shape == theirs.shape, f"{name}: shape {theirs.shape} != fastspec {ours.shape}"
        err = float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-30))
        assert err <= tol, f"{name} disagrees with fastspec: relative error {err:.3g} > {tol:.3g}"

    return check


def _spectrogram_case(seconds, sr, n_fft, hop, dtype, quick, with_reference, threads=1):
    def setup():
        y = data.birdsong(sr, seconds, dtype=dtype)
        tf = Stft(n_fft=n_fft, hop_length=hop)
        impls = {"fastspec": with_threads(lambda: tf.spectrogram(y), threads)}
        if with_reference:
            impls["reference"] = lambda: np.abs(reference.stft(y, n_fft=n_fft, hop_length=hop))
        if has_module("librosa"):
            import librosa

            impls["librosa"] = lambda: np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
        impls.update(fft_floors(framed(tf, y, dtype), threads))
        return impls

    name = f"spectrogram {seconds:g} s {sr / 1000:g} kHz n_fft={n_fft} hop={hop} {np.dtype(dtype).name}"
    if threads > 1:
        name += f", {threads} threads (floors too)"
    return register(Case(name, "stft", setup, relative_check("spectrogram", dtype), quick))


def _clip_case(n_fft, hop, dtype):
    def setup():
        y = data.birdsong(44100, 1.0, dtype=dtype)
        tf = Stft(n_fft=n_fft, hop_length=hop)
        impls = {"fastspec": lambda: tf.spectrogram(y)}
        if has_module("librosa"):
            import librosa

            impls["librosa"] = lambda: np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
        impls.update(fft_floors(framed(tf, y, dtype)))
        return impls

    name = f"spectrogram 1 s clip (Stft object) n_fft={n_fft} hop={hop} {np.dtype(dtype).name}"
    return register(Case(name, "stft", setup, relative_check("spectrogram", dtype), True))


def _istft_case(seconds, sr, n_fft, hop, dtype, quick):
    def setup():
        y = data.music(sr, seconds, dtype=dtype)
        tf = Stft(n_fft=n_fft, hop_length=hop)
        S = tf.stft(y)
        impls = {"fastspec": lambda: tf.istft(S, length=y.size)}
        if has_module("librosa"):
            import librosa

            impls["librosa"] = lambda: librosa.istft(S, n_fft=n_fft, hop_length=hop, length=y.size)
        impls.update(inverse_fft_floors(np.ascontiguousarray(S.T), n_fft))
        return impls

    name = f"istft {seconds:g} s {sr / 1000:g} kHz n_fft={n_fft} hop={hop} {np.dtype(dtype).name}"
    return register(Case(name, "stft", setup, relative_check("istft", dtype), quick))


_spectrogram_case(10, 44100, 2048, 512, np.float32, True, True)
_spectrogram_case(60, 44100, 2048, 512, np.float32, False, False)
_spectrogram_case(60, 44100, 2048, 128, np.float32, False, False)
_spectrogram_case(60, 22050, 512, 128, np.float32, False, False)
_spectrogram_case(60, 44100, 2048, 512, np.float64, False, False)
_spectrogram_case(60, 44100, 2048, 512, np.float32, False, False, threads=2)
_clip_case(2048, 512, np.float32)
_istft_case(10, 22050, 1024, 256, np.float32, True)
_istft_case(60, 44100, 2048, 512, np.float32, False)
