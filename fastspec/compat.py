"""The seed notebook's functions with the same names, signatures, defaults, shapes and dtypes.

Replace the notebook's function definitions with ``from fastspec.compat import *`` and every cell
runs unchanged, many times faster: the frames go through cached FFTW plans, and the
spectrogram inversion's sequential overlap-add with its cross-correlation offset search runs as
one compiled loop. ``fastspec.reference.seed`` is the notebook's algorithm in plain NumPy; the
tests hold these functions to it.

Faithful quirks kept on purpose: ``overlap`` always appends 1 to ``window_size`` zeros; odd
windows raise ``ValueError``; the symmetric Hamming window ``0.54 - 0.46 cos(2 pi n / (N - 1))``;
one-sided spectra stop at ``fftsize // 2`` (no Nyquist bin); the inversion reverses each frame
and reads it from ``size // 2 - 1``, searches lags within +-half the overlap in float32 after
removing the means, and starts from zero phase on the first iteration only; the mel functions
return float16, zoom the time axis with ``scipy.ndimage.zoom``'s cubic spline, trim one column at
each end, and subtract 4. Sizes and steps may be integral floats (the notebook passes
``fft_size / 16``, which the NumPy of its day accepted).

Differences:

- ``stft(mean_normalize=True)`` in the seed subtracts the mean from the caller's array in place;
  here the caller's array is never modified (the results are the same).
- NaN or Inf input raises :class:`fastspec.ParameterError`, and so does input the fast path does
  not cover: complex signals for ``stft`` / ``pretty_spectrogram``, complex magnitudes for
  ``iterate_invert_spectrogram`` / ``invert_pretty_spectrogram``, arrays of the wrong rank.
- The cross-correlation lag is the first maximum of the exactly summed float32 correlations;
  the seed's ``np.convolve`` sums in float32 in OpenBLAS's order. The two differ only where two
  lags tie to within one float32 ulp; a long inversion can meet such a tie (measured: none on
  the notebook's 4.55 s workload, one in 10 iterations over 60 s), after which some later
  frames settle on other lags (60 s: 5% of the last two inversions' frames).
"""

import operator
import sys

import numpy as np

from . import _config, _engine
from ._fft import aligned
from ._kernels import seed as kernels
from ._kernels import xcorr
from ._validate import ParameterError
from .filters import seed_hamming

__all__ = [
    "butter_bandpass", "butter_bandpass_filter", "create_mel_filter", "get_filterbanks", "hz2mel",
    "invert_pretty_spectrogram", "invert_spectrogram", "iterate_invert_spectrogram", "make_mel",
    "mel2hz", "mel_to_spectrogram", "overlap", "pretty_spectrogram", "stft", "xcorr_offset",
]


_LARGE_STEP_WARNING = (
    "WARNING: Large step size >50\\% detected! This code works best with high overlap - try "
    "with 75% or greater"
)


def _blocks(n_frames, n_fft):
    """``(start, count)`` blocks of the engine's size for float64 covering ``n_frames``; the last may be shorter."""
    block = _engine.block_size(n_fft, 8)
    return [(start, min(block, n_frames - start)) for start in range(0, n_frames, block)]


