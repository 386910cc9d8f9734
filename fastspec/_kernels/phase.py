"""Phase reconstruction kernels: Griffin-Lim projection, PGHI integration, mel NNLS.

The projection of fast Griffin-Lim with momentum, PGHI's magnitude-ordered integration of the
phase gradient, and the non-negative least squares solver of mel inversion.

Layout: frames-major rows, ``(n_frames, n_freq)``, as the FFT plans produce them.
"""

import math

import numpy as np

from .._numba import serial


@serial
def project(spec, mag, prev, coef, eps, out):
    """One fast Griffin-Lim projection over FFT output rows (librosa's update order).

    ``a = spec - coef * prev``; ``prev = spec``; ``out = mag * a / (|a| + eps)``, with
    ``coef = momentum / (1 + momentum)`` (Perraudin et al. 2013's ``t + alpha (t - t_prev)``,
    scaled by ``1 / (1 + alpha)``, which the magnitude projection removes).
    """
    n_rows, n_freq = spec.shape
    for b in range(n_rows):
        z_row = spec[b]
        m_row = mag[b]
        p_row = prev[b]
        o_row = out[b]
        for k in range(n_freq):
            z = z_row[k]
            p = p_row[k]
            ar = z.real - coef * p.real
            ai = z.imag - coef * p.imag
            p_row[k] = z
            # The unit phase first, as librosa: m / (|a| + eps) overflows to inf for a = 0 (0 * inf = NaN).
            u = 1 / (math.sqrt(ar * ar + ai * ai) + eps)
            m = m_row[k]
            o_row[k] = complex(ar * u * m, ai * u * m)


@serial
def project_tracked(spec, mag, prev, coef, eps, out, err):
    """:func:`project`, also accumulating the spectral convergence of ``spec``.

    Adds ``sum (mag - |spec|)**2`` to ``err[0]`` and ``sum mag**2`` to ``err[1]``: the error
    of the estimate that produced ``spec``.
    """
    n_rows, n_freq = spec.shape
    diff = 0.0
    total = 0.0
    for b in range(n_rows):
        z_row = spec[b]
        m_row = mag[b]
        p_row = prev[b]
        o_row = out[b]
        for k in range(n_freq):
            z = z_row[k]
            p = p_row[k]
            ar = z.real - coef * p.real
            ai = z.imag - coef * p.imag
            p_row[k] = z
            m = m_row[k]
            u = 1 / (math.sqrt(ar * ar + ai * ai) + eps)  # as in project
            o_row[k] = complex(ar * u * m, ai * u * m)
            d = float(m) - math.sqrt(float(z.real) * z.real + float(z.imag) * z.imag)
            diff += d * d
            total += float(m) * m
    err[0] += diff
    err[1] += total


@serial
def magnitude_error(spec, mag, err):
    """Add ``sum (mag - |spec|)**2`` to ``err[0]`` and ``sum mag**2`` to ``err[1]``."""
    n_rows, n_freq = spec.shape
    diff = 0.0
    total = 0.0
    for b in range(n_rows):
        for k in range(n_freq):
            z = spec[b, k]
            m = float(mag[b, k])
            d = m - math.sqrt(float(z.real) * z.real + float(z.imag) * z.imag)
            diff += d * d
            total += m * m
    err[0] += diff
    err[1] += total


