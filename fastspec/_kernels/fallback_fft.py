"""fastspec's own batched real FFT, behind FFTW's execute signature, for when FFTW's libraries cannot be loaded.

:data:`EXECUTE` is a C function ``EXECUTE(plan, in_address, out_address)`` like FFTW's new-array
execute functions, so the compiled pipelines call it unchanged; ``plan`` is the address of a
descriptor from :func:`describe` (direction, precision, length, batch and tables), which the
caller keeps alive. The transforms follow FFTW's conventions: ``batch`` contiguous rows,
``n // 2 + 1`` complex outputs per row, c2r unnormalised (``c2r(r2c(x)) == n * x``) and ignoring
the imaginary parts of the DC and Nyquist bins.

How a row is transformed: an even length ``n = 2h`` as one complex transform of ``h`` points
(even samples real, odd imaginary) untangled with ``n``-th roots of unity, an odd length as a
complex transform of all ``n`` points. The complex transform is a self-sorting (Stockham) mixed
radix one, passes of radix 4, 2, 3, 5 and any other prime up to ``MAX_RADIX``; a length with a
larger prime factor is a Bluestein convolution through a 5-smooth transform of at least
``2h - 1`` points. Whatever the input precision, the work is done in complex128 with tables
computed so that exact roots (1, -1, +-1j) are exact: float32 results are float64 ones rounded.

Each call allocates its own scratch, so any number of threads execute one plan at once.
Descriptor layout: one complex128 array whose first slots hold int64 fields, ``[n_complex,
n_ints, n, batch, h, bluestein_length, n_stages, roots_at, chirp_at, kernel_at, inverse,
single]`` then ``(radix, twiddles_at, radix_roots_at)`` per pass (``*_at``: complex slot
indices), the tables after.
"""

import ctypes

import numba
import numpy as np
from numba import types

from .._numba import callback, serial

MAX_RADIX = 61
"""Largest prime factor transformed by a direct pass: Bluestein's detour was faster from 67 on (measured here)."""

_N_FIELDS = 12


# ----- tables (plan time, numpy) -------------------------------------------------------------
def unit_roots(j, n):
    """``exp(-2j * pi * j / n)`` for integers ``j``: exact at multiples of ``n / 4``, accurate to an ulp elsewhere.

    The angle is reduced to a quarter turn with integers and taken from whichever of cos and sin
    is evaluated below 45 degrees.
    """
    quarter, r = np.divmod(4 * (np.asarray(j, dtype=np.int64) % n), n)
    low = 2 * r <= n
    angle = (np.pi / 2) * np.where(low, r, n - r) / n
    c, s = np.cos(angle), np.sin(angle)
    within = np.where(low, c, s) + 1j * np.where(low, s, c)  # exp(i * pi/2 * r / n)
    return np.conj(np.array([1, 1j, -1, -1j])[quarter] * within)


def radices(n):
    """The passes of an ``n``-point complex transform (4s, a 2, then odd primes ascending); None if Bluestein's."""
    out = []
    while n % 4 == 0:
        out.append(4)
        n //= 4
    if n % 2 == 0:
        out.append(2)
        n //= 2
    p = 3
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 2
    if n > 1:
        out.append(n)
    return None if out and max(out) > MAX_RADIX else out


def smooth_length(n):
    """The smallest ``2**a * 3**b * 5**c >= n``."""
    best = 1 << max(0, n - 1).bit_length()
    five = 1
    while five < best:
        three = five
        while three < best:
            m = three
            while m < n:
                m *= 2
            best = min(best, m)
            three *= 3
        five *= 5
    return best


