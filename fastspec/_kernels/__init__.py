"""numba kernels: plain loops over preallocated contiguous arrays, writing into ``out``.

Kernels never validate user input and never allocate user-sized outputs; the public modules
do both. One file per kind of work.
"""
