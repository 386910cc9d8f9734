"""Streaming cases: a 16 kHz signal pushed through a streaming log-mel, against the offline call.

``fastspec`` pushes the signal in the case's chunks and flushes; ``offline`` is
:class:`fastspec.MelSpectrogram` on the whole signal. The outputs are compared (they must be
equal to rounding). Per-hop cost: the one-hop case's time divided by its number of hops.
"""

import numpy as np

from .. import MelSpectrogram, StreamingMelSpectrogram, data
from .registry import Case, register

_KW = dict(sr=16000, n_fft=512, hop_length=160, n_mels=80, log="db", top_db=None)


def _case(label, chunk, seconds):
    def setup():
        y = data.speech(16000, seconds, seed=1)
        stream, offline = StreamingMelSpectrogram(**_KW), MelSpectrogram(**_KW)

        def pushed():
            parts = [stream.push(y[i:i + chunk]) for i in range(0, y.size, chunk)]
            parts.append(stream.flush())
            return np.concatenate(parts, axis=-1)

        return {"fastspec": pushed, "offline": lambda: offline(y)}

    def check(name, ours, theirs):
        assert ours.shape == theirs.shape, name
        assert float(np.max(np.abs(ours - theirs))) <= 1e-3, name  # dB, float32

    register(Case(f"streaming log-mel 80 bands, {seconds:g} s 16 kHz in {label} pushes", "streaming", setup, check))


_case("160-sample (one hop)", 160, 10.0)
_case("1 s", 16000, 10.0)
