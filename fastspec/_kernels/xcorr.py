"""The seed's cross-correlation offset search, and the sequential overlap-add built on it.

The notebook places each inverse-FFT frame at the lag where it best matches the wave summed so
far, so frame ``i``'s offset depends on every earlier frame and the search runs inside one
compiled loop. The seed rounds both centred operands to float32 and takes the first maximum of
their float32 correlation over the lags it leaves unmasked (within +-half the overlap).

How the lag is found, measured per frame on the notebook's workload (896-sample operands,
895 lags; a loaded 2-core machine, so compare within a line):

- direct sums per lag, a strict-order reduction, do not vectorise: 470 us; as an axpy over
  lags they do: 45 us in float32, 95 us in float64;
- correlation by FFT, 1344-point real transforms (enough for the searched lags without
  wrap-around), the estimates' spectra batched up front through pyFFTW: with numpy.fft inside
  the loop (rocket-fft) 10.6-13 us, through half-length complex FFTs 12.8 us, with FFTW's own
  plans called from the loop (``_fft.get_raw_plan``) 4.4 us. That last one is used, and the
  estimate's transform moved into the loop too (same plan, no batch pass over the frames:
  4% faster over a whole inversion).

The FFT values only locate the peak: every lag whose FFT value lies within a safe margin of
it (in practice one or two) is recomputed as a float64 sum of the float32 operands' products
(each product exact) and rounded to float32 like the seed's result, and the first maximum of
those wins. The chosen lag is the one the direct float32-operand correlation gives; it can
differ from NumPy's only where two lags tie to within NumPy's own float32 summation error.
"""

import numpy as np

from .._numba import serial

MASKED = np.float32(-1e30)
# FFT correlation error bound, relative to ||x1|| * ||x2||; float64 transforms of a few
# thousand points stay below 1e-14, so this leaves a wide margin.
FFT_ERROR = 1e-12
# Lags whose FFT value is within this fraction of the peak are recomputed exactly: several
# float32 ulps, so no lag that could round to (or above) the peak's float32 value is missed.
FLOAT32_MARGIN = 1e-6


def fft_length(n1, n2):
    """Smallest even ``2^a 3^b 5^c 7^d`` length exact on the lags the seed searches.

    Lag ``d`` pairs ``x1[j]`` with ``x2[j + d]``; in a circular correlation of this length the
    wrapped terms land in the zero padding.
    """
    lag_lo, lag_hi = lag_range(n1, n2)
    need = max(n1 + max(lag_hi, 0), n2 - min(lag_lo, 0), n1, n2, 2)
    best = None
    for base in (1, 3, 5, 7, 9, 15, 21, 25, 27, 35, 45, 49, 63, 75):
        size = 2 * base  # even: the real transforms run as complex ones of half the length
        while size < need:
            size *= 2
        best = size if best is None else min(best, size)
    return best


def lag_range(n1, n2):
    """Return ``(lo, hi)``, the lags ``d`` the seed leaves unmasked (empty when ``lo > hi``).

    Convolution index ``k = n2 - 1 - d`` must lie in ``[n2 // 2, n1 + n2 - 1 - n2 // 2)``.
    """
    half = n2 // 2
    return half - n1 + 1, n2 - 1 - half


@serial
def centre_float32(x, out):
    """Write ``float32(x - mean(x))`` to ``out[:len(x)]`` and zeros after (an FFT input row).

    Returns the norm of the float32 values.
    """
    n = x.shape[0]
    mean = x.dtype.type(total(x) / n)
    values = out[:n]
    for j in range(n):
        values[j] = np.float32(x[j] - mean)
    tail = out[n:]
    for j in range(tail.shape[0]):
        tail[j] = 0.0
    return np.sqrt(dot(values, values))


@serial
def total(a):
    """``sum(a)`` in float64 over four interleaved partial sums.

    One running sum is latency-bound (an add every 4 cycles); four independent ones overlap
    (measured 4x faster on 896 samples) and are at least as accurate.
    """
    n = a.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    full = n - n % 4
    for j in range(0, full, 4):
        s0 += np.float64(a[j])
        s1 += np.float64(a[j + 1])
        s2 += np.float64(a[j + 2])
        s3 += np.float64(a[j + 3])
    for j in range(full, n):
        s0 += np.float64(a[j])
    return (s0 + s1) + (s2 + s3)


