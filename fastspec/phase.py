"""Phase reconstruction: fast Griffin-Lim, PGHI and spectral convergence.

Fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013) runs one fused pass per iteration over
blocks of frames: a numba kernel frames and windows the current estimate into an FFTW r2c
plan's input, the projection kernel (momentum + magnitude constraint) reads the plan's output
and writes the new coefficients straight into a c2r plan's input, and the overlap-add kernel
adds the inverse frames into the next estimate. Two signal buffers are allocated once and
swapped per iteration. Updates follow librosa's ``griffinlim`` order exactly, so the two agree
iteration by iteration. An iteration costs 1.1-1.2x one batched rfft + irfft pair over the
same frames (librosa's: 5-7x), measured here at n_fft 1024 / hop 256 and 2048 / 128.

Phase Gradient Heuristic Integration (Průša, Balazs & Søndergaard 2017) estimates the phase
derivatives from the log-magnitude (exact for a Gaussian window, approximate for others) and
integrates them from the largest coefficients outwards in a magnitude-ordered numba kernel.

Mel and MFCC inversion live in :mod:`fastspec.inverse`, the seed upgrade (``pretty_to_audio``) in
:mod:`fastspec.compat.upgrade` and ``fastspec invert`` in :mod:`fastspec.apps.invert`; their
names are still importable from here.
"""

import math
import numbers
import warnings

import numpy as np

from . import _config, _engine, _validate
from ._kernels import overlap_add, pipeline
from ._kernels import phase as kernels
from ._validate import ParameterError
from .stft import get_stft

__all__ = ["griffin_lim", "pghi", "spectral_convergence"]

# Names that moved, still importable from here (loaded on first use: those modules import this one).
_MOVED = {"mel_to_stft": "inverse", "mel_to_audio": "inverse", "mfcc_to_mel": "inverse", "mfcc_to_audio": "inverse",
          "invert_file": "apps.invert", "FEATURE_KINDS": "apps.invert", "pretty_to_audio": "compat.upgrade",
          "pretty_spectral_convergence": "compat.upgrade", "seed_stft": "compat.upgrade",
          "pretty_magnitude": "compat.upgrade"}


def __getattr__(name):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# PGHI's Gaussian-equivalent window parameter: gamma = factor * win_length**2 (samples**2),
# for a window that behaves like exp(-pi t**2 / gamma). Hann, Hamming and Blackman factors are
# the least-squares Gaussian fits given by Průša, Balazs & Søndergaard (2017), Table I.
# Bucket queue of the PGHI integration: 1/64 octave per bucket, 64 octaves (385 dB) of range.
_PGHI_BUCKETS = 64 * 64
PGHI_TOL = (1e-5,)

GAMMA_FACTORS = {"hann": 0.25645, "hanning": 0.25645, "hamming": 0.29794, "blackman": 0.17954}


# ----- validation helpers -------------------------------------------------------------------

def _n_fft_for(S, n_fft):
    shape = np.shape(S)
    if len(shape) < 2:
        raise ParameterError(f"S must have at least 2 dimensions (..., n_freq, n_frames), got shape {shape}")
    if n_fft is None:
        return 2 * (shape[-2] - 1) if shape[-2] > 1 else 1
    return _validate.positive_int(n_fft, "n_fft")


def _rng(rng):
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ParameterError(f"rng={rng!r} must be None, an int seed, a numpy Generator or RandomState")


def _frames_major(A, dtype):
    """``(..., n_freq, n_frames)`` -> contiguous ``(items, n_frames, n_freq)`` in ``dtype``."""
    A3 = A.reshape((-1,) + A.shape[-2:])
    return np.ascontiguousarray(np.swapaxes(A3, -1, -2), dtype=dtype)


def _from_frames_major(A, lead):
    return np.swapaxes(A, -1, -2).reshape(lead + (A.shape[-1], A.shape[-2]))


# ----- the Griffin-Lim engine -----------------------------------------------------------------

