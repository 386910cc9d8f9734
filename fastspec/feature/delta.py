"""Deltas of features: :func:`delta`, librosa's Savitzky-Golay derivative."""

import numpy as np

from .._validate import ParameterError


def delta(data, *, width=9, order=1, axis=-1, mode="interp"):
    """Local derivative estimates (Savitzky-Golay), equal to ``librosa.feature.delta``.

    Parameters
    ----------
    data : numpy.ndarray
        Features, e.g. MFCCs ``(..., n_mfcc, n_frames)``.
    width : int
        Odd window length >= 3 (<= ``data.shape[axis]`` when ``mode="interp"``).
    order : int
        Derivative order, >= 1.
    axis : int
        Axis along which to differentiate (frames).
    mode : {"interp", "mirror", "constant", "nearest", "wrap"}
        Edge handling, as ``scipy.signal.savgol_filter``.

    Returns
    -------
    numpy.ndarray
        Same shape; float32 stays float32.
    """
    import scipy.signal

    data = np.atleast_1d(np.asarray(data))
    if data.dtype.kind not in "fc":
        data = data.astype(np.float64)
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, np.integer)) or width < 3 or width % 2 != 1:
        raise ParameterError(f"width={width!r} must be an odd integer >= 3")
    if isinstance(order, (bool, np.bool_)) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ParameterError(f"order={order!r} must be a positive integer")
    if not -data.ndim <= axis < data.ndim:
        raise ParameterError(f"axis={axis} is out of range for data with {data.ndim} dimensions")
    if mode == "interp" and width > data.shape[axis]:
        raise ParameterError(f"width={width} cannot exceed data.shape[axis]={data.shape[axis]} when mode='interp'")
    return scipy.signal.savgol_filter(data, width, deriv=order, polyorder=order, axis=axis, mode=mode)
