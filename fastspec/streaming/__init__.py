"""Streaming analysis and resynthesis: push audio (or frames) as it arrives, get what became complete.

Every stream equals its offline function: concatenating the outputs of any sequence of
``push`` calls and the final ``flush`` gives the offline result of the concatenated input (to
the FFT's rounding; the frames are the same samples, windowed the same way). A centred stream
pads its start as the offline call does, once the first samples it needs have arrived, and its
end at ``flush``.

Latency (analysis): frame ``t`` is returned by the push that brings sample
``t * hop_length + n_fft - 1 - padding`` (``padding = n_fft // 2`` when centred, else 0), its
last sample; the first frames of a centred stream wait for the samples its start padding is
made of (``padding + 1`` for ``"reflect"``, ``padding`` for ``"symmetric"``, one for
``"edge"``/``"linear_ramp"``, none for ``"constant"``). The frames that reach into the end
padding come from ``flush``. Resynthesis: the samples before frame ``t``'s first sample are
final once frame ``t - 1`` is pushed, ``n_fft - hop_length`` samples behind the frames' end.

A stream holds at most one frame's worth of samples (plus, for a centred stream, the last
``padding + 1`` samples for the end padding); :meth:`copy` snapshots it. Each stream is one
sequence: calls on one object from several threads are taken one at a time (a lock), in the
order they get it; different objects never share state, so streams on different threads give
what each would alone.
"""

from .analysis import StreamingMelSpectrogram, StreamingMFCC, StreamingStft
from .synthesis import StreamingIstft, StreamingPghi

__all__ = ["StreamingIstft", "StreamingMFCC", "StreamingMelSpectrogram", "StreamingPghi", "StreamingStft"]
