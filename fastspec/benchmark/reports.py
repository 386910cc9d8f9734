"""The README's quality tables and figure, and interleaved timings of a group's cases.

``quality_table``, ``mel_quality_table`` and ``seed_quality_table`` print the spectral-convergence
tables, ``seed_figure`` draws the seed comparison, ``interleaved_timings`` times one group's cases
(the phase ones by default) in alternation (for a machine shared with other work).
"""

import numpy as np

from .. import data
from ..compat.upgrade import pretty_magnitude, pretty_spectral_convergence, pretty_to_audio, seed_stft
from ..inverse import mel_to_audio
from ..phase import griffin_lim, spectral_convergence
from ..stft import Stft
from .cases_phase import SIGNALS, seed_spectrogram


def quality_table(seconds=10.0, sr=22050, n_fft=1024, hop=256, signals=SIGNALS):
    """Markdown table of spectral convergence (dB, lower is better) on the benchmark signals.

    Columns: librosa's fast Griffin-Lim (random phase, momentum 0.99) at 10/32/100 iterations;
    fastspec's at 32 from the same start; plain Griffin-Lim (momentum 0) at 32; PGHI alone;
    PGHI + fast Griffin-Lim at 10/32/100; the gain of PGHI + 32 over librosa's 32.
    """
    import librosa

    head = ["signal", "librosa 10", "librosa 32", "librosa 100", "fastspec 32", "plain GL 32", "PGHI",
            "PGHI + 10", "PGHI + 32", "PGHI + 100", "gain at 32"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for signal in signals:
        y = data.signal(signal, sr, seconds)
        S = Stft(n_fft=n_fft, hop_length=hop).spectrogram(y)

        def sc(x, S=S):
            return spectral_convergence(S, x, hop_length=hop)

        lib = [sc(librosa.griffinlim(S, n_iter=n, hop_length=hop, random_state=0)) for n in (10, 32, 100)]
        ours = sc(griffin_lim(S, n_iter=32, hop_length=hop, rng=np.random.RandomState(0)))
        plain = sc(griffin_lim(S, n_iter=32, hop_length=hop, momentum=0, rng=np.random.RandomState(0)))
        _, hist = griffin_lim(S, n_iter=100, hop_length=hop, init="pghi", return_history=True)
        cells = [signal] + [f"{v:.1f}" for v in (*lib, ours, plain, hist[0], hist[10], hist[32], hist[100])]
        cells.append(f"{lib[1] - hist[32]:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mel_quality_table(seconds=10.0, sr=22050, n_mels=128, n_iter=32, signals=SIGNALS):
    """Markdown table: mel inversion quality, librosa against fastspec.

    Spectral convergence (dB) against the original STFT magnitude of the signal behind a mel
    spectrogram, for ``mel_to_stft`` and ``mel_to_audio``, and ``mel_to_stft``'s mel residual.
    """
    import librosa

    from ..inverse import mel_to_stft

    head = ["signal", "mel_to_stft librosa", "fastspec", "mel residual librosa", "fastspec",
            f"mel_to_audio ({n_iter} it) librosa", "fastspec"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    basis = librosa.filters.mel(sr=sr, n_fft=2048, n_mels=n_mels, dtype=np.float64)
    for signal in signals:
        y = data.signal(signal, sr, seconds)
        M = librosa.feature.melspectrogram(y=y, sr=sr, n_mels=n_mels)
        S = np.abs(librosa.stft(y))
        lib_S = librosa.feature.inverse.mel_to_stft(M, sr=sr)
        our_S = mel_to_stft(M, sr=sr)

        def sc_mag(X, S=S):
            return 20 * np.log10(np.linalg.norm(X - S) / np.linalg.norm(S))

        def resid(X, M=M):
            return np.linalg.norm(basis @ X.astype(np.float64) ** 2 - M) / np.linalg.norm(M)

        lib_y = librosa.feature.inverse.mel_to_audio(M, sr=sr, n_iter=n_iter, length=y.size)
        our_y = mel_to_audio(M, sr=sr, n_iter=n_iter, rng=0, length=y.size)
        cells = [signal, f"{sc_mag(lib_S):.1f}", f"{sc_mag(our_S):.1f}", f"{100 * resid(lib_S):.2f} %",
                 f"{100 * resid(our_S):.2f} %", f"{spectral_convergence(S, lib_y):.1f}",
                 f"{spectral_convergence(S, our_y):.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_quality_table(seconds=4.5, fft_size=2048, step=128, signals=("birdsong", "speech", "music")):
    """Markdown table: inverting the seed's pretty spectrogram, spectral convergence (dB).

    Against ``10**X_s``: the seed's inversion (10 iterations), librosa's fast Griffin-Lim at
    10 and 32, and :func:`pretty_to_audio`.
    """
    import librosa

    from ..reference import seed

    head = ["signal (44.1 kHz)", "seed 10 it", "librosa 10", "librosa 32", "fastspec PGHI + 10", "fastspec PGHI + 32"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    tf = seed_stft(fft_size, step)
    for signal in signals:
        X_s = seed_spectrogram(data.signal(signal, 44100, seconds), fft_size, step)
        S = pretty_magnitude(X_s, fft_size, True).astype(np.float32)

        def sc(x, X_s=X_s):
            return pretty_spectral_convergence(X_s, x, fft_size=fft_size, step_size=step)

        theirs = seed.invert_pretty_spectrogram(X_s, log=True, fft_size=fft_size, step_size=step, n_iter=10)
        lib = [sc(librosa.griffinlim(S, n_iter=n, n_fft=fft_size, hop_length=step, window=tf.window(),
                                     center=False, random_state=0)) for n in (10, 32)]
        ours = [sc(pretty_to_audio(X_s, fft_size=fft_size, step_size=step, n_iter=n)) for n in (10, 32)]
        cells = [signal, f"{sc(theirs):.1f}"] + [f"{v:.1f}" for v in (*lib, *ours)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_figure(path, signal="birdsong", seconds=3.0, fft_size=2048, step=128, dpi=64):
    """Save the README figure: the seed's inversion against :func:`pretty_to_audio`'s.

    Panels: the seed's pretty spectrogram, and the pretty spectrograms of both inversions,
    with their spectral convergence in the titles.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..reference import seed

    X_s = seed_spectrogram(data.signal(signal, 44100, seconds), fft_size, step)
    theirs = seed.invert_pretty_spectrogram(X_s, log=True, fft_size=fft_size, step_size=step, n_iter=10)
    ours = pretty_to_audio(X_s, fft_size=fft_size, step_size=step)
    panels = [("original (seed's pretty spectrogram)", X_s)]
    for label, audio in (("seed's inversion, 10 iterations", theirs), ("fastspec pretty_to_audio: PGHI + 32", ours)):
        sc = pretty_spectral_convergence(X_s, audio, fft_size=fft_size, step_size=step)
        again = seed.pretty_spectrogram(np.asarray(audio, np.float64).copy(), fft_size=fft_size, step_size=step,
                                        log=True, thresh=4)
        panels.append((f"{label}: {sc:.1f} dB spectral convergence", again))
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 8), sharex=True)
    for ax, (title, spec) in zip(axes, panels, strict=True):
        ax.imshow(spec.T, origin="lower", aspect="auto", cmap="afmhot", interpolation="nearest")
        ax.set_title(title)
        ax.set_ylabel("bin")
    axes[-1].set_xlabel("frame")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def interleaved_timings(rounds=7, quick=False, names=None, progress=None, group="phase"):
    """Time one group's cases with their implementations in alternation, keeping each one's best.

    On a machine shared with other work the runner's one-implementation-after-another timing
    lets a load change favour whichever ran in the quiet spell; calling A, B, C, A, B, C, ...
    exposes all to the same conditions. Returns ``{case name: {implementation: seconds}}``
    for :func:`fastspec.benchmark.render_table`.
    """
    import time

    from .registry import CASES, check_case

    timings = {}
    for case in CASES:
        if case.group != group or (quick and not case.quick) or (names and case.name not in names):
            continue
        impls = case.setup()
        check_case(case, impls)
        best = dict.fromkeys(impls, float("inf"))
        for _ in range(rounds):
            for name, fn in impls.items():
                t0 = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t0)
        timings[case.name] = best
        if progress is not None:
            progress(f"{case.name}: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in best.items()))
    return timings