def _gl_engine(tf, mag, coeffs, n_iter, momentum, length, track):
    """Run fast Griffin-Lim on frames-major magnitudes ``mag`` from coefficients ``coeffs``.

    Both are ``(items, n_frames, n_freq)``; ``coeffs`` is consumed (it becomes the momentum
    memory). Returns the signals ``(items, n_out)`` and, if ``track``, the spectral convergence
    (dB) after 0 ... n_iter iterations, ``(items, n_iter + 1)``.

    Each iteration is one parallel pass over segments of frames (the engine's
    :class:`~fastspec._engine.OverlapAdd`), so results do not depend on the thread count.
    """
    real = mag.dtype
    n_items, n_frames, _ = mag.shape
    n_fft, hop = tf.n_fft, tf.hop_length
    n_out, n_ola = tf.inverse_geometry(n_frames, length)
    window = tf.window(real)
    scale = real.type(1.0 / n_fft)
    eps = real.type(np.finfo(real).tiny)
    coef = real.type(momentum / (1 + momentum))
    # The fused pass keeps r2c in/out, c2r in/out, and a block of magnitudes and momentum memory
    # in cache: half the STFT's block.
    layout = _engine.layout(n_fft, n_frames, real.itemsize, share=2)
    ola = layout.overlap_add(hop, tf.padding, n_out)
    tasks = _engine.segment_tasks(n_items, len(ola.segments))
    settings = _config.current()
    n_threads = _engine.thread_count(settings, len(tasks), n_items * n_frames)
    norm = tf.inverse_norm(real, n_ola, n_out)
    y = np.zeros((n_items, n_out), dtype=real)
    y_next = np.zeros_like(y)
    edges = ola.edges(n_items, real)
    # Squared errors per task, so the per-item sums below run in one order whatever the threads.
    err = np.zeros((n_items, len(ola.segments), 2))
    errors = np.zeros((n_iter + 1, n_items, 2)) if track else None
    prev = coeffs  # momentum memory: the previous iteration's STFT (ignored while k == 0)
    shapes = layout.scratch_shapes(real, ("real", "complex", "complex", "real"))
    scratch = [_engine.scratch(shapes) for _ in range(n_threads)]
    forward = inverse = None
    try:
        forward = layout.plans(settings, "r2c", real)
        inverse = layout.plans(settings, "c2r", real)

        def first(slot, part):
            _, spec, _, rows = scratch[slot]
            pipeline.inverse(coeffs, part, ola.segments, n_ola, hop, tf.padding, ola.n_edge, window, scale,
                             inverse.execute, inverse.pointers, spec, rows, y, edges)

        def sweep(source, target, k, mode):
            def work(slot, part):
                pipeline.griffin_lim_pass(source, mag, prev, part, ola.segments, n_ola, tf.framing, ola.n_edge, window,
                                          scale, k, eps, mode, forward.execute, forward.pointers, inverse.execute,
                                          inverse.pointers, tuple(scratch[slot]), target, edges, err)
            _engine.run(tasks, n_threads, work)

        def finish(target):
            ola.finish(target, edges)
            edges.fill(0)
            for item in range(n_items):
                overlap_add.multiply(target[item], norm)

        _engine.run(tasks, n_threads, first)
        finish(y)
        for it in range(n_iter):
            y_next.fill(0)
            err.fill(0)
            sweep(y, y_next, real.type(0) if it == 0 else coef, 1 if track else 0)
            finish(y_next)
            if track:
                errors[it] = err.sum(axis=1)
            y, y_next = y_next, y
        if track:
            err.fill(0)
            sweep(y, y_next, coef, 2)
            errors[n_iter] = err.sum(axis=1)
    finally:
        for plans in (forward, inverse):
            if plans is not None:
                plans.done()
        for arrays in scratch:
            _engine.give_back(settings, shapes, arrays)
        ola.done(edges)
    if track:
        with np.errstate(divide="ignore", invalid="ignore"):
            sc = 10 * np.log10(errors[..., 0] / errors[..., 1])
        return y, sc.T
    return y, None


