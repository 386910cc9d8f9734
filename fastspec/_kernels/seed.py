"""Kernels for ``fastspec.compat``: the seed notebook's framing, spectra, phase and mel steps.

Each kernel repeats the arithmetic of the seed's NumPy expression it replaces (same operations in
the same order per element), so results agree to rounding; where it takes a shortcut, the
docstring says why the shortcut is exact.
"""

import math

import numpy as np

from .._numba import serial

# Pole and gain of the cubic B-spline prefilter (Unser 1991): the same constants
# scipy.ndimage uses.
SPLINE_POLE = math.sqrt(3.0) - 2.0
SPLINE_GAIN = (1.0 - SPLINE_POLE) * (1.0 - 1.0 / SPLINE_POLE)


@serial
def frame_centred(x, mean, first_frame, step, window, out):
    """``out[b, j] = (x[t] - mean) * window[j]`` at ``t = (first_frame + b) * step + j``.

    Samples past the end of ``x`` are the zeros the seed's ``overlap`` appends (after the mean
    was subtracted, so they stay zero).
    """
    n_rows, n_fft = out.shape
    n = x.shape[0]
    for b in range(n_rows):
        start = (first_frame + b) * step
        row = out[b]
        inside = min(n_fft, max(0, n - start))
        segment = x[start:start + inside]
        for j in range(inside):
            row[j] = (segment[j] - mean) * window[j]
        tail = row[inside:]
        for j in range(n_fft - inside):
            tail[j] = 0.0


@serial
def pretty_power(x, tasks, step, window, execute, plans, frames, spec, out):
    """The seed's framed power spectrum of ``x`` for the frames of ``tasks``, in one compiled pass.

    Each task ``[0, first_frame, n_frames]`` is framed (:func:`frame_centred`), transformed by
    FFTW (``plans`` = (full block, shorter rest), as the engine's pipelines take them) and
    squared into ``out`` (:func:`power_rows`). Returns the largest power's bits.
    """
    block = frames.shape[0]
    top = 0
    for i in range(tasks.shape[0]):
        first, count = tasks[i, 1], tasks[i, 2]
        frame_centred(x, 0.0, first, step, window, frames[:count])
        execute(plans[0] if count == block else plans[1], frames.ctypes.data, spec.ctypes.data)
        bits = power_rows(spec[:count], out[first:first + count])
        top = bits if bits > top else top
    return top


@serial
def copy_bins(spec, out):
    """``out[b, k] = spec[b, k]`` for the first ``out.shape[1]`` bins."""
    n_rows, n_bins = out.shape
    for b in range(n_rows):
        src = spec[b, :n_bins]
        dst = out[b]
        for k in range(n_bins):
            dst[k] = src[k]


@serial
def two_sided(spec, out):
    """The full FFT of real frames from their half spectrum: ``out[n - k] = conj(spec[k])``."""
    n_rows, n_fft = out.shape
    n_half = spec.shape[1]
    for b in range(n_rows):
        src = spec[b]
        dst = out[b]
        for k in range(n_half):
            dst[k] = src[k]
        for k in range(n_half, n_fft):
            dst[k] = np.conj(src[n_fft - k])


@serial
def magnitude_rows(spec, out):
    """Write ``|spec[b, k]|`` to ``out`` (for ``out``'s bins).

    The square root of the squares: within an ulp of NumPy's hypot, and vectorisable.
    """
    n_rows, n_bins = out.shape
    for b in range(n_rows):
        src = spec[b, :n_bins]
        dst = out[b]
        for k in range(n_bins):
            re = src[k].real
            im = src[k].imag
            dst[k] = np.sqrt(re * re + im * im)


@serial
def power_rows(spec, out):
    """Write ``|spec[b, k]|^2`` to ``out`` (for ``out``'s bins); return the largest one's bits.

    Non-negative float64 values order like their int64 bit patterns, so the maximum is an
    integer reduction, which vectorises (a float max does not without fast-math); read it back
    with ``np.int64(bits).view(np.float64)``.
    """
    n_rows, n_bins = out.shape
    top = 0
    for b in range(n_rows):
        # Interleaved (re, im) pairs as float64: the loop vectorises (2.5x faster measured).
        pairs = spec[b].view(np.float64)
        dst = out[b]
        for k in range(n_bins):
            re = pairs[2 * k]
            im = pairs[2 * k + 1]
            dst[k] = re * re + im * im
        bits = dst.view(np.int64)
        for k in range(n_bins):
            word = bits[k]
            top = word if word > top else top
    return top


