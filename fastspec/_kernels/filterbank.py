"""Sparse filterbanks (mel and the like) applied without touching their zeros, fused with |X|**p.

A filterbank with ``n_bands`` rows over ``n_freq`` bins is stored as three arrays:
``starts[m]`` (first bin of band ``m``), ``offsets`` (``n_bands + 1`` positions into the flat
weights; band ``m`` has ``offsets[m + 1] - offsets[m]`` weights) and ``weights`` (the band's
weights, bins ``starts[m], starts[m] + 1, ...``). A 128-band mel filterbank at n_fft 2048 keeps
about 2,000 of its 131,000 entries.

Band sums run across a block of frames at once: the power of the block is written transposed,
bins by frames, so every weight multiplies a contiguous run of frames and the loop vectorises
without reassociating any sum. A per-frame dot product is a serial chain of additions (numba
cannot reorder it with fastmath off) and measured 4x slower.
"""

import numpy as np

from .._numba import serial

POWER_1 = 1
POWER_2 = 2
POWER_ANY = 0


@serial
def _power_of(z, power_code, half):
    """``|z| ** (2 * half)`` for one FFT value."""
    p = z.real * z.real + z.imag * z.imag
    if power_code == POWER_2:
        return p
    if power_code == POWER_1:
        return np.sqrt(p)
    return p ** half


@serial
def _transposed_power(spec, power_code, exponent, power):
    """``power[k, b] = |spec[b, k]| ** exponent`` (the block, bins by frames)."""
    n_rows, n_freq = spec.shape
    half = exponent / 2
    # Eight frames at a time, bins inner: eight sequential read streams and one 8-value write
    # per bin. Measured against one frame column per bin (reads striding across the block):
    # 16.9 against 19.1 us for 32 frames of 1025 bins, 4.6 against 6.3 us for 8.
    b0 = 0
    while b0 + 8 <= n_rows:
        r0, r1, r2, r3 = spec[b0], spec[b0 + 1], spec[b0 + 2], spec[b0 + 3]
        r4, r5, r6, r7 = spec[b0 + 4], spec[b0 + 5], spec[b0 + 6], spec[b0 + 7]
        for k in range(n_freq):
            dst = power[k, b0:b0 + 8]
            dst[0] = _power_of(r0[k], power_code, half)
            dst[1] = _power_of(r1[k], power_code, half)
            dst[2] = _power_of(r2[k], power_code, half)
            dst[3] = _power_of(r3[k], power_code, half)
            dst[4] = _power_of(r4[k], power_code, half)
            dst[5] = _power_of(r5[k], power_code, half)
            dst[6] = _power_of(r6[k], power_code, half)
            dst[7] = _power_of(r7[k], power_code, half)
        b0 += 8
    for b in range(b0, n_rows):
        row = spec[b]
        for k in range(n_freq):
            power[k, b] = _power_of(row[k], power_code, half)


@serial
def _band_sums(power, starts, offsets, weights, out):
    """``out[b, m] = sum_i weights[offsets[m] + i] * power[starts[m] + i, b]``."""
    n_bands = starts.shape[0]
    n_rows = power.shape[1]
    acc = np.empty(n_rows, dtype=power.dtype)
    for m in range(n_bands):
        start = starts[m]
        n_weights = offsets[m + 1] - offsets[m]
        band = weights[offsets[m]:offsets[m + 1]]
        rows = power[start:start + n_weights]
        for j in range(n_rows):
            acc[j] = 0
        # Four bins per pass over the accumulators: each pass waits on the previous one's
        # stores, so one bin per pass spent most of its time waiting (8.0 against 5.5 us for
        # a 128-band block of 8 frames).
        i = 0
        while i + 4 <= n_weights:
            w0, w1, w2, w3 = band[i], band[i + 1], band[i + 2], band[i + 3]
            r0, r1, r2, r3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
            for j in range(n_rows):
                acc[j] += (w0 * r0[j] + w1 * r1[j]) + (w2 * r2[j] + w3 * r3[j])
            i += 4
        while i < n_weights:
            w0, r0 = band[i], rows[i]
            for j in range(n_rows):
                acc[j] += w0 * r0[j]
            i += 1
        for j in range(n_rows):
            out[j, m] = acc[j]


@serial
def _column_sums(power, scale, out, col):
    """``out[b, col] = scale * sum_k power[k, b]`` (the frame's total energy)."""
    n_freq, n_rows = power.shape
    acc = np.zeros(n_rows, dtype=power.dtype)
    for k in range(n_freq):
        for j in range(n_rows):
            acc[j] += power[k, j]
    for j in range(n_rows):
        out[j, col] = scale * acc[j]


