"""The plain-NumPy oracle: slow, readable implementations that every fast path is checked against.

Nothing here imports fastspec's kernels or plan cache.
"""

from .stft import istft, stft
from .tolerance import tolerance

__all__ = ["istft", "stft", "tolerance"]
