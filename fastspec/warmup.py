"""Paying the first call's costs ahead of it: :func:`warm_up`."""

import threading

import numpy as np

from . import _engine
from ._validate import ParameterError, positive_int

_KINDS = ("stft", "istft", "melspectrogram", "mfcc", "griffin_lim")


def warm_up(*, n_fft=(512, 2048), dtype=np.float32, kinds=("stft", "istft", "melspectrogram", "mfcc"),
            background=False):
    """Load the kernels and make the FFT plans that first calls need, before they are made.

    A fresh process pays numba's start-up (0.6-0.7 s on the 2-core test machine: importing numba
    and its first dispatch) and one FFT planning per shape at its first call. ``warm_up()`` pays
    them now: in a data loader's parent before it forks its workers, every worker starts with
    the kernels loaded; with ``background=True`` a notebook goes on while they load.

    Parameters
    ----------
    n_fft : int or sequence of int, default (512, 2048)
        FFT lengths to plan (one short signal of each is transformed).
    dtype : numpy dtype, default numpy.float32
        float32 or float64: the precision the calls will use.
    kinds : sequence of str, default ("stft", "istft", "melspectrogram", "mfcc")
        Which calls to prepare: any of ``"stft"``, ``"istft"``, ``"melspectrogram"``, ``"mfcc"``,
        ``"griffin_lim"``.
    background : bool, default False
        Run on a daemon thread and return it (``thread.join()`` waits). A ``fork()`` meanwhile
        waits for a kernel load or compile in progress, so children never inherit one half done.

    Returns
    -------
    threading.Thread or None
        The thread, with ``background=True``.
    """
    sizes = (n_fft,) if np.ndim(n_fft) == 0 else tuple(n_fft)
    sizes = tuple(positive_int(n, "n_fft") for n in sizes)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ParameterError(f"dtype={dtype!r} must be float32 or float64")
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown:
        raise ParameterError(f"kinds has {unknown!r}; choose from {', '.join(_KINDS)}")
    if not background:
        _run(sizes, np.dtype(dtype), tuple(kinds))
        return None
    thread = threading.Thread(target=_run, args=(sizes, np.dtype(dtype), tuple(kinds)), name="fastspec-warm-up",
                              daemon=True)
    thread.start()
    return thread


def _run(sizes, dtype, kinds):
    import fastspec

    for n in sizes:
        hop = max(1, n // 4)
        # A full block of frames and a shorter rest: the two plans a long signal's call uses.
        y = np.zeros((_engine.block_size(n, dtype.itemsize) + 3) * hop + n, dtype=dtype)
        y[n] = 1.0
        if "stft" in kinds or "istft" in kinds or "griffin_lim" in kinds:
            X = fastspec.stft(y, n_fft=n, hop_length=hop)
            if "istft" in kinds:
                fastspec.istft(X, hop_length=hop, length=y.size)
            if "griffin_lim" in kinds:
                fastspec.griffin_lim(np.abs(X), hop_length=hop, n_iter=1)
        sr = 16000 if n <= 512 else 22050
        n_mels = min(40, n // 4)
        if "melspectrogram" in kinds:
            fastspec.melspectrogram(y=y, sr=sr, n_fft=n, hop_length=hop, n_mels=n_mels)
        if "mfcc" in kinds:
            fastspec.mfcc(y=y, sr=sr, n_fft=n, hop_length=hop, n_mels=n_mels, n_mfcc=min(13, n_mels))