@serial
def log_finish(log_power, log_peak, thresh):
    """In place: ``log10(|X| / peak)`` from ``ln(|X|^2)`` and ``ln(peak^2)``, floored at ``-thresh``.

    ``(ln|X|^2 - ln peak^2) / (2 ln 10)`` is the seed's ``log10(|X| / peak)`` up to rounding (the
    peak itself maps to exactly 0); ``-inf`` (a zero bin) is floored like any small value.
    """
    n_rows, n_bins = log_power.shape
    floor = -thresh
    half_log10_e = 0.5 / math.log(10.0)
    top = log_peak * half_log10_e
    for b in range(n_rows):
        row = log_power[b]
        for k in range(n_bins):
            value = row[k] * half_log10_e - top
            row[k] = floor if value < floor else value


@serial
def raise_floor(mag, thresh):
    """In place: values below ``thresh`` set to ``thresh``."""
    n_rows, n_bins = mag.shape
    for b in range(n_rows):
        row = mag[b]
        for k in range(n_bins):
            if row[k] < thresh:
                row[k] = thresh


@serial
def hermitian_part(X, out):
    """``out[b, k] = (X[b, k] + conj(X[b, (n - k) % n])) / 2`` for ``k < out.shape[1]``.

    ``real(ifft(X))`` is exactly the inverse real FFT of this half spectrum (the imaginary parts
    the two halves contribute cancel), so a c2r transform of half the work replaces the seed's
    complex inverse FFT of each frame.
    """
    n_rows, n = X.shape
    n_half = out.shape[1]
    for b in range(n_rows):
        src = X[b]
        dst = out[b]
        for k in range(n_half):
            dst[k] = 0.5 * (src[k] + np.conj(src[(n - k) % n]))


@serial
def real_hermitian_part(X, out):
    """:func:`hermitian_part` of ``X.real`` (the seed's zero-phase frames, or real ``X``)."""
    n_rows, n = X.shape
    n_half = out.shape[1]
    for b in range(n_rows):
        src = X[b]
        dst = out[b]
        for k in range(n_half):
            dst[k] = 0.5 * (np.float64(src[k].real) + np.float64(src[(n - k) % n].real))


@serial
def mirrored_part(S, out):
    """:func:`hermitian_part` of ``[S, S[:, ::-1]]`` (the seed's two-sided magnitude) from ``S``.

    Column ``n - k`` of the concatenation is ``S[k - 1]``, so bin ``k`` averages ``S[k]`` and
    ``S[k - 1]``; bin 0 is ``S[0]`` and bin ``n / 2`` is ``S[n / 2 - 1]``.
    """
    n_rows, n_cols = S.shape
    for b in range(n_rows):
        src = S[b]
        dst = out[b]
        dst[0] = src[0]
        for k in range(1, n_cols):
            dst[k] = 0.5 * (np.float64(src[k]) + np.float64(src[k - 1]))
        dst[n_cols] = src[n_cols - 1]


@serial
def apply_phase(est, reg, magnitude, out):
    """Write ``magnitude * est / max(reg, |est|)`` to ``out`` (the seed's phase step).

    NumPy divides a complex by a real as ``(re * (1 / d), im * (1 / d))``; a zero denominator
    (``reg`` underflowed to 0 and a zero bin) gives NaN as in the seed. ``|est|`` is the square
    root of the squares, within an ulp of NumPy's hypot and 4x cheaper here.
    """
    n_rows, n_half = out.shape
    for b in range(n_rows):
        # Interleaved (re, im) float64 pairs and a select instead of a branch around the
        # division: the loop vectorises (2x faster measured).
        src = est[b].view(np.float64)
        dst = out[b].view(np.float64)
        mag = magnitude[b]
        zeros = 0
        for k in range(n_half):
            re = src[2 * k]
            im = src[2 * k + 1]
            denom = max(reg, np.sqrt(re * re + im * im))
            zeros += denom == 0.0
            scl = 1.0 / (denom if denom != 0.0 else 1.0)
            dst[2 * k] = mag[k] * (re * scl)
            dst[2 * k + 1] = mag[k] * (im * scl)
        if zeros:
            for k in range(n_half):
                if max(reg, abs(est[b, k])) == 0.0:
                    out[b, k] = complex(np.nan, np.nan)


