"""Benchmark case for batch conversion: one file from disk to a feature file on disk.

The dataset-scale figures (whole commands, worker processes, Dask, peak memory) come from
``benchmarks/bench_convert.py``; this case times the per-file work a worker does
(decode + log-mel + write + checksum) against librosa's ``load`` + ``melspectrogram`` +
``power_to_db`` + ``np.save``, and checks the two files agree.
"""

import atexit
import os
import shutil
import tempfile

import numpy as np

from .cases_feature import agreement_check, recording
from .registry import Case, has_module, register


def _convert_case(seconds, sr=22050, n_fft=1024, hop=256, n_mels=80):
    def setup():
        import soundfile as sf

        from .. import batch

        folder = tempfile.mkdtemp(prefix="fastspec-case-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        src = os.path.join(folder, "clip.wav")
        sf.write(src, recording("speech", sr, seconds), sr, subtype="PCM_16")
        job = batch.Job("logmel", (("hop_length", hop), ("n_fft", n_fft), ("n_mels", n_mels)), None, "mix",
                        "float32", "npy", 16384)
        ours, theirs = os.path.join(folder, "fastspec.npy"), os.path.join(folder, "librosa.npy")

        def fastspec_file():
            batch.convert_file(job, src, ours)
            return ours

        impls = {"fastspec": fastspec_file}
        if has_module("librosa"):
            import librosa

            def librosa_file():
                y, rate = librosa.load(src, sr=None)
                np.save(theirs, librosa.power_to_db(librosa.feature.melspectrogram(
                    y=y, sr=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels)))
                return theirs

            impls["librosa"] = librosa_file
        return impls

    log_mel = agreement_check("log_mel", np.float32)

    def check(name, ours, theirs):
        log_mel(name, np.load(ours), np.load(theirs))

    name = (f"convert one {seconds:g} s WAV to a log-mel .npy ({n_mels} bands, {sr / 1000:g} kHz, n_fft={n_fft}, "
            f"hop={hop})")
    return register(Case(name, "batch", setup, check, True))


_convert_case(10)
