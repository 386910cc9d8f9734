"""Agreement tolerances, derived from the dtype: the one table tests and benchmarks read."""

import numpy as np

# Multiples of the dtype's resolution (float64: 1e-15, float32: 1e-6), relative to the scale
# named by each comparison (usually max |reference|). Chosen from the FFT error bound
# ~ eps * log2(n_fft) with head-room; float32 FFT libraries differ by a few 1e-7.
_FACTORS = {
    "stft": (1e6, 10),           # float64 1e-9, float32 1e-5 (of max |X|)
    "istft": (1e6, 10),          # round trip, of max |x|
    "spectrogram": (1e6, 10),
    # Mel features. mel_filters / melspectrogram / psf are relative to max |expected|; mfcc and
    # log_mel are absolute (pass scale=1): MFCCs reach ~500, so float32 keeps ~3e-5 at best.
    "mel_filters": (1e5, 1),      # float64 1e-10, float32 1e-6 (librosa's matched bit for bit)
    "melspectrogram": (1e5, 10),  # float64 1e-10, float32 1e-5
    "mfcc": (1e4, 100),           # float64 1e-11, float32 1e-4 (absolute)
    "log_mel": (1e4, 1000),       # float64 1e-11 dB, float32 1e-3 dB (absolute)
    "psf": (1e5, 10),             # float64 1e-10, float32 1e-5 (psf itself always computes in float64)
    # Griffin-Lim after 10 iterations, relative L2 of the signal: float32 rounding grows with
    # the iterations (3e-6 measured against librosa at momentum 0.99).
    "griffin_lim": (1e5, 100),   # float64 1e-10, float32 1e-4
    # fastspec.compat against fastspec.reference.seed (the seed computes in float64 whatever
    # the input): the STFT relative to max |X|, pretty_spectrogram absolute in log10 units.
    "compat_stft": (1e6, 10),       # float64 1e-9
    "compat_pretty": (1e6, 10),     # float64 1e-9 (absolute)
}


def tolerance(dtype, kind):
    """Return the relative tolerance for comparing a ``kind`` result in ``dtype``.

    Parameters
    ----------
    dtype : numpy dtype
        Precision of the computation (complex dtypes map to their real part).
    kind : str
        Name of the comparison, a key of the table.

    Returns
    -------
    float
    """
    real = np.finfo(np.dtype(dtype)).dtype
    f64, f32 = _FACTORS[kind]
    factor = f64 if real == np.float64 else f32
    return factor * float(np.finfo(real).resolution)