def describe(kind, n_fft, batch, dtype):
    """The descriptor of a plan, as :data:`EXECUTE` reads it.

    Parameters
    ----------
    kind : {"r2c", "c2r"}
        The direction.
    n_fft, batch : int
        Row length (>= 1) and rows per call.
    dtype : numpy dtype
        float32 or float64: the real rows' type (the complex rows are complex64 or complex128).

    Returns
    -------
    numpy.ndarray, complex128
        Read-only; the plan is its address, valid while the array lives.
    """
    h = n_fft // 2 if n_fft % 2 == 0 else n_fft
    passes = radices(h)
    bluestein = 0 if passes is not None else smooth_length(2 * h - 1)
    passes = passes if passes is not None else radices(bluestein)
    head = -(-(_N_FIELDS + 3 * len(passes)) // 2)  # complex slots the int64 fields take
    tables, at = [], [head]

    def add(values):
        tables.append(np.asarray(values, dtype=np.complex128).ravel())
        at[0] += len(tables[-1])
        return at[0] - len(tables[-1])

    roots_at = add(unit_roots(np.arange(h + 1), n_fft)) if n_fft % 2 == 0 else 0
    chirp_at = kernel_at = 0
    if bluestein:
        t = np.arange(h, dtype=np.int64)
        chirp = unit_roots(t * t % (2 * h), 2 * h)  # exp(-i pi t^2 / h), t^2 reduced exactly
        kernel = np.zeros(bluestein, dtype=np.complex128)
        kernel[:h] = np.conj(chirp)
        kernel[bluestein - h + 1:] = np.conj(chirp[:0:-1])
        chirp_at = add(chirp)
        kernel_at = add(np.fft.fft(kernel) / bluestein)  # the inverse transform's 1/length folded in
    stages, done = [], 1
    for p in passes:
        k, q = np.meshgrid(np.arange(done), np.arange(1, p), indexing="ij")
        stages += [p, add(unit_roots(q * k, done * p)), add(unit_roots(np.arange(p), p)) if p > 5 else 0]
        done *= p
    ints = [at[0], _N_FIELDS + len(stages), n_fft, batch, h, bluestein, len(passes), roots_at, chirp_at, kernel_at,
            int(kind == "c2r"), int(np.dtype(dtype) == np.float32)]
    descriptor = np.zeros(at[0], dtype=np.complex128)
    descriptor[:head].view(np.int64)[:len(ints) + len(stages)] = ints + stages
    if tables:
        descriptor[head:] = np.concatenate(tables)
    descriptor.flags.writeable = False
    return descriptor


# ----- the transforms (compiled) -------------------------------------------------------------
# A pass of radix p, after passes whose radices multiply to `done`, turns transforms of length
# `done` of p * m interleaved subsequences into transforms of length done * p of m subsequences:
# src[(k * p + q) * m + j] (k < done, q < p, j < m) are the inputs of dst[(k + done * s) * m + j]
# (s < p), each after a twiddle w_{done * p}^{q k} (tw[k * (p - 1) + q - 1]). The inner loop runs
# over j, contiguous in both arrays; the last pass (m = 1) leaves the spectrum in natural order.
@serial
def _times_minus_i(z):
    return complex(z.imag, -z.real)


@serial
def _pass2(src, dst, done, m, tw):
    for k in range(done):
        w1 = tw[k]
        a, b = 2 * k * m, k * m
        for j in range(m):
            z0, z1 = src[a + j], src[a + m + j] * w1
            dst[b + j] = z0 + z1
            dst[b + done * m + j] = z0 - z1


@serial
def _pass3(src, dst, done, m, tw):
    half_root3 = 0.8660254037844386  # sin(2 pi / 3)
    for k in range(done):
        w1, w2 = tw[2 * k], tw[2 * k + 1]
        a, b = 3 * k * m, k * m
        for j in range(m):
            z0, z1, z2 = src[a + j], src[a + m + j] * w1, src[a + 2 * m + j] * w2
            t1 = z1 + z2
            t2 = z0 - 0.5 * t1
            t3 = _times_minus_i(z1 - z2) * half_root3
            dst[b + j] = z0 + t1
            dst[b + done * m + j] = t2 + t3
            dst[b + 2 * done * m + j] = t2 - t3


@serial
def _pass4(src, dst, done, m, tw):
    for k in range(done):
        w1, w2, w3 = tw[3 * k], tw[3 * k + 1], tw[3 * k + 2]
        a, b = 4 * k * m, k * m
        for j in range(m):
            z0, z1 = src[a + j], src[a + m + j] * w1
            z2, z3 = src[a + 2 * m + j] * w2, src[a + 3 * m + j] * w3
            t0, t1, t2, t3 = z0 + z2, z0 - z2, z1 + z3, _times_minus_i(z1 - z3)
            dst[b + j] = t0 + t2
            dst[b + done * m + j] = t1 + t3
            dst[b + 2 * done * m + j] = t0 - t2
            dst[b + 3 * done * m + j] = t1 - t3


@serial
def _pass5(src, dst, done, m, tw):
    c1, c2 = 0.30901699437494745, -0.8090169943749475  # cos(2 pi / 5), cos(4 pi / 5)
    s1, s2 = 0.9510565162951535, 0.5877852522924731  # sin(2 pi / 5), sin(4 pi / 5)
    for k in range(done):
        w1, w2, w3, w4 = tw[4 * k], tw[4 * k + 1], tw[4 * k + 2], tw[4 * k + 3]
        a, b = 5 * k * m, k * m
        for j in range(m):
            z0, z1, z2 = src[a + j], src[a + m + j] * w1, src[a + 2 * m + j] * w2
            z3, z4 = src[a + 3 * m + j] * w3, src[a + 4 * m + j] * w4
            a1, a2, b1, b2 = z1 + z4, z2 + z3, z1 - z4, z2 - z3
            e1, e2 = z0 + c1 * a1 + c2 * a2, z0 + c2 * a1 + c1 * a2
            o1, o2 = _times_minus_i(s1 * b1 + s2 * b2), _times_minus_i(s2 * b1 - s1 * b2)
            dst[b + j] = z0 + a1 + a2
            dst[b + done * m + j] = e1 + o1
            dst[b + 2 * done * m + j] = e2 + o2
            dst[b + 3 * done * m + j] = e2 - o2
            dst[b + 4 * done * m + j] = e1 - o1


@serial
def _pass_prime(src, dst, done, m, p, tw, roots):
    """A pass of any odd radix ``p``, from the ``p``-th roots ``roots``.

    Outputs ``s`` and ``p - s`` share their sums: with ``a_q = z_q + z_{p-q}`` and ``b_q = z_q -
    z_{p-q}`` they are ``z_0 + sum a_q cos(2 pi q s / p) -+ i sum b_q sin(...)``, a quarter of the
    multiplications of direct sums.
    """
    half = p // 2
    z = np.empty(p, dtype=np.complex128)
    sums = np.empty(half + 1, dtype=np.complex128)
    differences = np.empty(half + 1, dtype=np.complex128)
    for k in range(done):
        a, b = p * k * m, k * m
        for j in range(m):
            z[0] = src[a + j]
            for q in range(1, p):
                z[q] = src[a + q * m + j] * tw[k * (p - 1) + q - 1]
            total = z[0]
            for q in range(1, half + 1):
                sums[q], differences[q] = z[q] + z[p - q], z[q] - z[p - q]
                total += sums[q]
            dst[b + j] = total
            for s in range(1, half + 1):
                even, odd = z[0], 0j
                step = 0
                for q in range(1, half + 1):
                    step += s
                    if step >= p:
                        step -= p
                    even += sums[q] * roots[step].real
                    odd += differences[q] * roots[step].imag  # roots[.].imag is -sin
                rotated = complex(-odd.imag, odd.real)  # i * odd
                dst[b + s * done * m + j] = even + rotated
                dst[b + (p - s) * done * m + j] = even - rotated


@serial
def _stockham(x, y, stages, table):
    """Transform ``x`` (destroyed) by the passes ``stages``; the result is in ``x`` for an even count, else ``y``."""
    n = x.shape[0]
    src, dst = x, y
    m = n
    for i in range(stages.shape[0] // 3):
        p, tw_at, roots_at = stages[3 * i], stages[3 * i + 1], stages[3 * i + 2]
        m //= p
        done = n // (m * p)  # not counted up from a literal 1, which numba would compile every pass for apart
        tw = table[tw_at:tw_at + done * (p - 1)]
        if p == 4:
            _pass4(src, dst, done, m, tw)
        elif p == 2:
            _pass2(src, dst, done, m, tw)
        elif p == 3:
            _pass3(src, dst, done, m, tw)
        elif p == 5:
            _pass5(src, dst, done, m, tw)
        else:
            _pass_prime(src, dst, done, m, p, tw, table[roots_at:roots_at + p])
        src, dst = dst, src


@serial
def _complex_dft(x, y, ints, table):
    """The DFT of ``x[:h]`` (``x``, ``y`` destroyed): ``x`` or ``y``, whichever holds it in its first ``h`` slots."""
    h, bluestein, n_stages = ints[4], ints[5], ints[6]
    stages = ints[_N_FIELDS:_N_FIELDS + 3 * n_stages]
    if bluestein == 0:
        _stockham(x, y, stages, table)
        return x if n_stages % 2 == 0 else y
    # X[k] = c[k] sum_t (x[t] c[t]) conj(c[k - t]), c[t] = exp(-i pi t^2 / h): a cyclic convolution with the
    # (pre-transformed) kernel, its inverse transform taken as the conjugate of a forward one.
    chirp, kernel = table[ints[8]:ints[8] + h], table[ints[9]:ints[9] + bluestein]
    for t in range(h):
        x[t] *= chirp[t]
    x[h:] = 0
    _stockham(x, y, stages, table)
    spectrum = x if n_stages % 2 == 0 else y
    for k in range(bluestein):
        spectrum[k] = (spectrum[k] * kernel[k]).conjugate()
    _stockham(spectrum, y if n_stages % 2 == 0 else x, stages, table)
    for k in range(h):  # two transforms: an even number of passes, back in x
        x[k] = chirp[k] * x[k].conjugate()
    return x


@serial
def forward(rows, spec, ints, table):
    """``spec[b] = rfft(rows[b])`` for every row."""
    n, h = ints[2], ints[4]
    x = np.empty(max(h, ints[5]), dtype=np.complex128)
    y = np.empty_like(x)
    roots = table[ints[7]:ints[7] + h + 1]
    for b in range(rows.shape[0]):
        row, out = rows[b], spec[b]
        if n % 2 == 1:
            for t in range(n):
                x[t] = row[t]
            z = _complex_dft(x, y, ints, table)
            for k in range(n // 2 + 1):
                out[k] = z[k]
            continue
        for t in range(h):
            x[t] = complex(row[2 * t], row[2 * t + 1])
        z = _complex_dft(x, y, ints, table)
        # Z = E + iO, E and O the spectra of the even and odd samples: X[k] = E[k] + w^k O[k].
        out[0] = z[0].real + z[0].imag
        out[h] = z[0].real - z[0].imag
        for k in range(1, h):
            a, c = z[k], z[h - k].conjugate()
            out[k] = 0.5 * (a + c) + roots[k] * _times_minus_i(0.5 * (a - c))


@serial
def backward(spec, rows, ints, table):
    """``rows[b] = n * irfft(spec[b])`` for every row (the imaginary parts of DC and Nyquist ignored)."""
    n, h = ints[2], ints[4]
    x = np.empty(max(h, ints[5]), dtype=np.complex128)
    y = np.empty_like(x)
    roots = table[ints[7]:ints[7] + h + 1]
    for b in range(spec.shape[0]):
        s, row = spec[b], rows[b]
        # The inverse transform as the conjugate of the forward one of the conjugate.
        if n % 2 == 1:
            x[0] = s[0].real
            for k in range(1, n // 2 + 1):
                x[k] = s[k].conjugate()
                x[n - k] = s[k]
            z = _complex_dft(x, y, ints, table)
            for t in range(n):
                row[t] = z[t].real
            continue
        # Rebuild Z = 2 (E + iO) from X: E[k] = (X[k] + conj X[h-k]) / 2, O[k] = (X[k] - conj X[h-k]) / (2 w^k).
        dc, nyquist = np.float64(s[0].real), np.float64(s[h].real)  # float32 spectra too: sums in float64
        x[0] = complex(dc + nyquist, nyquist - dc)
        for k in range(1, h):
            a, c = np.complex128(s[k]), np.complex128(s[h - k]).conjugate()
            odd = roots[k].conjugate() * (a - c)
            x[k] = (a + c + complex(-odd.imag, odd.real)).conjugate()
        z = _complex_dft(x, y, ints, table)
        for t in range(h):
            row[2 * t] = z[t].real
            row[2 * t + 1] = -z[t].imag


# ----- the C function ------------------------------------------------------------------------
@callback(types.void(types.voidptr, types.voidptr, types.voidptr))
def _execute(plan, source, target):
    # One C function for both directions and precisions, which the descriptor names: a quarter of
    # the compile time of four.
    ints = numba.carray(plan, (numba.carray(plan, (2,), np.int64)[1],), np.int64)
    table = numba.carray(plan, (ints[0],), np.complex128)
    n, batch, inverse, single = ints[2], ints[3], ints[10], ints[11]
    real, spectrum = (batch, n), (batch, n // 2 + 1)
    if inverse == 0 and single == 0:
        forward(numba.carray(source, real, np.float64), numba.carray(target, spectrum, np.complex128), ints, table)
    elif inverse == 0:
        forward(numba.carray(source, real, np.float32), numba.carray(target, spectrum, np.complex64), ints, table)
    elif single == 0:
        backward(numba.carray(source, spectrum, np.complex128), numba.carray(target, real, np.float64), ints, table)
    else:
        backward(numba.carray(source, spectrum, np.complex64), numba.carray(target, real, np.float32), ints, table)


# Typed as ctypes declares FFTW's execute functions (size_t arguments), so numba sees the same type.
EXECUTE = ctypes.CFUNCTYPE(None, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t)(_execute.address)
"""``EXECUTE(plan, in_address, out_address)``: the transform a :func:`describe` descriptor names, on ``batch`` rows.

Like FFTW's new-array execute functions; thread-safe, and it leaves its input intact.
"""
