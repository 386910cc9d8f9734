"""Benchmark cases for mel features: log-mel, MFCC, the psf preset and short clips.

Anchors: the dense reference (quick cases), librosa, python_speech_features, and torch
(``torch.stft`` + mel matrix + dB + DCT matrix, as torchaudio computes them; single-threaded,
skipped when torch is absent). Signals carry a noise floor 30 dB under their RMS, as a
recording does, so float32 agreement is not dominated by 80 dB spectral valleys.
"""

import numpy as np

from .. import data
from ..feature import MFCC, MelSpectrogram
from ..reference import feature as ref_feature
from ..reference import tolerance
from .cases_stft import fft_floors, framed
from .registry import Case, has_module, register


def recording(name, sr, seconds, dtype=np.float32, snr_db=30.0):
    """Example signal plus deterministic white noise ``snr_db`` under its RMS."""
    y = data.signal(name, sr, seconds, dtype=np.float64)
    noise = np.random.default_rng(0).standard_normal(y.size)
    return (y + np.sqrt(np.mean(y ** 2)) * 10 ** (-snr_db / 20) * noise).astype(dtype)


def agreement_check(kind, dtype, scale=1.0, relative=False, transpose=()):
    """A check comparing absolutely (dB, cepstra), or relative to max |theirs|.

    Results of the anchors named in ``transpose`` are (n_frames, n_features), as
    python_speech_features returns them.
    """
    tol = tolerance(dtype, kind) * scale

    def check(name, ours, theirs):
        theirs = np.asarray(theirs)
        if name in transpose:
            theirs = theirs.T
        assert ours.shape == theirs.shape, f"{name}: shape {theirs.shape} != fastspec {ours.shape}"
        err = float(np.max(np.abs(ours.astype(np.float64) - theirs)))
        if relative:
            err /= max(float(np.max(np.abs(theirs))), 1e-30)
        what = "relative" if relative else "max abs"
        assert err <= tol, f"{name} disagrees with fastspec: {what} error {err:.3g} > {tol:.3g}"

    return check


def _torch_log_mel(y, sr, n_fft, hop, basis, dct=None, top_db=80.0):
    """torch.stft -> |.|^2 -> mel matrix -> 10 log10 (-> DCT matrix), single-threaded."""
    import torch

    torch.set_num_threads(1)
    x = torch.from_numpy(y)
    window = torch.hann_window(n_fft, dtype=x.dtype)
    fb = torch.from_numpy(np.ascontiguousarray(basis.T, dtype=y.dtype))
    dct_t = None if dct is None else torch.from_numpy(np.ascontiguousarray(dct.T, dtype=y.dtype))

    def run():
        spec = torch.stft(x, n_fft, hop_length=hop, win_length=n_fft, window=window, center=True,
                          pad_mode="constant", return_complex=True).abs().pow(2.0)
        mel_db = 10.0 * torch.log10(torch.clamp(torch.matmul(spec.transpose(-1, -2), fb), min=1e-10))
        mel_db = torch.max(mel_db, mel_db.max() - top_db)
        return (mel_db if dct_t is None else torch.matmul(mel_db, dct_t)).transpose(-1, -2)

    return run


def _log_mel_case(seconds, quick, dtype=np.float32):
    sr, n_fft, hop, n_mels = 22050, 2048, 512, 128

    def setup():
        y = recording("music", sr, seconds, dtype)
        mel = MelSpectrogram(sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, log="db")
        impls = {"fastspec": lambda: mel(y)}
        if quick:
            basis = mel.filterbank.astype(np.float64)
            impls["reference"] = lambda: ref_feature.power_to_db(
                ref_feature.melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop, mel_basis=basis))
        if has_module("librosa"):
            import librosa

            impls["librosa"] = lambda: librosa.power_to_db(librosa.feature.melspectrogram(
                y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels))
        if has_module("torch"):
            impls["torch"] = _torch_log_mel(y, sr, n_fft, hop, mel.filterbank)
        impls.update(fft_floors(framed(mel.stft, y, dtype)))
        return impls

    name = f"log-mel {n_mels} bands {seconds:g} s {sr / 1000:g} kHz n_fft={n_fft} hop={hop} {np.dtype(dtype).name}"
    return register(Case(name, "feature", setup, agreement_check("log_mel", dtype), quick))


