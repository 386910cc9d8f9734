"""Overlap-add of inverse-FFT frames, and the window-sum-square normaliser of the ISTFT."""

from .._numba import serial


@serial
def overlap_add(frames, window, scale, first_frame, hop, offset, out):
    """Add ``scale * window * frames[b]`` into ``out`` at ``(first_frame + b) * hop - offset``.

    Parts of a frame that fall outside ``out`` are dropped (the ISTFT's centre trim and
    ``length`` cut).
    """
    n_rows, n_fft = frames.shape
    n_out = out.shape[0]
    for b in range(n_rows):
        start = (first_frame + b) * hop - offset
        lo = max(0, -start)
        hi = min(n_fft, n_out - start)
        # Slices indexed by the loop counter vectorise; ``out[start + i]`` would not.
        target = out[start + lo:start + hi]
        taper = window[lo:hi]
        source = frames[b, lo:hi]
        for i in range(hi - lo):
            target[i] += scale * taper[i] * source[i]


@serial
def inverse_window_sumsquare(window, n_frames, hop, offset, tiny, out):
    """Write ``1 / sum_t window[n - t*hop + offset]**2`` into ``out``, 0 where the sum is tiny.

    ``tiny`` is the dtype's smallest normal number, as librosa uses, so samples that no
    window covers stay zero instead of blowing up.
    """
    n_fft = window.shape[0]
    n_out = out.shape[0]
    out[:] = 0
    for t in range(n_frames):
        start = t * hop - offset
        lo = max(0, -start)
        hi = min(n_fft, n_out - start)
        for i in range(lo, hi):
            out[start + i] += window[i] * window[i]
    for i in range(n_out):
        out[i] = 1 / out[i] if out[i] > tiny else 0


@serial
def multiply(x, factor):
    """``x *= factor`` element-wise, in place (both 1-D, same length)."""
    for i in range(x.shape[0]):
        x[i] *= factor[i]


@serial
def add_edges(edges, bases, out):
    """``out[bases[j] + i] += edges[j, i]`` for every segment ``j`` with ``bases[j] >= 0``, in order of ``j``.

    The edge buffers of :class:`fastspec._engine.OverlapAdd`; what falls beyond ``out`` is dropped.
    """
    n_out = out.shape[0]
    for j in range(edges.shape[0]):
        base = bases[j]
        if base < 0:
            continue
        n = min(edges.shape[1], n_out - base)
        target = out[base:base + max(0, n)]
        source = edges[j]
        for i in range(target.shape[0]):
            target[i] += source[i]