@serial
def _sincos(a):
    """``(cos(a), sin(a))`` for ``a`` in [-pi, pi] from the Taylor series to degree 20/21.

    Error < 5e-10 there; plain arithmetic that inlines and vectorises, where libm's scalar
    ``cos``/``sin`` do not (9 ms against 2.4 ms for 442k angles, measured here).
    """
    x2 = a * a
    # Horner forms of sin(a) / a = 1 - x2/(2*3) (1 - x2/(4*5) (...)) and
    # cos(a) = 1 - x2/(1*2) (1 - x2/(3*4) (...)), multiplying by the reciprocals.
    s = 1.0 - x2 * 0.002380952380952381
    s = 1.0 - x2 * 0.0029239766081871343 * s
    s = 1.0 - x2 * 0.003676470588235294 * s
    s = 1.0 - x2 * 0.004761904761904762 * s
    s = 1.0 - x2 * 0.00641025641025641 * s
    s = 1.0 - x2 * 0.00909090909090909 * s
    s = 1.0 - x2 * 0.013888888888888888 * s
    s = 1.0 - x2 * 0.023809523809523808 * s
    s = 1.0 - x2 * 0.05 * s
    s = 1.0 - x2 * 0.16666666666666666 * s
    c = 1.0 - x2 * 0.0021645021645021645
    c = 1.0 - x2 * 0.002631578947368421 * c
    c = 1.0 - x2 * 0.0032679738562091504 * c
    c = 1.0 - x2 * 0.004166666666666667 * c
    c = 1.0 - x2 * 0.005494505494505495 * c
    c = 1.0 - x2 * 0.007575757575757576 * c
    c = 1.0 - x2 * 0.011111111111111112 * c
    c = 1.0 - x2 * 0.017857142857142856 * c
    c = 1.0 - x2 * 0.03333333333333333 * c
    c = 1.0 - x2 * 0.08333333333333333 * c
    c = 1.0 - x2 * 0.5 * c
    return c, a * s


@serial
def polar(mag, phase, slope, out):
    """``out = mag * exp(1j * (phase - slope * k))`` over frames-major rows (``k`` the bin).

    The angle is reduced to [-pi, pi] and cos/sin come from their Taylor series to degree
    20/21 (error < 5e-10 there): plain arithmetic that vectorises, where libm's scalar
    ``cos``/``sin`` took 9 ms for 442k coefficients (2.4 ms this way, measured here). PGHI's
    phase is an estimate far coarser than that; the modulus is renormalised to 1.
    """
    n_rows, n_freq = mag.shape
    two_pi = 2.0 * math.pi
    inv_two_pi = 1.0 / two_pi
    real = out.real.dtype.type
    for b in range(n_rows):
        m_row = mag[b]
        p_row = phase[b]
        o_row = out[b]
        for k in range(n_freq):
            a = p_row[k] - slope * k
            a -= two_pi * math.floor(a * inv_two_pi + 0.5)
            c, s = _sincos(a)
            # Unit modulus to rounding, so |out| == mag in float64 too.
            m = m_row[k] / math.sqrt(c * c + s * s)
            o_row[k] = complex(real(m * c), real(m * s))


@serial
def unit_phasor_fast(angles, out):
    """``out = complex(cos(angles), sin(angles))`` rounded to ``out``'s precision, 2-D.

    For complex64 output: float64 :func:`_sincos` (error < 5e-10) rounds to the same float32
    as libm's values but for the rare tie, and runs 4x faster (librosa's initial phases are
    drawn the same way: float64 phasors rounded to complex64).
    """
    n_rows, n = angles.shape
    two_pi = 2.0 * math.pi
    inv_two_pi = 1.0 / two_pi
    real = out.real.dtype.type
    for r in range(n_rows):
        a_row = angles[r]
        o_row = out[r]
        for i in range(n):
            a = a_row[i]
            a -= two_pi * math.floor(a * inv_two_pi + 0.5)
            c, s = _sincos(a)
            o_row[i] = complex(real(c), real(s))


@serial
def unit_phasor_exact(angles, out):
    """``out = complex(cos(angles), sin(angles))`` with libm's cos and sin, 2-D."""
    n_rows, n = angles.shape
    for r in range(n_rows):
        for i in range(n):
            a = angles[r, i]
            out[r, i] = complex(math.cos(a), math.sin(a))


@serial
def unit_phasor_times(mag, init, out):
    """``out = mag * init / |init|`` (phase 0 where ``init`` is 0)."""
    n_rows, n_freq = mag.shape
    for b in range(n_rows):
        for k in range(n_freq):
            z = init[b, k]
            r = math.sqrt(float(z.real) * z.real + float(z.imag) * z.imag)
            m = mag[b, k]
            if r > 0:
                out[b, k] = complex(m * (z.real / r), m * (z.imag / r))
            else:
                out[b, k] = complex(m, 0.0)


# ----- PGHI -------------------------------------------------------------------------------