@serial
def dot(a, b):
    """``sum(a * b)`` in float64 over four interleaved partial sums (see :func:`total`)."""
    n = a.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    full = n - n % 4
    for j in range(0, full, 4):
        s0 += np.float64(a[j]) * np.float64(b[j])
        s1 += np.float64(a[j + 1]) * np.float64(b[j + 1])
        s2 += np.float64(a[j + 2]) * np.float64(b[j + 2])
        s3 += np.float64(a[j + 3]) * np.float64(b[j + 3])
    for j in range(full, n):
        s0 += np.float64(a[j]) * np.float64(b[j])
    return (s0 + s1) + (s2 + s3)


_LOW63 = (1 << 63) - 1
_KEY_MIN = -(1 << 63)


@serial
def ordered_max(values, start, stop):
    """Maximum of finite float64 ``values[start:stop]`` as an order-preserving int64 key.

    ``bits ^ ((bits >> 63) & (2^63 - 1))`` orders like the floats, and an integer maximum
    vectorises where a float one (NaN rules) does not; ``key ^ ((key >> 63) & (2^63 - 1))``
    gives the bits back. An empty range gives -2^63.
    """
    bits = values.view(np.int64)[start:max(start, stop)]
    top = _KEY_MIN
    for k in range(bits.shape[0]):
        word = bits[k]
        key = word ^ ((word >> 63) & _LOW63)
        top = key if key > top else top
    return top


@serial
def exact_correlation(x1, x2, d):
    """``sum(x1[j] * x2[j + d])`` over the overlap, in float64, rounded to float32.

    Each product of float32 values is exact in float64.
    """
    j0 = max(0, -d)
    j1 = min(x1.shape[0], x2.shape[0] - d)
    return np.float32(dot(x1[j0:j1], x2[j0 + d:j1 + d]))


@serial
def pick_offset(corr, x1, x2, norm):
    """Return the seed's offset, ``argmax(corrs) - len(x1)``.

    The first and last ``len(x2) // 2`` convolution entries are masked to -1e30.

    ``corr[d mod P]`` holds the FFT correlation at lag ``d``; ``x1``, ``x2`` are the float32
    operands, for the exact recomputation near the peak; ``norm`` is ``||x1|| * ||x2||``.
    """
    n1 = x1.shape[0]
    n2 = x2.shape[0]
    size = corr.shape[0]
    half = n2 // 2
    if half == 0:
        # ``corrs[-0:] = -1e30`` masks everything, and argmax returns entry 0.
        return -n1
    # Unmasked convolution entries k in [half, n1 + n2 - 1 - half) are lags d = n2 - 1 - k.
    d_hi = n2 - 1 - half
    d_lo = half - n1 + 1
    if norm == 0.0:
        # An all-zero operand (silence): every correlation is exactly 0, which beats the
        # -1e30 mask, so the first unmasked entry wins (without recomputing all of them).
        return (half if d_lo <= d_hi else 0) - n1
    # Lags d >= 0 sit at corr[d], lags d < 0 at corr[size + d]: two contiguous scans.
    top = max(ordered_max(corr, max(d_lo, 0), d_hi + 1), ordered_max(corr, size + d_lo, size + min(d_hi + 1, 0)))
    peak = np.array([top ^ ((top >> 63) & _LOW63)]).view(np.float64)[0]
    threshold = peak - (FLOAT32_MARGIN * abs(peak) + FFT_ERROR * norm)
    # Entry 0 is masked and comes first: it wins unless some unmasked value beats -1e30.
    # Walking k upwards is walking d downwards; ties keep the first (the largest d).
    best = MASKED
    best_d = n2 - 1
    for d in range(d_hi, max(d_lo, 0) - 1, -1):
        if corr[d] >= threshold:
            value = exact_correlation(x1, x2, d)
            if value > best:
                best = value
                best_d = d
    for d in range(min(d_hi, -1), d_lo - 1, -1):
        if corr[size + d] >= threshold:
            value = exact_correlation(x1, x2, d)
            if value > best:
                best = value
                best_d = d
    return (n2 - 1 - best_d) - n1


