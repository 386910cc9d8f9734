"""Benchmark cases for the engine's threads: tasks on two fastspec threads, and a short clip's per-call cost.

Each two-thread row times fastspec on 2 threads, the same call on 1 thread (the ``1 thread`` column,
so ``1 thread / fastspec`` is the speed-up) and FFT floors on 2 threads: FFTW's own threads, and
two Python threads each running a 1-thread FFTW plan over half of the frames. The check asserts
that the two thread counts give the same bits.
"""

import threading

import numpy as np

from .._config import config
from ..feature import MFCC, MelSpectrogram, melspectrogram
from ..inverse import mel_to_audio
from ..phase import griffin_lim
from ..stft import Stft
from .cases_feature import agreement_check, recording
from .cases_stft import fft_floors, framed
from .registry import Case, has_module, register

SR = 22050


def split_floor(frames, n_iter=1, inverse_too=False):
    """Two Python threads, each with a 1-thread FFTW plan over half of ``frames`` (rfft, and irfft if asked)."""
    import pyfftw

    runs = []
    for rows in np.array_split(frames, 2):
        src = pyfftw.empty_aligned(rows.shape, dtype=rows.dtype)
        dst = pyfftw.empty_aligned(rows.shape[:-1] + (rows.shape[-1] // 2 + 1,),
                                   dtype=np.result_type(rows.dtype, np.complex64))
        forward = pyfftw.FFTW(src, dst, axes=(-1,), flags=("FFTW_MEASURE",))
        backward = pyfftw.FFTW(dst, src, axes=(-1,), direction="FFTW_BACKWARD",
                               flags=("FFTW_MEASURE", "FFTW_DESTROY_INPUT"))
        src[...] = rows

        def run(forward=forward, backward=backward):
            for _ in range(n_iter):
                forward.execute()
                if inverse_too:
                    backward.execute()

        runs.append(run)

    def floor():
        other = threading.Thread(target=runs[1])
        other.start()
        runs[0]()
        other.join()

    return floor


def _on(threads, fn):
    def run():
        with config(num_threads=threads):
            return fn()
    return run


def _same_bits(name, ours, theirs):
    assert np.array_equal(ours, theirs), f"{name}: 1 and 2 threads give different bits"


def _two_thread_case(label, make, seconds, inverse_iter=0):
    """``make(y) -> (call, frames)``: the fastspec call and the frames its FFTs transform."""

    def setup():
        y = recording("speech", SR, seconds)
        call, frames = make(y)
        impls = {"fastspec": _on(2, call), "1 thread": _on(1, call)}
        if inverse_iter:
            impls["fftw split floor"] = split_floor(frames, inverse_iter, inverse_too=True)
        else:
            impls.update(fft_floors(frames, threads=2))
            impls["fftw split floor"] = split_floor(frames)
        return impls

    name = f"{label}, 2 threads (floors too)"
    return register(Case(name, "threads", setup, _same_bits, False))


def _spectrogram(y):
    tf = Stft(n_fft=1024, hop_length=256)
    return (lambda: tf.spectrogram(y)), framed(tf, y, np.float32)


def _log_mel(y):
    mel = MelSpectrogram(sr=SR, n_fft=1024, hop_length=256, n_mels=80, log="db")
    return (lambda: mel(y)), framed(mel.stft, y, np.float32)


def _mfcc(y):
    mfcc = MFCC(sr=SR, n_fft=1024, hop_length=256, n_mels=80)
    return (lambda: mfcc(y)), framed(mfcc.mel.stft, y, np.float32)


def _griffin_lim(y):
    tf = Stft(n_fft=1024, hop_length=256)
    S = tf.spectrogram(y)
    return (lambda: griffin_lim(S, n_fft=1024, hop_length=256, n_iter=32, rng=0)), framed(tf, y, np.float32)


def _mel_to_audio(y):
    tf = Stft(n_fft=1024, hop_length=256)
    M = melspectrogram(y, sr=SR, n_fft=1024, hop_length=256, n_mels=80)
    return (lambda: mel_to_audio(M, sr=SR, n_fft=1024, hop_length=256, n_iter=32, rng=0)), framed(tf, y, np.float32)


_two_thread_case("spectrogram 60 s 22.05 kHz n_fft=1024 hop=256 float32", _spectrogram, 60.0)
_two_thread_case("log-mel 80 bands 60 s 22.05 kHz n_fft=1024 hop=256 float32", _log_mel, 60.0)
_two_thread_case("mfcc 20 of 80 bands 60 s 22.05 kHz n_fft=1024 hop=256 float32", _mfcc, 60.0)
_two_thread_case("griffin_lim 32 it 10 s 22.05 kHz n_fft=1024 hop=256 float32", _griffin_lim, 10.0, inverse_iter=32)
_two_thread_case("mel_to_audio 80 mels 32 it 10 s 22.05 kHz n_fft=1024 hop=256 float32", _mel_to_audio, 10.0,
                 inverse_iter=32)


def _clip_setup():
    y = recording("speech", SR, 1.0)
    mel = MelSpectrogram(sr=SR, n_fft=1024, hop_length=256, n_mels=80)
    impls = {"fastspec": lambda: mel(y)}
    if has_module("librosa"):
        import librosa

        impls["librosa"] = lambda: librosa.feature.melspectrogram(y=y, sr=SR, n_fft=1024, hop_length=256, n_mels=80)
    impls.update(fft_floors(framed(mel.stft, y, np.float32)))
    return impls


register(Case("mel 80 bands 1 s clip (reusable MelSpectrogram, a data loader's call) 22.05 kHz n_fft=1024 hop=256 "
              "float32", "feature", _clip_setup, agreement_check("melspectrogram", np.float32, relative=True), True))