# ----- public API -----------------------------------------------------------------------------

def griffin_lim(S, *, n_iter=32, hop_length=None, win_length=None, n_fft=None, window="hann",
                center=True, length=None, pad_mode="constant", momentum=0.99, init="random",
                rng=None, dtype=None, return_history=False, random_state=None):
    """Signal from a magnitude spectrogram by fast Griffin-Lim (Perraudin et al. 2013).

    Each iteration takes the STFT of the current estimate, combines it with the previous one
    (``t + momentum * (t - t_prev)``), keeps its phase and imposes the magnitude ``S``, and
    inverts (librosa's update order: with the same initial phase the two agree iteration by
    iteration). ``momentum=0`` is the classic Griffin-Lim algorithm.

    Parameters
    ----------
    S : numpy.ndarray, shape (..., 1 + n_fft // 2, n_frames)
        Non-negative magnitudes. Leading axes are independent spectrograms, inverted together.
    n_iter : int
        Iterations, >= 0.
    hop_length, win_length, n_fft, window, center, pad_mode
        The STFT that produced ``S`` (as :func:`fastspec.stft`). ``n_fft`` defaults to
        ``2 * (n_freq - 1)``.
    length : int, optional
        Exact output length.
    momentum : float
        >= 0; 0.99 as recommended by Perraudin et al. Values > 1 warn (may diverge).
    init : {"random", "zeros", "pghi"}, None or complex numpy.ndarray
        Initial phase: uniform random (drawn as ``2 pi rng.random(S.shape)``, as librosa
        does), zero (``"zeros"``, or librosa's ``None``), :func:`pghi`, or the phase of the given
        complex array (shape of ``S``).
    rng : None, int, numpy.random.Generator or numpy.random.RandomState
        Source of the random phase. ``np.random.RandomState(seed)`` reproduces librosa's
        ``griffinlim(..., random_state=seed)``; an int seeds ``np.random.default_rng``.
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        librosa's spelling, with librosa's meaning: an int is ``np.random.RandomState(seed)``,
        None (with ``rng`` None too) numpy's global state. Give ``rng`` or ``random_state``, not both.
    dtype : numpy dtype, optional
        float32 or float64 computation and output. Default: follows ``S``.
    return_history : bool
        Also return the spectral convergence (dB) after 0, 1, ..., n_iter iterations.

    Returns
    -------
    y : numpy.ndarray, shape (..., n_samples)
    history : numpy.ndarray, shape (..., n_iter + 1)
        Only if ``return_history``.
    """
    n_fft = _n_fft_for(S, n_fft)
    S = _validate.magnitude(S, n_fft)
    n_iter = _validate.count(n_iter, "n_iter")
    if init is None:  # librosa's zero phase
        init = "zeros"
    if random_state is not None:
        if rng is not None:
            raise ParameterError("pass rng or random_state (librosa's spelling), not both")
        rng = np.random.RandomState(seed=random_state) if isinstance(random_state, numbers.Integral) \
            and not isinstance(random_state, bool) else random_state
    try:
        momentum = float(momentum)
    except (TypeError, ValueError):
        raise ParameterError(f"momentum={momentum!r} must be a number") from None
    if not np.isfinite(momentum) or momentum < 0:
        raise ParameterError(f"momentum={momentum!r} must be a finite number >= 0")
    if momentum > 1:
        warnings.warn(f"griffin_lim with momentum={momentum} > 1 can be unstable", stacklevel=2)
    if length is not None:
        length = _validate.positive_int(length, "length")
    real = _validate.work_dtype(S, dtype)
    cplx = np.result_type(real, np.complex64)
    tf = get_stft(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                  center=center, pad_mode=pad_mode)
    if tf.pre_pads:  # each iteration re-analyses in the fused kernel, which pads as the kernels do
        raise ParameterError(f"pad_mode={pad_mode!r} is not one griffin_lim iterates with; use 'constant', "
                             "'reflect' or 'edge'")
    lead = S.shape[:-2]
    mag = _frames_major(S, real)
    coeffs = _initial_coefficients(S, mag, init, rng, tf, real, cplx)
    y, history = _gl_engine(tf, mag, coeffs, n_iter, momentum, length, return_history)
    y = y.reshape(lead + (y.shape[-1],))
    if return_history:
        return y, history.reshape(lead + (n_iter + 1,))
    return y


