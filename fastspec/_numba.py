"""numba options in one place.

Serial kernels are compiled ``nogil=True, cache=True`` so that worker threads run them
concurrently and a fresh process loads them from disk, with NumPy's error model. fastmath stays off: every kernel is
checked for agreement with the plain reference, and reassociation would break it.
"""

import numba

# fastspec parallelises by running blocks of frames on its own threads, each calling serial
# nogil kernels and a single-threaded FFTW plan. Should a parallel numba kernel ever run beside
# FFTW threads, workqueue has no spinning idle threads (OpenMP's spin made the pair 4x slower
# on 2 cores, measured at n_fft 512).
numba.config.THREADING_LAYER = "workqueue"

# error_model="numpy": division follows IEEE (inf/nan, no zero check). Numba's default Python
# error model checks every division and may raise, which stops LLVM vectorising the loop: the
# Griffin-Lim projection took 51 us per 32 x 513 block against 10 us (measured here). Kernels
# never validate input anyway; the public layer does.
serial = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
