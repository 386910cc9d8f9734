"""The seed's spectrogram inversion: the sequential overlap-add with its cross-correlation offset search."""

import sys

import numpy as np

from .. import _config, _engine
from .._fft import aligned
from .._kernels import seed as kernels
from .._kernels import xcorr
from .._validate import ParameterError, all_finite
from ..filters import seed_hamming
from ._checks import LARGE_STEP_WARNING, as_index, blocks, count_windows, finite, kernel_dtype, positive_index


def _spectrogram_2d(X_s, name):
    X = finite(X_s, name)
    if X.ndim != 2:
        raise ParameterError(f"{name} must be 2-D (n_frames, n_bins), got shape {X.shape}")
    if X.dtype.kind not in "biufc":
        raise ParameterError(f"{name} must be numeric, got dtype {X.dtype}")
    return X


def _single_precision(dtype):
    """Whether the seed's per-frame ``np.fft.ifft`` runs in complex64 for this input dtype."""
    return np.dtype(dtype) in (np.float16, np.float32, np.complex64)


def _half_spectrum_frames(plans, n_fft, fill):
    """Frames ``real(ifft(X[i]))`` (times ``n_fft``) through a float64 FFTW c2r plan of ``plans``.

    ``fill(start, count, rows)`` writes their Hermitian half spectra.
    """

    def frames(start, count):
        plan = plans.get("c2r", n_fft, count, np.float64)
        fill(start, count, plan.input)
        return plan.execute(), 1.0 / n_fft

    return frames


def _complex64_frames(rows):
    """Frames ``real(ifft(X[i]))`` of float16/float32 spectra, as the seed computes them.

    That is NumPy's complex64 inverse FFT. Its float32 rounding decides the lags in quiet, flat
    regions (where the mel round trip's float16 magnitudes sit), so another float32 FFT would
    not reproduce the seed's offsets there. ``rows(start, count)`` returns the two-sided
    complex64 rows.
    """

    def frames(start, count):
        return np.ascontiguousarray(np.fft.ifft(rows(start, count)).real), 1.0
    return frames