@serial
def sparse_rows(weights, lo, hi, x, out):
    """Apply a filterbank over each filter's non-zero span only.

    ``out[m, t] = sum(weights[m, k] * x[t, k] for k in [lo[m], hi[m]))``; the zeros outside
    contribute nothing to finite data.
    """
    n_filters = weights.shape[0]
    n_frames = x.shape[0]
    # Frames outer: each spectrogram row is read once while it is in cache (filters outer
    # re-read the whole spectrogram per filter: 2x slower on 60 s, measured).
    for t in range(n_frames):
        src = x[t]
        for m in range(n_filters):
            w = weights[m, lo[m]:hi[m]]
            seg = src[lo[m]:hi[m]]
            acc = 0.0
            for k in range(hi[m] - lo[m]):
                acc += w[k] * seg[k]
            out[m, t] = acc


@serial
def spline_prefilter(line):
    """In place: cubic B-spline coefficients of ``line`` with mirror boundaries."""
    n = line.shape[0]
    if n < 2:
        return
    z = SPLINE_POLE
    for i in range(n):
        line[i] *= SPLINE_GAIN
    # Causal pass, started from the exact sum over the mirror-symmetric extension.
    z_last = z ** (n - 1)
    c0 = line[0] + z_last * line[n - 1]
    z_i = z
    for i in range(1, n - 1):
        c0 += z_i * (line[i] + z_last * line[n - 1 - i])
        z_i *= z
    line[0] = c0 / (1.0 - z_last * z_last)
    for i in range(1, n):
        line[i] += z * line[i - 1]
    # Anti-causal pass.
    line[n - 1] = (z * line[n - 2] + line[n - 1]) * z / (z * z - 1.0)
    for i in range(n - 2, -1, -1):
        line[i] = z * (line[i + 1] - line[i])


@serial
def mirror_index(idx, n):
    """Fold ``idx`` into ``[0, n)`` by mirror reflection about the end samples."""
    if n <= 1:
        return 0
    period = 2 * n - 2
    if idx < 0:
        idx = -idx
    idx = idx % period
    return period - idx if idx >= n else idx


@serial
def zoom_rows(rows, zoom, coeff, out):
    """``scipy.ndimage.zoom(rows, [1, z], order=3, mode='constant')`` computed in float64.

    ``out`` (float32) has ``round(n * z)`` columns; output column ``o`` samples the cubic spline at
    ``o * zoom`` with ``zoom = (n - 1) / (n_out - 1)``; points past the last sample are 0. The
    row axis is not filtered: interpolating a mirror-prefiltered spline at integer positions
    returns the samples themselves, so scipy's row pass is the identity up to rounding.
    ``coeff`` is scratch of length ``n``.
    """
    n_rows, n = rows.shape
    n_out = out.shape[1]
    # The four taps and weights of every output column are the same on every row.
    taps = np.empty((n_out, 4), dtype=np.int64)
    weights = np.zeros((n_out, 4))
    for o in range(n_out):
        cc = o * zoom
        if cc < 0.0 or cc > n - 1:
            taps[o, :] = 0  # outside the input: weights stay 0, the constant is 0
            continue
        base = math.floor(cc)
        t = cc - base
        u = 1.0 - t
        weights[o, 0] = u * u * u / 6.0
        weights[o, 1] = (t * t * (t - 2.0) * 3.0 + 4.0) / 6.0
        weights[o, 2] = (u * u * (u - 2.0) * 3.0 + 4.0) / 6.0
        weights[o, 3] = 1.0 - weights[o, 0] - weights[o, 1] - weights[o, 2]
        for h in range(4):
            taps[o, h] = mirror_index(int(base) - 1 + h, n)
    for r in range(n_rows):
        src = rows[r]
        for i in range(n):
            coeff[i] = src[i]
        spline_prefilter(coeff[:n])
        dst = out[r]
        for o in range(n_out):
            tap = taps[o]
            w = weights[o]
            dst[o] = w[0] * coeff[tap[0]] + w[1] * coeff[tap[1]] + w[2] * coeff[tap[2]] + w[3] * coeff[tap[3]]