def _initial_coefficients(S, mag, init, rng, tf, real, cplx):
    """Frames-major complex starting coefficients ``S * exp(1j * phase0)``."""
    if isinstance(init, str):
        if init == "random":
            gen = _rng(rng)
            # Drawn in S's own layout so that the same generator state gives librosa's phases.
            angles = 2 * np.pi * gen.random(size=S.shape)
            angles = angles.reshape((-1,) + S.shape[-2:])
            phasors = np.empty(angles.shape, dtype=cplx)
            # float64 phasors rounded to the output precision, then times the magnitude, as
            # librosa does. One pass of vectorised sin/cos for complex64 (libm's took 11 of the
            # 15 ms of a 1025 x 431 start), libm's for complex128.
            unit = kernels.unit_phasor_fast if cplx == np.complex64 else kernels.unit_phasor_exact
            for item in range(angles.shape[0]):
                unit(angles[item], phasors[item])
            out = np.empty(mag.shape, dtype=cplx)
            return np.multiply(np.swapaxes(phasors, -1, -2), mag, out=out)
        if init == "zeros":
            return mag.astype(cplx)
        if init == "pghi":
            out = np.empty(mag.shape, dtype=cplx)
            _engine.for_each(_config.current(), mag.shape[0],
                             lambda item: _pghi_one(mag[item], tf, None, PGHI_TOL, out[item]))
            return out
        raise ParameterError(f"init={init!r} must be 'random', 'zeros', 'pghi' or a complex array")
    init = np.asarray(init)
    if init.shape != S.shape:
        raise ParameterError(f"init has shape {init.shape}; it must have the shape of S {S.shape}")
    if not np.all(np.isfinite(init)):
        raise ParameterError("init contains NaN or Inf values")
    out = np.empty(mag.shape, dtype=cplx)
    src = _frames_major(init, cplx)
    for item in range(mag.shape[0]):
        kernels.unit_phasor_times(mag[item], src[item], out[item])
    return out


def window_gamma(tf):
    """PGHI's ``gamma`` (samples**2) for the window of ``tf``.

    The Gaussian ``exp(-pi t**2 / gamma)`` that best stands in for the window.

    Hann, Hamming, Blackman: ``factor * win_length**2`` with Průša et al.'s factors
    (:data:`GAMMA_FACTORS`); ``("gaussian", std)``: ``2 pi std**2`` exactly; any other window:
    the Gaussian with the same energy spread, ``4 pi sum(t**2 w**2) / sum(w**2)``.
    """
    spec = tf.window_spec
    name = spec if isinstance(spec, str) else (spec[0] if isinstance(spec, tuple) and spec else None)
    if isinstance(name, str):
        name = name.lower()
        if name in GAMMA_FACTORS and (isinstance(spec, str) or len(spec) == 1):
            return GAMMA_FACTORS[name] * tf.win_length ** 2
        if name in ("gaussian", "gauss", "gss") and isinstance(spec, tuple) and len(spec) == 2:
            return 2 * np.pi * float(spec[1]) ** 2
    w = tf.window(np.float64)
    n = np.arange(w.size)
    energy = np.sum(w * w)
    centre = np.sum(n * w * w) / energy
    return float(4 * np.pi * np.sum((n - centre) ** 2 * w * w) / energy)


def window_centre(tf):
    """Position of the window's centre in its frame (its centroid; the symmetry point)."""
    w = tf.window(np.float64)
    return float(np.sum(np.arange(w.size) * w) / np.sum(w))