def _overlap_add(n_frames, n_fft, step, calculate_offset, frames_of, trace=None, norm=None):
    """Run one ``invert_spectrogram`` over the frames ``frames_of`` delivers.

    ``frames_of(start, count)`` returns a block of frames ``real(ifft(X[i])) / scale`` (not
    reversed) and ``scale``.
    """
    size = n_fft // 2
    if size < 2:
        raise ParameterError(f"X_s has {n_fft} columns; the inversion needs at least 4")
    est_start = size // 2 - 1
    length = n_frames * step + size
    wave = np.zeros(length)
    offsets = np.zeros(n_frames, dtype=np.int64)
    search = bool(calculate_offset) and n_frames > 1
    n1 = size - step if search else 1
    if n1 <= 0:
        # The seed prints this for every frame it searches.
        sys.stdout.write((LARGE_STEP_WARNING + "\n") * (n_frames - 1))
        n1 = step
    n2 = min(n1, n_fft - est_start)
    fft_len = xcorr.fft_length(n1, n2)
    # Separately aligned: FFTW's new-array execute needs the alignment the plan was made with.
    x1_buffer, x2_buffer, corr = (aligned(fft_len, np.float64) for _ in range(3))
    spectrum, product = (aligned(fft_len // 2 + 1, np.complex128) for _ in range(2))
    segment = np.zeros(n2, dtype=np.float32)
    window = seed_hamming(size)
    with _engine.PlanSet(_config.current()) as plans:
        r2c, c2r = plans.raw("r2c", fft_len), plans.raw("c2r", fft_len)
        for start, count in blocks(n_frames, n_fft):
            frames, scale = frames_of(start, count)
            failed = xcorr.overlap_add_search(frames, start, step, size, est_start, n1, scale, window,
                                              search, r2c.execute, r2c.pointer, c2r.execute,
                                              c2r.pointer, x1_buffer, x2_buffer, corr, segment,
                                              spectrum, product, wave, offsets)
            if failed >= 0:
                raise ValueError(
                    f"could not broadcast: frame {failed} shifted by {offsets[failed]} runs off its "
                    f"{n_fft}-sample estimate (the seed's slice assignment fails here too)"
                )
    if norm is None:
        norm = _window_norm(window, n_frames, step, length)
    np.divide(wave, norm, out=wave)
    if trace is not None:
        trace.append(offsets)
    return wave


def _window_norm(window, n_frames, step, length):
    total = np.zeros(length)
    xcorr.window_sum(window, n_frames, step, total)
    return total + 1e-6


def invert_spectrogram(X_s, step, calculate_offset=True, set_zero_phase=True):
    """Overlap-add of reversed per-frame inverse FFTs, each shifted to match the wave so far.

    Parameters
    ----------
    X_s : array_like, shape (n_frames, n_fft)
        Two-sided spectra, frames in rows.
    step : int
        Hop between frames.
    calculate_offset : bool
        Shift each frame (after the first) by :func:`xcorr_offset` against the wave so far.
    set_zero_phase : bool
        Use the real part of ``X_s`` only.

    Returns
    -------
    numpy.ndarray, float64, shape (n_frames * step + n_fft // 2,)
    """
    return _invert(X_s, step, calculate_offset, set_zero_phase)


def _invert(X_s, step, calculate_offset=True, set_zero_phase=True, trace=None):
    step = positive_index(step, "step")
    X = _spectrogram_2d(X_s, "X_s")
    n_frames, n_fft = X.shape
    if _single_precision(X.dtype):
        def rows(start, count):
            block = X[start:start + count]
            return (block.real if set_zero_phase else block).astype(np.complex64)

        frames_of = _complex64_frames(rows)
    else:
        values = kernel_dtype(X)
        real_only = bool(set_zero_phase) or values.dtype.kind != "c"

        def fill(start, count, rows):
            if real_only:
                kernels.real_hermitian_part(values[start:start + count], rows)
            else:
                kernels.hermitian_part(values[start:start + count], rows)

        with _engine.PlanSet(_config.current()) as plans:
            return _overlap_add(n_frames, n_fft, step, calculate_offset, _half_spectrum_frames(plans, n_fft, fill),
                                trace)
    return _overlap_add(n_frames, n_fft, step, calculate_offset, frames_of, trace)


def _iterate(n_frames, n_fft, magnitude_rows, two_sided_rows, reg, fftsize, step, n_iter, verbose,
             trace=None):
    """Run the seed's iterations on real magnitudes ``X_s``.

    ``magnitude_rows(start, count, out)`` writes the half-spectrum magnitudes
    ``(X_s[k] + X_s[n_fft - k]) / 2`` of a block of frames; ``two_sided_rows`` is None, or for
    float16/float32 ``X_s`` returns its complex64 rows (the first inversion then runs in single
    precision, as the seed's does).
    """
    fftsize = as_index(fftsize)
    step = positive_index(step, "step")
    n_iter = as_index(n_iter)
    if n_iter < 0:
        raise ParameterError(f"n_iter={n_iter} must be a non-negative integer")
    size = n_fft // 2
    n_half = n_fft // 2 + 1
    length = n_frames * step + size
    window = seed_hamming(size)
    norm = _window_norm(window, n_frames, step, length)
    est_step = step
    if n_iter > 0:
        # Checked before any work, where the seed fails after its first inversion.
        n_est = count_windows(length, fftsize, step)
        rows = min(n_est, n_frames)
        if fftsize != n_fft or (rows != n_frames and rows != 1):
            raise ValueError(
                f"operands could not be broadcast together with shapes ({n_frames},{n_fft}) "
                f"({rows},{fftsize})"
            )
        # One re-analysed frame is broadcast to every row, as NumPy does.
        est_step = step if rows == n_frames else 0
    analysis_window = seed_hamming(fftsize)
    with _engine.PlanSet(_config.current()) as plans:
        # The half-spectrum magnitudes serve every iteration: formed once (n_frames x n_half
        # float64, a quarter of the seed's own complex two-sided X_best).
        magnitudes = np.empty((n_frames, n_half))
        for start, count in blocks(n_frames, n_fft):
            magnitude_rows(start, count, magnitudes[start:start + count])
        wave = None
        for i in range(n_iter + 1):
            if i < n_iter and verbose:
                print(f"Runnning iter {i}")
            if wave is None:
                # The first inversion uses X_s itself (zero phase; X_s is real).
                if two_sided_rows is None:
                    def first(start, count, rows):
                        rows[...] = magnitudes[start:start + count]

                    frames_of = _half_spectrum_frames(plans, n_fft, first)
                else:
                    frames_of = _complex64_frames(two_sided_rows)
            else:
                previous = wave
                mean = previous.mean()

                def fill(start, count, rows, previous=previous, mean=mean):
                    plan = plans.get("r2c", fftsize, count, np.float64)
                    kernels.frame_centred(previous, mean, start if est_step else 0, est_step,
                                          analysis_window, plan.input)
                    kernels.apply_phase(plan.execute(), reg, magnitudes[start:start + count], rows)

                frames_of = _half_spectrum_frames(plans, n_fft, fill)
            wave = _overlap_add(n_frames, n_fft, step, True, frames_of, trace, norm)
    return wave


def _reg(X):
    """Return the seed's ``np.max(X_s) / 1e8`` as NumPy 1, which the notebook was written for, computes it.

    That is in float64. Under NumPy 2 (NEP 50) the seed's own code keeps a float16 ``X_s``'s
    dtype: 1e8 becomes inf, the regulariser 0, and silent frames give NaN (196,736 NaN samples of
    196,864 on the notebook's mel round trip); the notebook's users got finite audio.
    """
    return float(np.max(X)) / 1e8


def iterate_invert_spectrogram(X_s, fftsize, step, n_iter=10, verbose=False):
    """Iterative phase reconstruction from two-sided magnitudes.

    Griffin-Lim with the seed's cross-correlation frame placement.

    Parameters
    ----------
    X_s : array_like, shape (n_frames, n_fft)
        Real two-sided magnitudes, frames in rows.
    fftsize : int
        FFT length of the re-analysis; must equal ``n_fft``.
    step : int
        Hop between frames.
    n_iter : int
        Iterations; the first starts from zero phase.
    verbose : bool
        Print the iteration number.

    Returns
    -------
    numpy.ndarray, float64, shape (n_frames * step + n_fft // 2,)
    """
    X = _spectrogram_2d(X_s, "X_s")
    if X.dtype.kind == "c":
        raise ParameterError("X_s must be real magnitudes; complex spectra are not supported")
    values = kernel_dtype(X)

    def magnitude_rows(start, count, out):
        kernels.real_hermitian_part(values[start:start + count], out)

    def two_sided_rows(start, count):
        return X[start:start + count].astype(np.complex64)

    return _iterate(X.shape[0], X.shape[1], magnitude_rows,
                    two_sided_rows if _single_precision(X.dtype) else None, _reg(X), fftsize, step,
                    n_iter, verbose)


def invert_pretty_spectrogram(X_s, log=True, fft_size=512, step_size=512 / 4, n_iter=10):
    """Invert a :func:`pretty_spectrogram` back to a waveform.

    Parameters
    ----------
    X_s : array_like, shape (n_frames, fft_size // 2)
        The spectrogram (log10 magnitudes when ``log``).
    log : bool
        Undo the log10 first (when ``log == True``).
    fft_size : int
        FFT length used to make ``X_s``.
    step_size : int
        Hop used to make ``X_s``.
    n_iter : int
        Iterations of :func:`iterate_invert_spectrogram`.

    Returns
    -------
    numpy.ndarray, float64, shape (n_frames * step_size + X_s.shape[1],)
    """
    return _invert_pretty(X_s, log, fft_size, step_size, n_iter)


def _invert_pretty(X_s, log=True, fft_size=512, step_size=512 / 4, n_iter=10, trace=None):
    X = _spectrogram_2d(X_s, "X_s")
    if X.dtype.kind == "c":
        raise ParameterError("X_s must be real; complex spectrograms are not supported")
    if log == True:  # noqa: E712
        if X.dtype == np.float64:
            # exp(x ln 10): within a few ulps of the seed's 10 ** x and twice as fast (SIMD exp),
            # 1% of an inversion. Narrower dtypes keep NumPy's own rounding of 10 ** x.
            X = np.exp(X * np.log(10.0))
        else:
            X = np.power(10, X)
        if not all_finite(X):
            raise ParameterError("10 ** X_s overflows: X_s holds log10 magnitudes far too large")
    values = kernel_dtype(X)

    def magnitude_rows(start, count, out):
        # The seed concatenates X_s with its mirror; the half spectrum is formed from X_s directly.
        kernels.mirrored_part(values[start:start + count], out)

    def two_sided_rows(start, count):
        block = X[start:start + count]
        return np.concatenate([block, block[:, ::-1]], axis=1).astype(np.complex64)

    return _iterate(X.shape[0], 2 * X.shape[1], magnitude_rows,
                    two_sided_rows if _single_precision(X.dtype) else None, _reg(X), fft_size,
                    step_size, n_iter, False, trace)


def xcorr_offset(x1, x2):
    """Offset of the best match of ``x2`` in ``x1``.

    The argmax of the float32 cross-correlation of the centred signals over lags within
    +-half of ``len(x2)``, minus ``len(x1)``.

    Parameters
    ----------
    x1, x2 : array_like, 1-D
        Signals.

    Returns
    -------
    numpy.int64
    """
    a = finite(x1, "x1")
    b = finite(x2, "x2")
    if a.ndim != 1 or b.ndim != 1:
        raise ParameterError(f"x1 and x2 must be 1-D, got shapes {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("a cannot be empty")
    if b.size == 0:
        raise ValueError("v cannot be empty")
    a = (a - a.mean()).astype(np.float32)
    b = (b - b.mean()).astype(np.float32)
    size = xcorr.fft_length(a.size, b.size)
    # The FFTs run in float64 on the float32 values: they only locate the peak, whose
    # neighbourhood pick_offset recomputes exactly.
    wide_a, wide_b = a.astype(np.float64), b.astype(np.float64)
    corr = np.fft.irfft(np.conj(np.fft.rfft(wide_a, size)) * np.fft.rfft(wide_b, size), size)
    norm = float(np.linalg.norm(wide_a) * np.linalg.norm(wide_b))
    return np.int64(xcorr.pick_offset(corr, a, b, norm))