def _mfcc_case(seconds, quick, dtype=np.float32):
    sr, n_fft, hop, n_mfcc = 22050, 2048, 512, 20

    def setup():
        y = recording("speech", sr, seconds, dtype)
        transform = MFCC(sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop)
        impls = {"fastspec": lambda: transform(y)}
        if quick:
            basis = transform.mel.filterbank.astype(np.float64)
            impls["reference"] = lambda: ref_feature.mfcc(y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop,
                                                          mel_basis=basis)
        if has_module("librosa"):
            import librosa

            impls["librosa"] = lambda: librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop)
        if has_module("torch"):
            from ..filters import dct

            impls["torch"] = _torch_log_mel(y, sr, n_fft, hop, transform.mel.filterbank,
                                            dct(n_mfcc, 128, dtype=np.float64))
        impls.update(fft_floors(framed(transform.mel.stft, y, dtype)))
        return impls

    name = f"mfcc {n_mfcc} {seconds:g} s {sr / 1000:g} kHz n_fft={n_fft} hop={hop} {np.dtype(dtype).name}"
    # torch's float32 DCT-by-matmul is itself off the float64 truth by ~2e-4.
    return register(Case(name, "feature", setup, agreement_check("mfcc", dtype, scale=5.0), quick))


def _psf_case(seconds, quick, dtype=np.float32):
    sr = 16000

    def setup():
        y = recording("speech", sr, seconds, dtype)
        transform = MFCC(preset="psf")
        impls = {"fastspec": lambda: transform(y)}
        if quick:
            impls["reference"] = lambda: ref_feature.psf_mfcc(y)
        if has_module("python_speech_features"):
            import python_speech_features

            impls["psf"] = lambda: python_speech_features.mfcc(y)
        tf = transform.mel.stft
        impls.update(fft_floors(framed(tf, transform.mel._psf_signal(y[None])[0], dtype)))
        return impls

    name = f"mfcc psf preset (13 of 26 bands) {seconds:g} s 16 kHz n_fft=512 {np.dtype(dtype).name}"
    return register(Case(name, "feature", setup,
                         agreement_check("psf", dtype, relative=True, transpose=("psf", "reference")), quick))


def _clip_case(kind, dtype=np.float32):
    sr, n_fft, hop = 22050, 2048, 512

    def setup():
        y = recording("music", sr, 1.0, dtype)
        if kind == "log-mel":
            transform = MelSpectrogram(sr=sr, n_fft=n_fft, hop_length=hop, log="db")
            mel = transform
        else:
            transform = MFCC(sr=sr, n_fft=n_fft, hop_length=hop)
            mel = transform.mel
        impls = {"fastspec": lambda: transform(y)}
        if has_module("librosa"):
            import librosa

            if kind == "log-mel":
                impls["librosa"] = lambda: librosa.power_to_db(librosa.feature.melspectrogram(
                    y=y, sr=sr, n_fft=n_fft, hop_length=hop))
            else:
                impls["librosa"] = lambda: librosa.feature.mfcc(y=y, sr=sr, n_fft=n_fft, hop_length=hop)
        impls.update(fft_floors(framed(mel.stft, y, dtype)))
        return impls

    name = f"{kind} 1 s clip (reusable object) 22.05 kHz n_fft={n_fft} hop={hop} {np.dtype(dtype).name}"
    check = agreement_check("log_mel", dtype) if kind == "log-mel" else agreement_check("mfcc", dtype)
    return register(Case(name, "feature", setup, check, True))


_log_mel_case(5, True)
_log_mel_case(60, False)
_mfcc_case(5, True)
_mfcc_case(60, False)
_psf_case(5, True)
_psf_case(60, False)
_clip_case("log-mel")
_clip_case("mfcc")