@serial
def pghi_gradients(logmag, hop, n_fft, gamma, centre, dphi_time, dphi_freq):
    """Phase derivatives from the log-magnitude (frames-major ``(n_frames, n_freq)``).

    For a Gaussian window ``exp(-pi t**2 / gamma)`` (``t`` in samples) and phase measured from
    the window centre, with ``s = log|c|`` (Průša, Balazs & Søndergaard 2017, eqs. (8)-(9) in
    these units):

    - time derivative, radians per sample: ``dphi/dt = (1/gamma) ds/dw + 2 pi w``
      (``w = k / n_fft`` cycles per sample);
    - frequency derivative, radians per (cycle/sample): ``dphi/dw = -gamma ds/dt``.

    Written here already multiplied by the grid steps, so that integration adds
    ``hop * dphi/dt`` per frame and ``dphi/dw / n_fft`` per bin. ``centre`` is not used by
    the derivatives (the shift to the frame-start phase convention is applied after
    integration) but kept in the signature so the units are documented in one place.
    Central differences inside, one-sided at the edges.
    """
    n_frames = logmag.shape[0]
    for t in range(n_frames):
        pghi_gradient_row(logmag[max(t - 1, 0)], logmag[t], logmag[min(t + 1, n_frames - 1)], t > 0,
                          t < n_frames - 1, hop, n_fft, gamma, dphi_time[t], dphi_freq[t])


@serial
def pghi_gradient_row(before, here, after, has_before, has_after, hop, n_fft, gamma, dphi_time, dphi_freq):
    """:func:`pghi_gradients` for one frame ``here``, from its neighbours in time (where they exist).

    The time derivative is central with both neighbours, one-sided with one, 0 with none.
    """
    n_freq = here.shape[0]
    two_pi = 2.0 * math.pi
    for k in range(n_freq):
        # d s / d w with w in cycles per sample: bins are 1 / n_fft apart.
        if n_freq == 1:
            ds_dw = 0.0
        elif k == 0:
            ds_dw = 0.0  # |c| is even about w = 0 for real signals
        elif k == n_freq - 1:
            if 2 * (n_freq - 1) == n_fft:
                ds_dw = 0.0  # and about the Nyquist frequency
            else:
                ds_dw = (here[k] - here[k - 1]) * n_fft
        else:
            ds_dw = (here[k + 1] - here[k - 1]) * n_fft / 2.0
        dphi_time[k] = hop * (ds_dw / gamma + two_pi * k / n_fft)
        if has_before and has_after:
            ds_dt = (after[k] - before[k]) / (2.0 * hop)
        elif has_after:
            ds_dt = (after[k] - here[k]) / hop
        elif has_before:
            ds_dt = (here[k] - before[k]) / hop
        else:
            ds_dt = 0.0
        dphi_freq[k] = -gamma * ds_dt / n_fft


@serial
def _pghi_bucket(value, top, steps_per_log, n_buckets):
    return min(n_buckets - 1, int((top - value) * steps_per_log))


@serial
def _pghi_spread(cur, n_frames, n_freq, out, dphi_time, dphi_freq, bucket, link, head, current):
    """Give the eligible neighbours of ``cur`` their phase and queue them.

    Returns the queue's lowest possibly non-empty bucket and how many were queued.
    """
    t = cur // n_freq
    k = cur - t * n_freq
    p = out[cur]
    queued = 0
    for direction in range(4):
        if direction == 0:
            if t + 1 >= n_frames:
                continue
            nb = cur + n_freq
            step = 0.5 * (dphi_time[t, k] + dphi_time[t + 1, k])
        elif direction == 1:
            if t == 0:
                continue
            nb = cur - n_freq
            step = -0.5 * (dphi_time[t, k] + dphi_time[t - 1, k])
        elif direction == 2:
            if k + 1 >= n_freq:
                continue
            nb = cur + 1
            step = 0.5 * (dphi_freq[t, k] + dphi_freq[t, k + 1])
        else:
            if k == 0:
                continue
            nb = cur - 1
            step = -0.5 * (dphi_freq[t, k] + dphi_freq[t, k - 1])
        b = bucket[nb]
        if b < 0:
            continue
        bucket[nb] = -1
        out[nb] = p + step
        link[nb] = head[b]
        head[b] = nb
        queued += 1
        if b < current:
            current = b
    return current, queued


