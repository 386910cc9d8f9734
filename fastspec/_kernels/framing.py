"""Frame + window a signal straight into an FFT plan's input rows."""

from .._numba import serial

PAD_CONSTANT = 0
PAD_REFLECT = 1
PAD_EDGE = 2


@serial
def padded_sample(y, j, pad_mode):
    """Sample ``j`` of ``y`` extended beyond its ends by ``pad_mode`` (as ``np.pad`` does)."""
    n = y.shape[0]
    if 0 <= j < n:
        return y[j]
    if pad_mode == PAD_CONSTANT:
        return y.dtype.type(0)
    if pad_mode == PAD_EDGE:
        return y[0] if j < 0 else y[n - 1]
    if n == 1:
        return y[0]
    period = 2 * (n - 1)
    j = abs(j) % period
    if j >= n:
        j = period - j
    return y[j]


@serial
def frame_window(y, first_frame, hop, offset, pad_mode, window, win_lo, win_hi, out):
    """Write windowed frames ``first_frame ... first_frame + len(out) - 1`` of ``y`` into ``out``.

    Frame ``t`` covers samples ``t * hop - offset + n`` for ``n`` in ``[0, n_fft)``; samples
    outside ``y`` come from ``pad_mode``. Only ``window[win_lo:win_hi]`` is non-zero (a short
    window centred in ``n_fft``), so the rest of each row is zero-filled without reading ``y``.
    """
    n_rows, n_fft = out.shape
    n = y.shape[0]
    width = win_hi - win_lo
    # Every operand is a slice indexed by the non-negative loop counter: ``y[start + i]`` makes
    # numba check for negative (wrap-around) indices, which stops vectorisation (5x slower).
    taper = window[win_lo:win_hi]
    for b in range(n_rows):
        start = (first_frame + b) * hop - offset
        row = out[b]
        head = row[:win_lo]
        for i in range(win_lo):
            head[i] = 0
        tail = row[win_hi:]
        for i in range(n_fft - win_hi):
            tail[i] = 0
        body = row[win_lo:win_hi]
        if start + win_lo >= 0 and start + win_hi <= n:
            segment = y[start + win_lo:start + win_hi]
            for i in range(width):
                body[i] = taper[i] * segment[i]
        else:
            for i in range(width):
                body[i] = taper[i] * padded_sample(y, start + win_lo + i, pad_mode)


def pad_mode_code(pad_mode):
    """Map a ``pad_mode`` name to the kernel's integer code (``None`` if unknown)."""
    return {"constant": PAD_CONSTANT, "reflect": PAD_REFLECT, "edge": PAD_EDGE}.get(pad_mode)