@serial
def power_filterbank(spec, power_code, exponent, starts, offsets, weights, energy_col, energy_scale, out):
    """Filterbank energies of a block of complex FFT rows, without storing their power rows.

    Parameters
    ----------
    spec : complex array, shape (n_rows, n_freq)
        FFT output rows (frames).
    power_code : int
        ``POWER_2`` (``|X|**2``), ``POWER_1`` (``|X|``) or ``POWER_ANY`` (``|X|**exponent``).
    exponent : float
        The exponent when ``power_code == POWER_ANY``, in ``out``'s dtype.
    starts, offsets, weights : arrays
        The sparse filterbank (module docstring). A constant factor on the spectrum
        (python_speech_features' ``1 / n_fft``) belongs in the weights: one multiplication per
        bin fewer (14.3 against 17.6 us per 32 frames of 1025 bins).
    energy_col : int
        If >= 0, also write each frame's total ``energy_scale * sum |X|**p`` into
        ``out[:, energy_col]``.
    energy_scale : float
        Factor of the total energy, in ``out``'s dtype.
    out : real array, shape (n_rows, >= n_bands)
        Band ``m`` of frame ``b`` goes to ``out[b, m]``.
    """
    n_rows, n_freq = spec.shape
    power = np.empty((n_freq, n_rows), dtype=out.dtype)
    _transposed_power(spec, power_code, exponent, power)
    _band_sums(power, starts, offsets, weights, out)
    if energy_col >= 0:
        _column_sums(power, energy_scale, out, energy_col)


@serial
def apply(rows, starts, offsets, weights, out):
    """``out[b, m] = sum_i weights[offsets[m] + i] * rows[b, starts[m] + i]`` for real rows.

    ``rows`` has shape (n_rows, n_freq) (frames-major), ``out`` (n_rows, n_bands).
    """
    n_rows, n_freq = rows.shape
    block = 64
    power = np.empty((n_freq, block), dtype=out.dtype)
    for first in range(0, n_rows, block):
        size = min(block, n_rows - first)
        tile = power[:, :size]
        for b in range(size):
            row = rows[first + b]
            column = tile[:, b]
            for k in range(n_freq):
                column[k] = row[k]
        _band_sums(tile, starts, offsets, weights, out[first:first + size])


@serial
def apply_transpose(rows, starts, offsets, weights, out):
    """``out[b, starts[m] + i] += weights[offsets[m] + i] * rows[b, m]`` after zeroing ``out``.

    The adjoint of :func:`apply`: ``rows`` has shape (n_rows, n_bands), ``out`` (n_rows, n_freq).
    """
    n_rows, n_bands = rows.shape
    for b in range(n_rows):
        dst = out[b]
        for k in range(dst.shape[0]):
            dst[k] = 0
        src = rows[b]
        for m in range(n_bands):
            start = starts[m]
            n_weights = offsets[m + 1] - offsets[m]
            band = weights[offsets[m]:offsets[m + 1]]
            target = dst[start:start + n_weights]
            value = src[m]
            for i in range(n_weights):
                target[i] += band[i] * value


@serial
def clip_dct(log_rows, n_bands, floors, basis_t, energy_col, out):
    """``out[i, b] = max(log_rows[i, b, :n_bands], floors[i]) @ basis_t`` (a cepstrum per frame).

    ``log_rows`` has shape (n_items, n_frames, >= n_bands), ``out`` (n_items, n_frames, n_coef).
    ``basis_t`` is the (n_bands, n_coef) transposed DCT basis (lifter folded in). If
    ``energy_col >= 0``, coefficient 0 is replaced by ``log_rows[i, b, energy_col]``
    (python_speech_features' ``appendEnergy``). Sums run over bands with the coefficients as
    the vector lanes, so no reduction chain is serial; they accumulate in float64 because
    c0 sums 128 values of up to ~100 dB, and float32 accumulation alone erred by 2e-4
    (librosa's float32 DCT: 6e-5).
    """
    n_items, n_rows = log_rows.shape[:2]
    n_coef = basis_t.shape[1]
    acc = np.empty(n_coef, dtype=np.float64)
    for item in range(n_items):
        floor = floors[item]
        for b in range(n_rows):
            row = log_rows[item, b]
            for c in range(n_coef):
                acc[c] = 0
            for m in range(n_bands):
                value = np.float64(max(row[m], floor))
                weights = basis_t[m]
                for c in range(n_coef):
                    acc[c] += weights[c] * value
            dst = out[item, b]
            for c in range(n_coef):
                dst[c] = acc[c]
            if energy_col >= 0:
                dst[0] = row[energy_col]


@serial
def replace_zeros(rows, value):
    """``rows[rows == 0] = value`` in place (python_speech_features' guard before its log)."""
    n_rows, n_cols = rows.shape
    for b in range(n_rows):
        row = rows[b]
        for k in range(n_cols):
            if row[k] == 0:
                row[k] = value
