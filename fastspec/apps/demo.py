"""``fastspec demo``: synthesise an example, draw its spectrograms, and invert it back to sound."""

import os
import time

import numpy as np


def _timed(fn, repeats=5):
    fn()  # first call compiles/plans; report warm times
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return result, best


def run_demo(outdir, duration=4.0):
    """Synthesise the example signal, write its spectrogram and mel PNGs, invert it to WAV.

    Parameters
    ----------
    outdir : str
        Folder for the PNG and WAV files (created if missing).
    duration : float
        Seconds of example audio.

    Returns
    -------
    list of str
        The report: signal, timings (warm, best of 5), inversion quality, files written.
    """
    import soundfile

    from .. import data, decibel, plot
    from ..feature import MelSpectrogram
    from ..inverse import mel_to_audio
    from ..phase import griffin_lim, spectral_convergence
    from ..stft import Stft

    os.makedirs(outdir, exist_ok=True)
    sr, n_fft, hop, n_mels = 22050, 1024, 256, 128
    t0 = time.perf_counter()
    y = data.example(sr, duration)
    tf = Stft(n_fft=n_fft, hop_length=hop)
    S, t_spec = _timed(lambda: tf.spectrogram(y))
    first = time.perf_counter() - t0
    mel = MelSpectrogram(sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    M, t_mel = _timed(lambda: mel(y))
    y_gl, t_gl = _timed(lambda: griffin_lim(S, n_fft=n_fft, hop_length=hop, init="pghi", n_iter=32, length=y.size),
                        repeats=1)
    y_mel, t_mel_inv = _timed(lambda: mel_to_audio(M, sr=sr, n_fft=n_fft, hop_length=hop, n_iter=32, length=y.size),
                              repeats=1)
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
    report = [f"signal: {duration:g} s synthetic bird song + speech at {sr} Hz (fastspec.data.example)",
              f"first call incl. compile/plan: {first:.2f} s"]
    timings = ((f"spectrogram n_fft={n_fft} hop={hop}", t_spec), (f"mel spectrogram {n_mels} bands", t_mel))
    for label, seconds in timings:
        report.append(f"{label}: {seconds * 1e3:.2f} ms ({duration / seconds:,.0f}x real time)")
    report.append(f"PGHI + 32 fast Griffin-Lim iterations: {t_gl * 1e3:.0f} ms, "
                  f"spectral convergence {sc_gl:.1f} dB")
    report.append(f"mel -> audio (NNLS + 32 iterations): {t_mel_inv * 1e3:.0f} ms, "
                  f"spectral convergence {sc_mel:.1f} dB")
    for path in paths:
        report.append(f"wrote {path}")
    return report


