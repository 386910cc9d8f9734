"""Spectrogram pictures with matplotlib (headless: the Agg backend, PNG files)."""

import numpy as np

from . import _validate


def save_spectrogram(S_db, path, *, sr, hop_length, y_axis="hz", fmin=0.0, fmax=None, title=None,
                     cbar_label="dB", figsize=(10, 4), dpi=100):
    """Save a (dB-scaled) spectrogram as a PNG with time in seconds, frequency and a colour bar.

    Parameters
    ----------
    S_db : numpy.ndarray, shape (n_bins, n_frames)
        Values to show, usually decibels.
    path : str or os.PathLike
        Output PNG path.
    sr : int
        Sample rate of the analysed signal.
    hop_length : int
        Samples between frames.
    y_axis : {"hz", "mel", "bins"}
        Frequency axis: linear bins up to ``sr/2`` (``"hz"``), mel bands between ``fmin`` and
        ``fmax`` labelled in Hz (``"mel"``), or plain bin/coefficient indices.
    fmin, fmax : float
        Mel band range (``fmax`` defaults to ``sr/2``); used with ``y_axis="mel"``.
    title : str, optional
        Figure title.
    cbar_label : str
        Colour bar label.
    figsize : tuple of float
        Figure size in inches.
    dpi : int
        Resolution: the PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    str
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    S_db = np.asarray(S_db)
    if S_db.ndim != 2:
        raise _validate.ParameterError(f"S_db must be 2-D (n_bins, n_frames), got shape {S_db.shape}")
    sr = _validate.positive_int(sr, "sr")
    hop_length = _validate.positive_int(hop_length, "hop_length")
    n_bins, n_frames = S_db.shape
    duration = n_frames * hop_length / sr
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    try:
        if y_axis == "hz":
            extent, ylabel = (0, duration, 0, sr / 2), "Frequency (Hz)"
        elif y_axis == "mel":
            extent, ylabel = (0, duration, 0, n_bins), "Mel band (centre frequency, Hz)"
        elif y_axis == "bins":
            extent, ylabel = (0, duration, 0, n_bins), "Bin"
        else:
            raise _validate.ParameterError(f"y_axis={y_axis!r} must be 'hz', 'mel' or 'bins'")
        image = ax.imshow(S_db, origin="lower", aspect="auto", extent=extent, cmap="magma",
                          interpolation="nearest")
        if y_axis == "mel":
            _label_mel_axis(ax, n_bins, fmin, sr / 2 if fmax is None else fmax)
        ax.set_xlabel("Time (s)")
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        fig.colorbar(image, ax=ax, label=cbar_label)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return str(path)


def _label_mel_axis(ax, n_mels, fmin, fmax):
    # Ticks at band indices, labelled with the centre frequencies of librosa's default (Slaney)
    # bands; the labels are a guide, the bands themselves are whatever the feature used.
    from .filters import mel_frequencies

    centres = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)[1:-1]
    ticks = np.linspace(0, n_mels - 1, min(6, n_mels)).round().astype(int)
    ax.set_yticks(ticks + 0.5)
    ax.set_yticklabels([f"{centres[t]:.0f}" for t in ticks])
