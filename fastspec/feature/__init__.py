"""Mel spectrograms, MFCCs and deltas, with the numbers of the library you name.

Each FFT block goes through one fused step (:func:`fastspec._kernels.filterbank.power_filterbank`):
``|X|**power`` of the block and the sparse mel filterbank, so no power spectrogram is ever
stored; the floor and logarithm then run over the (small) mel output, and MFCCs add one pass
over the log-mel rows: the ``top_db`` clip and the DCT, with the lifter folded into the DCT
basis.

Modules: :mod:`.presets` (the defaults below, ``PRESET`` resolution, the cache of built
transforms), :mod:`.mel`, :mod:`.mfcc` and :mod:`.delta`.

Presets
-------
``preset`` picks the defaults of every parameter left unset, and the conventions behind them:

=============  =========================  =========================  ==============================
parameter      ``"librosa"`` (default)    ``"torchaudio"``           ``"psf"``
=============  =========================  =========================  ==============================
sr             22050                      16000                      16000
n_fft          2048                       400                        512
win_length     n_fft                      n_fft                      round(0.025 sr), may > n_fft
hop_length     512                        win_length // 2            round(0.01 sr)
window         hann (periodic)            hann (periodic)            boxcar (rectangular)
framing        centred, "constant" pad    centred, "reflect" pad     from 0, last frame zero-padded
pre-emphasis   0                          0                          0.97
power          2                          2                          2, times 1 / n_fft
n_mels         128                        128                        26
mel filters    Slaney, norm "slaney"      HTK, no norm               HTK, snapped to bins, peak 1
log (MFCC)     dB, amin 1e-10, top_db 80  dB, amin 1e-10, top_db 80  ln, zeros -> float64 eps
n_mfcc         20                         40                         13
lifter         0 (librosa's formula)      0                          22 (psf's formula)
energy         no                         no                         c0 = ln(frame energy)
=============  =========================  =========================  ==============================

All presets use the DCT-II with ``norm="ortho"`` and the ``(..., n_features, n_frames)`` layout
(python_speech_features returns ``(n_frames, n_features)``: take ``.T``, a C-contiguous view).
``top_db`` clips against the maximum the named library uses: librosa's ``power_to_db`` the
whole array, torchaudio's ``AmplitudeToDB`` each group of the last three axes.
"""

from .delta import delta
from .mel import MelSpectrogram, melspectrogram
from .mfcc import MFCC, mfcc
from .presets import PRESET, PRESETS

__all__ = ["MFCC", "PRESET", "PRESETS", "MelSpectrogram", "delta", "melspectrogram", "mfcc"]