@serial
def pghi_integrate(logmag, dphi_time, dphi_freq, log_thresholds, phase, bucket, order, link, head):
    """Magnitude-ordered integration of the phase gradient (Průša et al. 2017, Algorithm 1).

    Coefficients are integrated largest first: the largest one not yet reached gets phase 0,
    then each coefficient taken from the queue gives its unreached neighbours (one frame or
    one bin away) their phase by the trapezoidal rule along that direction and joins the queue.

    ``log_thresholds`` (decreasing) run the integration in stages: stage ``s`` integrates the
    coefficients with ``logmag > log_thresholds[s]``, starting from those integrated in earlier
    stages, then from new seeds. With a high first threshold, every strong region gets its own
    seed instead of a phase carried to it through weak coefficients. Coefficients at or below
    the last threshold get phase 0.

    The paper's max-heap is replaced by a bucket queue on the log-magnitude quantised to
    1/64 octave (0.09 dB): push and pop are O(1), so 10 s of noise (442k coefficients)
    integrates in ~20 ms instead of the heap's 110 ms, measured here; the order differs from
    the exact heap only between coefficients within 0.09 dB of each other.

    ``phase`` (float64, shape of ``logmag``) is written; ``bucket``, ``order``, ``link``
    (integers, ``logmag.size``) and ``head`` (integers, any length >= 2) are scratch.
    """
    n_frames, n_freq = logmag.shape
    n = n_frames * n_freq
    flat = logmag.ravel()
    out = phase.ravel()
    n_buckets = head.shape[0] - 1
    top = -np.inf
    for i in range(n):
        if flat[i] > top:
            top = flat[i]
    steps_per_log = 64.0 / math.log(2.0)
    last = log_thresholds[log_thresholds.shape[0] - 1]
    # bucket[i]: >= 0 eligible in this stage (its queue bucket), -1 integrated or never,
    # -2 waiting for a later stage.
    for i in range(n):
        out[i] = 0.0
        bucket[i] = -2 if flat[i] > last else -1
    for stage in range(log_thresholds.shape[0]):
        threshold = log_thresholds[stage]
        counts = head  # first the counting sort of the seeds, then the queue's heads
        counts[:] = 0
        n_live = 0
        for i in range(n):
            if bucket[i] == -2 and flat[i] > threshold:
                b = _pghi_bucket(flat[i], top, steps_per_log, n_buckets)
                bucket[i] = b
                counts[b + 1] += 1
                n_live += 1
        if n_live == 0:
            continue
        for b in range(n_buckets):
            counts[b + 1] += counts[b]
        for i in range(n):
            b = bucket[i]
            if b >= 0:
                order[counts[b]] = i
                counts[b] += 1
        head[:] = -1
        current = n_buckets
        queued = 0
        if stage > 0:
            # Sources: coefficients integrated in earlier stages (above the previous threshold)
            # that border an eligible one.
            previous = log_thresholds[stage - 1]
            for i in range(n):
                if bucket[i] != -1 or not flat[i] > previous:
                    continue
                t = i // n_freq
                k = i - t * n_freq
                if ((t + 1 < n_frames and bucket[i + n_freq] >= 0) or (t > 0 and bucket[i - n_freq] >= 0)
                        or (k + 1 < n_freq and bucket[i + 1] >= 0) or (k > 0 and bucket[i - 1] >= 0)):
                    b = _pghi_bucket(flat[i], top, steps_per_log, n_buckets)
                    link[i] = head[b]
                    head[b] = i
                    queued += 1
                    if b < current:
                        current = b
        j = 0
        while True:
            if queued == 0:
                while j < n_live and bucket[order[j]] < 0:
                    j += 1
                if j == n_live:
                    break
                seed = order[j]
                b = bucket[seed]
                bucket[seed] = -1
                link[seed] = head[b]
                head[b] = seed
                if b < current:
                    current = b
                queued = 1
            while head[current] < 0:
                current += 1
            cur = head[current]
            head[current] = link[cur]
            queued -= 1
            current, added = _pghi_spread(cur, n_frames, n_freq, out, dphi_time, dphi_freq, bucket, link, head,
                                          current)
            queued += added


