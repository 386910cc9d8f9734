"""Spectral peak picking for tuning estimation: librosa's ``piptrack`` as one pass, candidates only.

librosa computes dense ``(n_freq, n_frames)`` pitch and magnitude arrays (a gradient, a parabolic
stencil, a thresholded local-maximum mask) and then keeps the few peaks. This visits each frame
once and writes only the peaks, with librosa's arithmetic in librosa's precisions (numba's scalar
promotion equals the stencil's: ``2 * x`` of a float32 is float64), so the values are identical.
"""

from .._numba import serial


@serial
def peak_candidates(S, in_range, threshold, sr, n_fft, pitches, mags):
    """Peaks of magnitude spectrogram ``S`` (``(n_freq, n_frames)``, ``n_freq >= 3``); return their count.

    A peak is a bin of ``in_range`` that is a local maximum (greater than the bin below, not less
    than the one above) of ``S`` with the bins at or below ``threshold * max(frame)`` zeroed. Its
    pitch is ``(k + shift) * sr / n_fft`` (``shift`` the parabolic-interpolation offset, 0 at
    both ends) and its magnitude ``S + 0.5 * gradient * shift``. ``threshold`` is of ``S``'s dtype.
    """
    n_freq, n_frames = S.shape
    shift_cell = pitches[:1].copy()  # rounds the stencil's float64 shift to S's dtype, as librosa stores it
    half = mags[:1].copy()
    half[0] = 0.5
    count = 0
    for t in range(n_frames):
        column = S[:, t]
        peak = column[0]
        for k in range(1, n_freq):
            if column[k] > peak:
                peak = column[k]
        ref = threshold * peak
        below = column[0] if column[0] > ref else 0 * column[0]
        here = column[1] if column[1] > ref else 0 * column[1]
        for k in range(1, n_freq):
            above = here
            if k + 1 < n_freq:
                above = column[k + 1] if column[k + 1] > ref else 0 * column[k + 1]
            if in_range[k] and here > below and here >= above:
                if k + 1 < n_freq:
                    a = column[k + 1] + column[k - 1] - 2 * column[k]
                    b = (column[k + 1] - column[k - 1]) / 2
                    shift_cell[0] = 0 if abs(b) >= abs(a) else -b / a
                    gradient = (column[k + 1] - column[k - 1]) * half[0]  # numpy's central difference
                else:
                    shift_cell[0] = 0
                    gradient = column[k] - column[k - 1]  # its one-sided end
                shift = shift_cell[0]
                pitches[count] = (k + shift) * sr / n_fft
                mags[count] = column[k] + half[0] * gradient * shift
                count += 1
            below = here
            here = above
    return count