def _pghi_tolerances(tol):
    """``tol`` as a tuple of decreasing relative thresholds (one number is one stage)."""
    values = tol if isinstance(tol, (tuple, list, np.ndarray)) else (tol,)
    values = tuple(_validate.positive_float(t, "tol", allow_zero=True) for t in values)
    if not values or any(b >= a for a, b in zip(values, values[1:], strict=False)):
        raise ParameterError(f"tol={tol!r} must be a number or a strictly decreasing sequence of numbers")
    return values


def _pghi_one(mag, tf, gamma, tol, out):
    """PGHI for one frames-major magnitude ``(n_frames, n_freq)``; writes complex ``out``."""
    n_frames, n_freq = mag.shape
    n_fft, hop = tf.n_fft, tf.hop_length
    gamma = window_gamma(tf) if gamma is None else gamma
    m64 = mag.astype(np.float64)
    top = float(m64.max()) if m64.size else 0.0
    if top <= 0:
        out[...] = 0
        return
    logmag = np.log(np.maximum(m64, top * 1e-12))
    # Both derivatives of a coefficient side by side, in single precision: the integration
    # reads them in magnitude order, all over the array, so one cache line instead of two
    # (float32 steps err by < 1e-4 rad; PGHI's own estimates by ~0.1 rad).
    grads = np.empty(m64.shape + (2,), dtype=np.float32)
    dphi_time, dphi_freq = grads[..., 0], grads[..., 1]
    kernels.pghi_gradients(logmag, float(hop), float(n_fft), float(gamma), 0.0, dphi_time, dphi_freq)
    phase = np.empty_like(m64)
    n = m64.size
    index = np.int32 if n < 2 ** 31 - 1 else np.int64  # half the scratch memory traffic
    thresholds = np.array([math.log(t * top) if t > 0 else -np.inf for t in tol])
    kernels.pghi_integrate(logmag, dphi_time, dphi_freq, thresholds, phase,
                           np.empty(n, dtype=index), np.empty(n, dtype=index), np.empty(n, dtype=index),
                           np.empty(_PGHI_BUCKETS + 1, dtype=index))
    # Integration measured phase from each window's centre; the STFT's is from the frame start.
    kernels.polar(m64, phase, 2 * np.pi * window_centre(tf) / n_fft, out)


def pghi(S, *, hop_length=None, n_fft=None, win_length=None, window="hann", center=True,
         gamma=None, tol=1e-5, dtype=None):
    """Complex STFT whose phase is estimated from the magnitude alone (no iterations).

    Phase Gradient Heuristic Integration (Průša, Balazs & Søndergaard 2017): for a Gaussian
    window ``exp(-pi t**2 / gamma)`` the phase derivatives follow from the log-magnitude
    ``s``: ``dphi/dt = ds/dw / gamma + 2 pi w`` and ``dphi/dw = -gamma ds/dt`` (``t`` in
    samples, ``w`` in cycles per sample, phase measured from the window centre). They are
    integrated along a path that visits coefficients from the largest down (a heap), so
    errors are made where they matter least; coefficients below ``tol * max(S)`` get phase 0.

    The window enters through ``gamma`` (samples**2): for Hann ``0.25645 * win_length**2``,
    Hamming ``0.29794 * win_length**2``, Blackman ``0.17954 * win_length**2`` (the Gaussian
    fits given by Průša et al.), ``("gaussian", std)`` exactly ``2 pi std**2``; other windows
    use the Gaussian of equal energy spread ``4 pi sum(t**2 w**2) / sum(w**2)``.

    Parameters
    ----------
    S : numpy.ndarray, shape (..., 1 + n_fft // 2, n_frames)
        Non-negative magnitudes.
    hop_length, n_fft, win_length, window, center
        The STFT that produced ``S``.
    gamma : float, optional
        Override the window's ``gamma`` (samples**2).
    tol : float or sequence of float
        Relative magnitude (of ``max(S)``) at or below which coefficients are not integrated
        (phase 0). A decreasing sequence integrates in stages, each from the coefficients of
        the stages before: ``(1e-1, 1e-5)`` gives every region above 10 % its own starting
        point. Measured on the benchmark speech: PGHI alone -25.1 dB against -23.1 with
        ``1e-5``, but after 32 Griffin-Lim iterations -32.8 against -34.2, hence the default.
    dtype : numpy dtype, optional
        float32/complex64 or float64/complex128 output. Default: follows ``S``.

    Returns
    -------
    numpy.ndarray, complex, shape of ``S``
        ``S * exp(1j * phase)``; pass it to :func:`fastspec.istft`, or use ``np.angle``.
    """
    n_fft = _n_fft_for(S, n_fft)
    S = _validate.magnitude(S, n_fft)
    if gamma is not None:
        gamma = _validate.positive_float(gamma, "gamma")
        # dphi/dw = -gamma ds/dt: a gamma past ~1e6 n_fft**2 (a Gaussian far wider than the frame)
        # overflows the integrated phase to inf and NaN.
        limit = 1e6 * float(n_fft) ** 2
        if gamma > limit:
            raise ParameterError(f"gamma={gamma:g} must be <= 1e6 * n_fft**2 = {limit:g} (samples**2)")
    tol = _pghi_tolerances(tol)
    real = _validate.work_dtype(S, dtype)
    cplx = np.result_type(real, np.complex64)
    tf = get_stft(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center)
    mag = _frames_major(S, np.float64)
    out = np.empty(mag.shape, dtype=cplx)
    _engine.for_each(_config.current(), mag.shape[0], lambda item: _pghi_one(mag[item], tf, gamma, tol, out[item]))
    return _from_frames_major(out, S.shape[:-2])


