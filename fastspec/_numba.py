"""numba options in one place.

Serial kernels are compiled ``nogil=True, cache=True`` so that worker threads run them
concurrently and a fresh process loads them from disk. fastmath stays off: every kernel is
checked for agreement with the plain reference, and reassociation would break it.
"""

import numba

# fastspec parallelises by running blocks of frames on its own threads, each calling serial
# nogil kernels and a single-threaded FFTW plan. Should a parallel numba kernel ever run beside
# FFTW threads, workqueue has no spinning idle threads (OpenMP's spin made the pair 4x slower
# on 2 cores, measured at n_fft 512).
numba.config.THREADING_LAYER = "workqueue"

serial = numba.njit(nogil=True, cache=True, fastmath=False)
