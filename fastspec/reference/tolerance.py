"""Agreement tolerances, derived from the dtype: the one table tests and benchmarks read."""

import numpy as np

# Multiples of the dtype's resolution (float64: 1e-15, float32: 1e-6), relative to the scale
# named by each comparison (usually max |reference|). Chosen from the FFT error bound
# ~ eps * log2(n_fft) with head-room; float32 FFT libraries differ by a few 1e-7.
_FACTORS = {
    "stft": (1e6, 10),           # float64 1e-9, float32 1e-5 (of max |X|)
    "istft": (1e6, 10),          # round trip, of max |x|
    "spectrogram": (1e6, 10),
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
