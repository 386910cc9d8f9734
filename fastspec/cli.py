"""The ``fastspec`` command: ``demo`` and ``bench`` (more subcommands register the same way)."""

import argparse
import os
import sys
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


def cmd_demo(args):
    """Synthesise the example signal, write its spectrograms as PNG and its inversion as WAV."""
    import soundfile

    from . import data, decibel, plot
    from .stft import Stft

    os.makedirs(args.outdir, exist_ok=True)
    sr, n_fft, hop = 22050, 1024, 256
    t0 = time.perf_counter()
    y = data.example(sr, args.duration)
    tf = Stft(n_fft=n_fft, hop_length=hop)
    S, t_spec = _timed(lambda: tf.spectrogram(y))
    first = time.perf_counter() - t0
    png = plot.save_spectrogram(decibel.amplitude_to_db(S, ref=np.max), os.path.join(args.outdir, "spectrogram.png"),
                                sr=sr, hop_length=hop, title="fastspec demo: spectrogram (dB)")
    wav_in = os.path.join(args.outdir, "example.wav")
    soundfile.write(wav_in, y, sr)
    X = tf.stft(y)
    back, t_inv = _timed(lambda: tf.istft(X, length=y.size))
    wav_out = os.path.join(args.outdir, "resynthesis.wav")
    soundfile.write(wav_out, back, sr)
    err = float(np.max(np.abs(back - y)))
    print(f"signal: {args.duration:g} s synthetic bird song + speech at {sr} Hz")
    print(f"spectrogram n_fft={n_fft} hop={hop}: {t_spec * 1e3:.2f} ms ({args.duration / t_spec:,.0f}x real time); "
          f"first call incl. compile/plan {first:.2f} s")
    print(f"istft resynthesis: {t_inv * 1e3:.2f} ms, max error {err:.2e}")
    for path in (png, wav_in, wav_out):
        print(f"wrote {path}")
    return 0


def cmd_bench(args):
    """Run the registry's quick tier (or all of it) and print the ratio table."""
    from . import _config, benchmark

    old = _config.set_num_threads(args.threads)
    try:
        timings = benchmark.run(quick=not args.full, groups=args.group or None,
                                progress=lambda line: print(line, file=sys.stderr), min_time=args.min_time)
    finally:
        _config.set_num_threads(old)
    print(f"\nfastspec bench: {args.threads} thread(s); anchor / fastspec > 1 means fastspec is faster.\n")
    print(benchmark.render_table(timings))
    return 0


def build_parser():
    """Return the ``fastspec`` argument parser."""
    parser = argparse.ArgumentParser(prog="fastspec", description="Fast spectrograms, mel features and inversion.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="synthesise an example, write spectrogram PNGs and resynthesised WAV")
    demo.add_argument("--outdir", default="fastspec-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--duration", type=float, default=4.0, help="seconds of example audio (default: %(default)s)")
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="time fastspec against the reference, librosa and the FFT floor")
    bench.add_argument("--full", action="store_true", help="run every case, not only the quick tier")
    bench.add_argument("--group", action="append", help="only this group of cases (repeatable)")
    bench.add_argument("--threads", type=int, default=1, help="threads for fastspec and the floors (default: 1)")
    bench.add_argument("--min-time", type=float, default=0.3, help="seconds spent timing each implementation")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv=None):
    """Entry point of the ``fastspec`` command."""
    from ._validate import ParameterError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ParameterError as err:
        print(f"fastspec {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