# ----- mel inversion: non-negative least squares on a sparse filterbank --------------------

@serial
def _residual_norm2(target, starts, offsets, weights, x, residual):
    """``||A x - target||**2``, leaving ``A x - target`` in ``residual``."""
    total = 0.0
    for m in range(starts.shape[0]):
        r = residual[m]
        src = target[m]
        for j in range(r.shape[0]):
            r[j] = -src[j]
        start = starts[m]
        for i in range(offsets[m + 1] - offsets[m]):
            w = weights[offsets[m] + i]
            row = x[start + i]
            for j in range(r.shape[0]):
                r[j] += w * row[j]
        for j in range(r.shape[0]):
            total += float(r[j]) * r[j]
    return total


@serial
def nnls_fista(target, starts, offsets, weights, step, n_iter, tol, x, y, residual, grad):
    """Non-negative least squares ``min_{x >= 0} ||A x - target||**2``, column by column.

    FISTA (accelerated projected gradient; Beck & Teboulle 2009) in the diagonal metric
    ``step[k] = 1 / (A.T A 1)[k]``: for a non-negative ``A``, ``diag(A.T A 1) >= A.T A``, so
    the per-bin steps are safe, and they let the high bins of a Slaney-normalised filterbank
    (small weights) move as fast as the low ones (a single ``1 / ||A||**2`` step needed 4x the
    iterations for the same residual, measured on a chirp). Stops after ``n_iter`` iterations
    or when ``||A x - target|| <= tol * ||target||``; returns the iterations run.

    ``A`` is the sparse filterbank (band ``m``: bins ``starts[m]...`` with weights
    ``weights[offsets[m]:offsets[m + 1]]``). Arrays are bins (or bands) by frames, so every
    inner loop runs along the frames and vectorises, as in the filterbank kernel. ``x`` holds
    the start on entry and the solution on return; ``y`` (like ``x``), ``residual`` (like
    ``target``) and ``grad`` (like ``x``) are scratch.
    """
    n_bands = starts.shape[0]
    n_freq, n_frames = x.shape
    real = x.dtype.type
    zero = real(0)
    y[:, :] = x
    t = 1.0
    target_norm2 = 0.0
    for m in range(n_bands):
        for j in range(n_frames):
            target_norm2 += float(target[m, j]) * target[m, j]
    limit = tol * tol * target_norm2
    it = 0
    while it < n_iter:
        it += 1
        # residual = A y - target
        for m in range(n_bands):
            r = residual[m]
            src = target[m]
            for j in range(n_frames):
                r[j] = -src[j]
            start = starts[m]
            for i in range(offsets[m + 1] - offsets[m]):
                w = weights[offsets[m] + i]
                row = y[start + i]
                for j in range(n_frames):
                    r[j] += w * row[j]
        if limit > 0:
            norm2 = 0.0
            for m in range(n_bands):
                r = residual[m]
                for j in range(n_frames):
                    norm2 += float(r[j]) * r[j]
            if norm2 <= limit:
                # y is the extrapolated point (possibly negative); x, the last projected
                # iterate, is the answer if it meets the tolerance too.
                if _residual_norm2(target, starts, offsets, weights, x, residual) <= limit:
                    return it
        # grad = A.T residual
        grad[:, :] = 0
        for m in range(n_bands):
            r = residual[m]
            start = starts[m]
            for i in range(offsets[m + 1] - offsets[m]):
                w = weights[offsets[m] + i]
                row = grad[start + i]
                for j in range(n_frames):
                    row[j] += w * r[j]
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        beta = real((t - 1.0) / t_next)
        t = t_next
        for k in range(n_freq):
            xk = x[k]
            yk = y[k]
            gk = grad[k]
            sk = real(step[k])
            for j in range(n_frames):
                new = max(yk[j] - sk * gk[j], zero)
                yk[j] = new + beta * (new - xk[j])
                xk[j] = new
    return it