# ----- input checks --------------------------------------------------------------------------
def _as_index(value):
    """Return ``value`` as an int; integral floats pass, other values raise ``TypeError``.

    The notebook passes ``fft_size / 16``; NumPy raises ``TypeError`` for other float sizes.
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return operator.index(value)


def _all_finite(a):
    # One summing pass turns any NaN/Inf into NaN/Inf; only a sum that overflowed on large
    # finite values needs the element-wise check.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(a)
    return bool(np.isfinite(total)) or bool(np.isfinite(a).all())


def _finite(a, name):
    """``a`` as an array; NaN or Inf raise ParameterError (the seed would return NaN garbage)."""
    a = np.asarray(a)
    if a.dtype.kind in "fc" and a.size and not _all_finite(a):
        raise ParameterError(f"{name} contains NaN or Inf values")
    return a


def _signal(X, name):
    """A finite, real, 1-D signal (the seed's ``overlap`` fails on other shapes)."""
    x = _finite(X, name)
    if x.ndim != 1:
        raise ParameterError(f"{name} must be a 1-D signal, got shape {x.shape}")
    if x.dtype.kind == "c":
        raise ParameterError(f"{name} must be real-valued, got dtype {x.dtype}")
    if x.dtype.kind not in "biuf":
        raise ParameterError(f"{name} must be numeric, got dtype {x.dtype}")
    return x


def _n_windows(n_samples, window_size, window_step):
    """Frames ``overlap`` makes of ``n_samples``, raising what the seed raises for bad sizes."""
    if window_size % 2 != 0:
        raise ValueError("Window size must be even!")
    padded = n_samples + window_size - n_samples % window_size
    n_windows = (padded - window_size) // window_step
    if padded < n_samples or n_windows < 0:
        raise ValueError("negative dimensions are not allowed")
    return n_windows


# ----- filtering ------------------------------------------------------------------------------
def butter_bandpass(lowcut, highcut, fs, order=5):
    """Butterworth band-pass filter coefficients.

    Parameters
    ----------
    lowcut, highcut : float
        Band edges in Hz.
    fs : float
        Sample rate in Hz.
    order : int
        Filter order.

    Returns
    -------
    b, a : numpy.ndarray
        Numerator and denominator of ``scipy.signal.butter(order, [low, high], btype="band")``.
    """
    from scipy.signal import butter  # imported on use: scipy.signal costs ~0.1 s to import

    nyquist = 0.5 * fs
    return butter(order, [lowcut / nyquist, highcut / nyquist], btype="band")


def butter_bandpass_filter(data, lowcut, highcut, fs, order=5):
    """Band-pass filter ``data`` with :func:`butter_bandpass` (``scipy.signal.lfilter``).

    Parameters
    ----------
    data : array_like
        Signal (filtered along the last axis).
    lowcut, highcut : float
        Band edges in Hz.
    fs : float
        Sample rate in Hz.
    order : int
        Filter order.

    Returns
    -------
    numpy.ndarray
        The filtered signal, float64 for integer input.
    """
    data = _finite(data, "data")
    from scipy.signal import lfilter

    b, a = butter_bandpass(lowcut, highcut, fs, order=order)
    return lfilter(b, a, data)


# ----- analysis -------------------------------------------------------------------------------
def overlap(X, window_size, window_step):
    """Overlapping frames of ``X`` after appending ``window_size - len(X) % window_size`` zeros.

    The padding is always between 1 and ``window_size`` zeros, so a signal whose length is a
    multiple of ``window_size`` still gains a whole window of zeros.

    Parameters
    ----------
    X : array_like, shape (n_samples,)
        Signal.
    window_size : int
        Frame length; must be even.
    window_step : int
        Hop between frames.

    Returns
    -------
    numpy.ndarray, shape (n_windows, window_size)
        ``n_windows = (n_padded - window_size) // window_step``; float64 (complex128 for complex
        input), as ``np.hstack`` with float64 zeros gives.

    Raises
    ------
    ValueError
        If ``window_size`` is odd.
    """
    window_size = _as_index(window_size)
    window_step = _as_index(window_step)
    x = _finite(X, "X")
    if x.ndim != 1:
        raise ParameterError(f"X must be a 1-D signal, got shape {x.shape}")
    n_windows = _n_windows(x.shape[0], window_size, window_step)
    dtype = np.result_type(x.dtype, np.float64)
    padded = np.zeros(x.shape[0] + window_size - x.shape[0] % window_size, dtype=dtype)
    padded[:x.shape[0]] = x
    view = np.lib.stride_tricks.sliding_window_view(padded, window_size)
    return np.array(view[:n_windows * window_step:window_step] if n_windows else view[:0])


def _centred(X, mean_normalize, name):
    """The seed's ``X -= X.mean()`` on a copy (same rounding, same errors for integer input)."""
    x = _signal(X, name)
    if mean_normalize:
        x = np.array(x, copy=True)
        x -= x.mean()
    return np.ascontiguousarray(x, dtype=np.float64)


def _forward(x, fftsize, step, n_frames, post):
    """Frame ``x`` (Hamming, zero-padded), r2c-transform in blocks, ``post(spec, start, count)``."""
    window = seed_hamming(fftsize)
    with _engine.PlanSet(_config.current()) as plans:
        for start, count in _blocks(n_frames, fftsize):
            plan = plans.get("r2c", fftsize, count, np.float64)
            kernels.frame_centred(x, 0.0, start, step, window, plan.input)
            post(plan.execute(), start, count)


def stft(X, fftsize=128, step=65, mean_normalize=True, real=False, compute_onesided=True):
    """Short-time Fourier transform of a real 1-D signal, frames in rows.

    Parameters
    ----------
    X : array_like, shape (n_samples,)
        Real signal. Never modified (the seed subtracts the mean in place).
    fftsize : int
        Frame and FFT length (even).
    step : int
        Hop between frames.
    mean_normalize : bool
        Subtract the signal's mean first.
    real : bool
        Use a real FFT and drop its last bin.
    compute_onesided : bool
        Keep the first ``fftsize // 2`` bins (no Nyquist bin).

    Returns
    -------
    numpy.ndarray, complex128, shape (n_frames, n_bins)
        ``n_bins`` is ``fftsize`` when neither ``real`` nor ``compute_onesided``, else
        ``fftsize // 2``.
    """
    fftsize = _as_index(fftsize)
    step = _as_index(step)
    x = _centred(X, mean_normalize, "X")
    n_frames = _n_windows(x.shape[0], fftsize, step)
    n_bins = fftsize if not (real or compute_onesided) else fftsize // 2
    out = np.empty((n_frames, n_bins), dtype=np.complex128)
    full = n_bins == fftsize

    def post(spec, start, count):
        rows = out[start:start + count]
        if full:
            kernels.two_sided(spec, rows)
        else:
            kernels.copy_bins(spec, rows)

    _forward(x, fftsize, step, n_frames, post)
    return out


def pretty_spectrogram(d, log=True, thresh=5, fft_size=512, step_size=64):
    """Magnitude spectrogram; with ``log``, normalised to a maximum of 1, log10, floored.

    Parameters
    ----------
    d : array_like, shape (n_samples,)
        Real signal (never modified).
    log : bool
        ``log10(|S| / max|S|)`` floored at ``-thresh`` when ``log == True``; otherwise ``|S|``
        floored at ``thresh``.
    thresh : float
        Floor, see ``log``.
    fft_size : int
        Frame and FFT length (even).
    step_size : int
        Hop between frames.

    Returns
    -------
    numpy.ndarray, float64, shape (n_frames, fft_size // 2)
    """
    fft_size = _as_index(fft_size)
    step_size = _as_index(step_size)
    x = _centred(d, True, "d")
    n_frames = _n_windows(x.shape[0], fft_size, step_size)
    out = np.empty((n_frames, fft_size // 2))
    take_log = log == True  # noqa: E712 -- the seed's test: a truthy value other than True goes linear
    peaks = []

    def post(spec, start, count):
        rows = out[start:start + count]
        if take_log:
            # log10 |X| = ln(|X|^2) / (2 ln 10), the log taken per block while it is in cache
            # (NumPy's ln, 10% faster than its log10); normalising by the peak becomes a
            # subtraction once the peak is known.
            peaks.append(np.int64(kernels.power_rows(spec, rows)).view(np.float64))
            with np.errstate(divide="ignore"):
                np.log(rows, out=rows)
        else:
            kernels.magnitude_rows(spec, rows)

    _forward(x, fft_size, step_size, n_frames, post)
    if take_log:
        if out.size == 0:
            out.max()  # the seed's normalisation raises on an empty spectrogram
        peak = max(peaks)
        if peak == 0:
            out[...] = np.nan  # silence: the seed's 0 / 0
        else:
            kernels.log_finish(out, np.log(peak), float(thresh))
    else:
        kernels.raise_floor(out, float(thresh))
    return out


# ----- inversion ------------------------------------------------------------------------------
def _spectrogram_2d(X_s, name):
    X = _finite(X_s, name)
    if X.ndim != 2:
        raise ParameterError(f"{name} must be 2-D (n_frames, n_bins), got shape {X.shape}")
    if X.dtype.kind not in "biufc":
        raise ParameterError(f"{name} must be numeric, got dtype {X.dtype}")
    return X


def _single_precision(dtype):
    """Whether the seed's per-frame ``np.fft.ifft`` runs in complex64 for this input dtype."""
    return np.dtype(dtype) in (np.float16, np.float32, np.complex64)


def _kernel_dtype(X):
    """Values of ``X`` in a dtype the kernels take (float16 widens exactly to float32)."""
    if X.dtype == np.float16:
        return X.astype(np.float32)
    if X.dtype.kind in "biu":
        return X.astype(np.float64)
    return np.ascontiguousarray(X)


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
        sys.stdout.write((_LARGE_STEP_WARNING + "\n") * (n_frames - 1))
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
        for start, count in _blocks(n_frames, n_fft):
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
    step = _as_index(step)
    X = _spectrogram_2d(X_s, "X_s")
    n_frames, n_fft = X.shape
    if _single_precision(X.dtype):
        def rows(start, count):
            block = X[start:start + count]
            return (block.real if set_zero_phase else block).astype(np.complex64)

        frames_of = _complex64_frames(rows)
    else:
        values = _kernel_dtype(X)
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
    fftsize = _as_index(fftsize)
    step = _as_index(step)
    n_iter = int(n_iter)
    size = n_fft // 2
    n_half = n_fft // 2 + 1
    length = n_frames * step + size
    window = seed_hamming(size)
    norm = _window_norm(window, n_frames, step, length)
    est_step = step
    if n_iter > 0:
        # Checked before any work, where the seed fails after its first inversion.
        n_est = _n_windows(length, fftsize, step)
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
        for start, count in _blocks(n_frames, n_fft):
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
    """Return the seed's ``np.max(X_s) / 1e8``, computed in ``X_s``'s dtype.

    For float16, 1e8 overflows to inf and the regulariser is 0 (the seed warns; same result).
    """
    with np.errstate(over="ignore"):
        return float(np.max(X) / 1e8)


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
    values = _kernel_dtype(X)

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
        if not _all_finite(X):
            raise ParameterError("10 ** X_s overflows: X_s holds log10 magnitudes far too large")
    values = _kernel_dtype(X)

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
    a = _finite(x1, "x1")
    b = _finite(x2, "x2")
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


# ----- mel ------------------------------------------------------------------------------------
def _spans(weights):
    """Per row, the half-open span of non-zero entries (empty spans are ``(0, 0)``)."""
    nonzero = weights != 0
    any_nz = nonzero.any(axis=1)
    lo = np.where(any_nz, nonzero.argmax(axis=1), 0)
    hi = np.where(any_nz, weights.shape[1] - nonzero[:, ::-1].argmax(axis=1), 0)
    return lo.astype(np.int64), hi.astype(np.int64)


def _zoom_time(rows32, factor):
    """``scipy.ndimage.zoom(rows32, [1, factor])`` (cubic spline, constant mode), float32."""
    n = rows32.shape[1]
    n_out = int(round(n * factor))
    out = np.empty((rows32.shape[0], n_out), dtype=np.float32)
    zoom = (n - 1) / (n_out - 1) if n_out > 1 else 1.0
    kernels.zoom_rows(rows32, zoom, np.empty(n), out)
    return out


def make_mel(spectrogram, mel_filter, shorten_factor=1):
    """Mel spectrogram with the time axis shortened by ``shorten_factor``.

    Parameters
    ----------
    spectrogram : array_like, shape (n_frames, n_bins)
        E.g. a :func:`pretty_spectrogram`.
    mel_filter : array_like, shape (n_bins, n_mel)
        The first result of :func:`create_mel_filter`.
    shorten_factor : float
        Time-axis zoom is ``1 / shorten_factor`` (cubic spline), then one column is trimmed at
        each end.

    Returns
    -------
    numpy.ndarray, float16, shape (n_mel, round(n_frames / shorten_factor) - 2)
    """
    S = _finite(spectrogram, "spectrogram")
    F = _finite(mel_filter, "mel_filter")
    if S.ndim != 2 or F.ndim != 2 or F.shape[0] != S.shape[1]:
        raise ValueError(f"shapes {np.shape(np.transpose(F))} and {np.shape(np.transpose(S))} not aligned")
    weights = np.ascontiguousarray(np.transpose(F), dtype=np.float64)
    lo, hi = _spans(weights)
    mel = np.empty((weights.shape[0], S.shape[0]), dtype=np.float32)
    kernels.sparse_rows(weights, lo, hi, _kernel_dtype(S), mel)
    return _zoom_time(mel, 1.0 / shorten_factor).astype(np.float16)[:, 1:-1]


def mel_to_spectrogram(mel_spec, mel_inversion_filter, spec_thresh, shorten_factor):
    """Spectrogram for :func:`invert_pretty_spectrogram` from a :func:`make_mel` result.

    Parameters
    ----------
    mel_spec : array_like, shape (n_mel, n_frames)
        Mel spectrogram (float16 from :func:`make_mel`).
    mel_inversion_filter : array_like, shape (n_mel, n_bins)
        The second result of :func:`create_mel_filter`.
    spec_thresh : float
        Added to ``mel_spec`` first (the floor of the log spectrogram).
    shorten_factor : float
        Time-axis zoom (cubic spline).

    Returns
    -------
    numpy.ndarray, float16, shape (n_bins, round(n_frames * shorten_factor))
        Transpose it for :func:`invert_pretty_spectrogram`.
    """
    M = _finite(mel_spec, "mel_spec")
    F = _finite(mel_inversion_filter, "mel_inversion_filter")
    if M.ndim != 2 or F.ndim != 2 or F.shape[0] != M.shape[0]:
        raise ValueError(f"shapes {np.shape(np.transpose(M))} and {np.shape(F)} not aligned")
    shifted = M + spec_thresh  # in mel_spec's dtype, as the seed rounds it
    weights = np.ascontiguousarray(np.transpose(F), dtype=np.float64)
    lo, hi = _spans(weights)
    spec = np.empty((weights.shape[0], shifted.shape[1]), dtype=np.float32)
    kernels.sparse_rows(weights, lo, hi, np.ascontiguousarray(np.transpose(_kernel_dtype(shifted))), spec)
    out = _zoom_time(spec, shorten_factor).astype(np.float16)
    out -= np.float16(4)
    return out


def hz2mel(hz):
    """Hertz to mels: ``2595 log10(1 + hz / 700)``.

    Parameters
    ----------
    hz : float or array_like

    Returns
    -------
    float or numpy.ndarray
    """
    return 2595 * np.log10(1 + hz / 700.0)


def mel2hz(mel):
    """Mels to Hertz: ``700 (10 ** (mel / 2595) - 1)``.

    Parameters
    ----------
    mel : float or array_like

    Returns
    -------
    float or numpy.ndarray
    """
    return 700 * (10 ** (mel / 2595.0) - 1)


def _ranges(starts, stops):
    """Row ``j`` and column ``i`` of every ``i in range(starts[j], stops[j])``, row by row."""
    counts = np.maximum(stops - starts, 0)
    rows = np.repeat(np.arange(counts.size), counts)
    cols = np.arange(counts.sum()) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return rows, cols


def get_filterbanks(nfilt=20, nfft=512, samplerate=16000, lowfreq=0, highfreq=None):
    """Triangular mel filterbank (python_speech_features' construction, ``nfft // 2`` bins).

    Parameters
    ----------
    nfilt : int
        Number of filters.
    nfft : int
        FFT size.
    samplerate : float
        Sample rate in Hz.
    lowfreq : float
        Lowest band edge in Hz.
    highfreq : float, optional
        Highest band edge in Hz, default ``samplerate / 2``.

    Returns
    -------
    numpy.ndarray, float64, shape (nfilt, nfft // 2)

    Raises
    ------
    AssertionError
        If ``highfreq > samplerate / 2`` (the seed's assert, kept under ``python -O``).
    """
    highfreq = highfreq or samplerate / 2
    if highfreq > samplerate / 2:
        raise AssertionError("highfreq is greater than samplerate/2")
    melpoints = np.linspace(hz2mel(lowfreq), hz2mel(highfreq), nfilt + 2)
    bins = np.floor((nfft + 1) * mel2hz(melpoints) / samplerate)
    fbank = np.zeros([nfilt, nfft // 2])
    edges = np.array([int(b) for b in bins])  # int() of each edge, as the seed's range() bounds
    # The seed's two loops per filter, for all filters at once: fancy indexing wraps negative
    # bins as its indexing does, and the same expressions give the same values.
    rows, cols = _ranges(edges[:-2], edges[1:-1])
    fbank[rows, cols] = (cols - bins[rows]) / (bins[rows + 1] - bins[rows])
    rows, cols = _ranges(edges[1:-1], edges[2:])
    fbank[rows, cols] = (bins[rows + 2] - cols) / (bins[rows + 2] - bins[rows + 1])
    return fbank


def create_mel_filter(fft_size, n_freq_components=64, start_freq=300, end_freq=8000, samplerate=44100):
    """The mel filter and its inversion filter.

    Parameters
    ----------
    fft_size : int
        FFT size.
    n_freq_components : int
        Number of mel bands.
    start_freq, end_freq : float
        Band edges in Hz.
    samplerate : float
        Sample rate in Hz.

    Returns
    -------
    mel_filter : numpy.ndarray, shape (fft_size // 2, n_freq_components)
        Filters in columns, each normalised to unit sum (for :func:`make_mel`).
    mel_inversion_filter : numpy.ndarray, shape (n_freq_components, fft_size // 2)
        The raw filters in rows (for :func:`mel_to_spectrogram`).
    """
    mel_inversion_filter = get_filterbanks(
        nfilt=n_freq_components, nfft=fft_size, samplerate=samplerate, lowfreq=start_freq, highfreq=end_freq
    )
    mel_filter = mel_inversion_filter.T / mel_inversion_filter.sum(axis=1)
    return mel_filter, mel_inversion_filter
