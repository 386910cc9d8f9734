"""The seed notebook's functions with the same names, signatures, defaults, shapes and dtypes.

Replace the notebook's function definitions with ``from fastspec.compat import *`` and every cell
runs unchanged, many times faster: the frames go through cached FFTW plans, and the
spectrogram inversion's sequential overlap-add with its cross-correlation offset search runs as
one compiled loop. ``fastspec.reference.seed`` is the notebook's algorithm in plain NumPy; the
tests hold these functions to it. :func:`pretty_to_audio` (:mod:`.upgrade`) is the upgrade: the
notebook's pretty spectrogram back to audio far better and faster than its own inversion.

Modules: :mod:`.analysis` (filtering, ``overlap``, ``stft``, ``pretty_spectrogram``),
:mod:`.inversion` (``invert_spectrogram``, ``iterate_invert_spectrogram``,
``invert_pretty_spectrogram``, ``xcorr_offset``), :mod:`.mel` (the mel functions) and
:mod:`.upgrade`; ``from fastspec.compat import *`` gives the notebook's names.

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
- NumPy 1's promotion, which the notebook was written for, where NumPy 2 changed the result: the
  iterations' regulariser ``np.max(X_s) / 1e8`` is float64. Under NumPy 2 the seed's own code
  keeps a float16 ``X_s`` (the mel round trip's) in float16: 1e8 overflows to inf, the regulariser
  is 0, silent frames give NaN and the rest of the inversion differs; here it is as the notebook's
  users saw it.
- The cross-correlation lag is the first maximum of the exactly summed float32 correlations;
  the seed's ``np.convolve`` sums in float32 in OpenBLAS's order. The two differ only where two
  lags tie to within one float32 ulp; a long inversion can meet such a tie (measured: none on
  the notebook's 4.55 s workload, one in 10 iterations over 60 s), after which some later
  frames settle on other lags (60 s: 5% of the last two inversions' frames).
"""

from .analysis import butter_bandpass, butter_bandpass_filter, overlap, pretty_spectrogram, stft
from .inversion import invert_pretty_spectrogram, invert_spectrogram, iterate_invert_spectrogram, xcorr_offset
from .mel import create_mel_filter, get_filterbanks, hz2mel, make_mel, mel2hz, mel_to_spectrogram
from .upgrade import pretty_spectral_convergence, pretty_to_audio  # noqa: F401 -- public, beside the notebook names

__all__ = [
    "butter_bandpass", "butter_bandpass_filter", "create_mel_filter", "get_filterbanks", "hz2mel",
    "invert_pretty_spectrogram", "invert_spectrogram", "iterate_invert_spectrogram", "make_mel",
    "mel2hz", "mel_to_spectrogram", "overlap", "pretty_spectrogram", "stft", "xcorr_offset",
]
"""The notebook's names (``pretty_to_audio`` and ``pretty_spectral_convergence`` are imported by name)."""