@serial
def estimate_segment(frame, est_start, scale, segment, padded):
    """Write the seed's ``x2`` of one frame to ``segment`` (float32) and ``padded[:n2]``.

    ``x2`` is the centred, float32-rounded segment ``[est_start, est_start + n2)`` of the
    reversed, scaled estimate ``scale * frame[::-1]``; the mean is accumulated in float64 and
    rounded to the estimate's dtype, where the seed subtracts it. ``padded`` is an FFT input
    whose tail beyond ``n2`` stays zero. Returns the norm of ``x2``.
    """
    n_fft = frame.shape[0]
    n2 = segment.shape[0]
    one = frame.dtype.type(scale)
    source = frame[n_fft - est_start - n2:n_fft - est_start]
    mean = frame.dtype.type(one * total(source) / n2)
    for j in range(n2):
        value = np.float32(one * source[n2 - 1 - j] - mean)
        segment[j] = value
        padded[j] = value
    return np.sqrt(dot(segment, segment))


@serial
def overlap_add_search(frames, first, step, size, est_start, n1, scale, window, search, r2c,
                       r2c_plan, c2r, c2r_plan, x1_buffer, x2_buffer, corr, segment, spectrum,
                       product, wave, offsets):
    """Place frames ``first ... first + len(frames) - 1`` into ``wave``, each at its best lag.

    ``frames[b]`` is ``n_fft * real(ifft(X))`` of one frame (unscaled, not reversed): the seed's
    estimate is ``scale * frames[b][::-1]``. For each frame, ``x1`` is the ``n1`` samples of the
    wave at the frame and ``x2`` (:func:`estimate_segment`, ``len(segment)`` samples) part of
    its estimate; they are correlated through FFTs of length ``P``: ``r2c(r2c_plan, in, out)``
    and ``c2r(c2r_plan, in, out)`` are FFTW's new-array execute functions. Scratch, each array
    aligned as :func:`fastspec._fft.aligned` allocates: ``x1_buffer``, ``x2_buffer`` (zeroed:
    their tails stay zero) and ``corr``, P float64; ``spectrum`` and ``product``, P // 2 + 1
    complex; ``segment`` is float32. Returns -1, or the index of the first frame whose shifted
    window would run off the estimate (where the seed's slice assignment fails).
    """
    n_rows, n_fft = frames.shape
    length = x1_buffer.shape[0]
    taper = window[:size]
    one = frames.dtype.type(scale)
    for b in range(n_rows):
        i = first + b
        start = i * step
        offset = 0
        if search and i > 0:
            norm2 = estimate_segment(frames[b], est_start, scale, segment, x2_buffer)
            r2c(r2c_plan, x2_buffer.ctypes.data, spectrum.ctypes.data)
            norm1 = centre_float32(wave[start:start + n1], x1_buffer)
            r2c(r2c_plan, x1_buffer.ctypes.data, product.ctypes.data)
            # conj(X1) * X2 on interleaved (re, im) float64 pairs, which vectorises.
            x1_pairs = product.view(np.float64)
            x2_pairs = spectrum.view(np.float64)
            for k in range(product.shape[0]):
                ar = x1_pairs[2 * k]
                ai = x1_pairs[2 * k + 1]
                br = x2_pairs[2 * k]
                bi = x2_pairs[2 * k + 1]
                x1_pairs[2 * k] = ar * br + ai * bi
                x1_pairs[2 * k + 1] = ar * bi - ai * br
            c2r(c2r_plan, product.ctypes.data, corr.ctypes.data)
            # The c2r result is the correlation times P; so is its error bound.
            offset = pick_offset(corr, x1_buffer[:n1], segment, norm1 * norm2 * length)
        offsets[i] = offset
        lo = est_start - offset
        if lo < 0 or lo + size > n_fft:
            return i
        # estimate[lo + j] = scale * frame[n_fft - 1 - lo - j]: walk the frame backwards.
        source = frames[b, n_fft - lo - size:n_fft - lo]
        target = wave[start:start + size]
        for j in range(size):
            target[j] += taper[j] * (one * source[size - 1 - j])
    return -1


@serial
def window_sum(window, n_frames, step, out):
    """``out[i * step + j] += window[j]`` for every frame, in frame order (as the seed sums)."""
    size = window.shape[0]
    for i in range(n_frames):
        target = out[i * step:i * step + size]
        for j in range(size):
            target[j] += window[j]
