"""numba options in one place.

Serial kernels are compiled ``nogil=True, cache=True`` so that worker threads run them
concurrently and a fresh process loads them from disk, with NumPy's error model. fastmath stays off: every kernel is
checked for agreement with the plain reference, and reassociation would break it.
"""

import numba
import numpy.ma  # noqa: F401 -- see below

# numba's dispatch of an array argument checks for numpy.ma, importing it on the first call. Done
# here, at import, so that no fastspec call imports a module: a fork() while another thread is
# inside an import can leave the child waiting forever on CPython's import lock.

# fastspec parallelises by running blocks of frames on its own threads (fastspec._engine), each
# calling serial nogil kernels and a single-threaded FFTW plan; it has no parallel numba kernel, so
# it leaves numba's threading layer, and everything else about the host's numba, alone.

# error_model="numpy": division follows IEEE (inf/nan, no zero check). Numba's default Python
# error model checks every division and may raise, which stops LLVM vectorising the loop: the
# Griffin-Lim projection took 51 us per 32 x 513 block against 10 us (measured here). Kernels
# never validate input anyway; the public layer does.
serial = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")