def spectral_convergence(S, y, *, n_fft=None, hop_length=None, win_length=None, window="hann",
                         center=True, pad_mode="constant"):
    """How well the signal ``y`` has magnitude ``S``: ``20 log10(||S - |STFT(y)||| / ||S||)`` dB.

    Frobenius norms over each spectrogram (last two axes); lower is better. If ``y`` gives
    fewer frames than ``S`` the missing frames count as zeros; extra frames are ignored.

    Parameters
    ----------
    S : numpy.ndarray, shape (..., 1 + n_fft // 2, n_frames)
        Target magnitudes.
    y : numpy.ndarray, shape (..., n_samples)
        Signal(s), leading axes matching ``S``'s.
    n_fft, hop_length, win_length, window, center, pad_mode
        The STFT of ``S``. ``n_fft`` defaults to ``2 * (n_freq - 1)``.

    Returns
    -------
    float or numpy.ndarray
        dB, one value per spectrogram.
    """
    n_fft = _n_fft_for(S, n_fft)
    S = _validate.magnitude(S, n_fft)
    tf = get_stft(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                  center=center, pad_mode=pad_mode)
    return stft_spectral_convergence(tf, S, y)


def stft_spectral_convergence(tf, S, y, drop_nyquist=False):
    """``20 log10 ||S - |STFT(y)||| / ||S||`` over the last two axes (the one statement of the formula).

    ``|STFT(y)|`` is cut or zero-padded to ``S``'s frames; ``drop_nyquist`` leaves its last bin out
    (``S`` comes without it).
    """
    y = _validate.audio(y, dtype=np.float64)
    if y.shape[:-1] != S.shape[:-2]:
        raise ParameterError(f"y has leading shape {y.shape[:-1]} but S has {S.shape[:-2]}")
    X = tf.spectrogram(y)
    if drop_nyquist:
        X = X[..., :-1, :]
    n = S.shape[-1]
    if X.shape[-1] < n:
        X = np.concatenate([X, np.zeros(X.shape[:-1] + (n - X.shape[-1],))], axis=-1)
    X = X[..., :n]
    S64 = S.astype(np.float64)
    num = np.sqrt(np.sum((S64 - X) ** 2, axis=(-2, -1)))
    den = np.sqrt(np.sum(S64 ** 2, axis=(-2, -1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = 20 * np.log10(num / den)
    return float(sc) if sc.ndim == 0 else sc
