"""``fastspec demo``: synthesise an example, draw its spectrograms, and invert it back to sound."""

import os
import time

import numpy as np


def _timed(fn, repeats):
    """``(result, first call s, best warm s)``: the first call includes compiling and planning."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return result, first, best


def _process_seconds():
    """Seconds since this process started (Linux), or None where that is not known."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def run_demo(outdir, duration=4.0):
    """Synthesise the example signal, write its spectrogram and mel PNGs, invert it to WAV.

    Every run writes the same bytes: reproducible FFT plans (:func:`fastspec.set_reproducible`)
    and a fixed seed for the random start of the mel inversion.

    Parameters
    ----------
    outdir : str
        Folder for the PNG and WAV files (created if missing).
    duration : float
        Seconds of example audio.

    Returns
    -------
    list of str
        The report: signal, each step's first call (compiling, planning) and warm time (best of
        5 for the analyses, of 2 for the inversions), inversion quality, the process's whole time
        so far, files written.
    """
    import soundfile

    from .. import _config, data, decibel, plot
    from ..feature import MelSpectrogram
    from ..inverse import mel_to_audio
    from ..phase import griffin_lim, spectral_convergence
    from ..stft import Stft

    os.makedirs(outdir, exist_ok=True)
    sr, n_fft, hop, n_mels = 22050, 1024, 256, 128
    y = data.example(sr, duration)
    with _config.config(reproducible=True):
        tf = Stft(n_fft=n_fft, hop_length=hop)
        mel = MelSpectrogram(sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
        S, *t_spec = _timed(lambda: tf.spectrogram(y), 5)
        M, *t_mel = _timed(lambda: mel(y), 5)
        y_gl, *t_gl = _timed(lambda: griffin_lim(S, n_fft=n_fft, hop_length=hop, init="pghi", n_iter=32,
                                                 length=y.size), 2)
        y_mel, *t_inv = _timed(lambda: mel_to_audio(M, sr=sr, n_fft=n_fft, hop_length=hop, n_iter=32, length=y.size,
                                                    rng=0), 2)
        sc_gl = spectral_convergence(S, y_gl, n_fft=n_fft, hop_length=hop)
        sc_mel = spectral_convergence(S, y_mel, n_fft=n_fft, hop_length=hop)
    paths = [
        plot.save_spectrogram(decibel.amplitude_to_db(S, ref=np.max), os.path.join(outdir, "spectrogram.png"),
                              sr=sr, hop_length=hop, title="fastspec demo: spectrogram (dB)"),
        plot.save_spectrogram(decibel.power_to_db(M, ref=np.max), os.path.join(outdir, "melspectrogram.png"),
                              sr=sr, hop_length=hop, y_axis="mel",
                              title=f"fastspec demo: {n_mels}-band mel spectrogram (dB)"),
    ]
    outputs = (("example.wav", y), ("inverted_pghi_griffin_lim.wav", y_gl), ("inverted_from_mel.wav", y_mel))
    for name, signal in outputs:
        paths.append(os.path.join(outdir, name))
        soundfile.write(paths[-1], signal, sr)
    report = [f"signal: {duration:g} s synthetic bird song + speech at {sr} Hz (fastspec.data.example)"]
    steps = ((f"spectrogram n_fft={n_fft} hop={hop}", t_spec, None),
             (f"mel spectrogram {n_mels} bands", t_mel, None),
             ("PGHI + 32 fast Griffin-Lim iterations", t_gl, sc_gl),
             ("mel -> audio (NNLS + 32 iterations)", t_inv, sc_mel))
    for label, (first, warm), sc in steps:
        quality = "" if sc is None else f", spectral convergence {sc:.1f} dB"
        report.append(f"{label}: {warm * 1e3:.2f} ms warm ({duration / warm:,.0f}x real time), "
                      f"first call {first * 1e3:.0f} ms{quality}")
    whole = _process_seconds()
    if whole is not None:
        report.append(f"this command so far: {whole:.2f} s (starting Python, importing, compiling or loading "
                      "kernels, planning, the work above and the files)")
    report += [f"wrote {path}" for path in paths]
    return report
