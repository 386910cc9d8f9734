"""The ``fastspec`` command: ``convert``, ``plot``, ``info``, ``invert``, ``demo`` and ``bench``.

Each subcommand is a ``cmd_*`` function taking the parsed arguments and returning the exit
code, registered in :func:`build_parser` by an ``_add_*`` function.
"""

import argparse
import os
import sys

from ._validate import ParameterError
from .apps.describe import describe_file
from .apps.plot_file import plot_file
from .parameters import FEATURES, PARAMETERS


def cmd_demo(args):
    """Run :func:`fastspec.apps.demo.run_demo` and print its report."""
    from .apps.demo import run_demo

    for line in run_demo(args.outdir, args.duration):
        print(line)
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


# ----- convert -------------------------------------------------------------------------------
def _none_or(convert):
    """Return an argparse type: ``"none"`` -> None, else ``convert(text)``."""
    def parse(text):
        return None if text.lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


def _number_or_text(text):
    try:
        return float(text)
    except ValueError:
        return text


# How each kind of feature parameter (fastspec.parameters) is parsed from the command line.
_PARSERS = {"int": int, "float": float, "str": str, "float?": _none_or(float), "norm": _none_or(_number_or_text)}


def _add_convert(sub):
    p = sub.add_parser("convert", help="convert a tree of audio files to feature files",
                       description="Convert audio files, folders (recursive) and list files (.txt/.lst/.list, one "
                                   "path a line) to one feature file each, mirroring the input tree, with a "
                                   "manifest. Re-running skips finished outputs.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio file, folder or list file")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--feature", default="logmel", choices=list(FEATURES), help="feature (default: %(default)s)")
    group = p.add_argument_group("feature parameters (as the library's keywords; default: the library's)")
    # Absent flags are not passed on, so the library's (or the preset's) defaults apply.
    for param in PARAMETERS:
        flag = "--" + param.name.replace("_", "-")
        if param.kind == "bool":
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=param.help)
        else:
            group.add_argument(flag, type=_PARSERS[param.kind], default=argparse.SUPPRESS, help=param.help)
    p.add_argument("--sr", type=int, help="resample every file to this rate (soxr); default: each file's own")
    p.add_argument("--channels", default="mix", choices=["mix", "first", "all"],
                   help="mix to mono, first channel, or all channels (default: %(default)s)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="default: %(default)s")
    p.add_argument("--format", default="npy", choices=["npy", "npz", "shards", "zarr"],
                   help="one .npy/.npz per input, WebDataset tar shards, or one Zarr v3 store (default: %(default)s)")
    p.add_argument("--storage", choices=["float16"], help="store values in half precision (default: as --dtype)")
    p.add_argument("--compression", choices=["zstd", "gzip"], help="compress a store: zarr zstd/gzip, shards gzip")
    p.add_argument("--shard-items", type=int, default=2500, help="items per shard at most (default: %(default)s)")
    p.add_argument("--manifest", default="jsonl", choices=["jsonl", "csv"],
                   help="manifest.jsonl always; csv adds manifest.csv (default: %(default)s)")
    p.add_argument("--glob", help="file-name pattern inside folders (default: every audio extension)")
    p.add_argument("--overwrite", action="store_true", help="redo finished outputs")
    p.add_argument("--keep-extension", action="store_true",
                   help="name outputs x.wav.npy, not x.npy (for trees holding x.wav and x.flac)")
    p.add_argument("--verify", action="store_true",
                   help="on resume, also hash finished outputs against the manifest (default: sizes and headers)")
    p.add_argument("--workers", type=int, help="worker processes (default: the CPU count)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this dask.distributed scheduler")
    p.add_argument("--dask-local", action="store_true", help="start a local dask.distributed cluster of --workers")
    p.add_argument("--start-method", default="auto", choices=["auto", "fork", "forkserver", "spawn"],
                   help="how local workers start (default: fork when safe)")
    p.add_argument("--block-frames", type=int, default=16384,
                   help="long files are converted in blocks of this many frames (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_convert)


def cmd_convert(args):
    """Run :func:`fastspec.batch.convert`; exit 0 when all converted, 1 when some failed, 130 if stopped."""
    from . import batch

    params = {p.name: getattr(args, p.name) for p in PARAMETERS if hasattr(args, p.name)}
    try:
        summary = batch.convert(args.inputs, args.outdir, feature=args.feature, workers=args.workers,
                                scheduler=args.scheduler, dask_local=args.dask_local, glob=args.glob,
                                format=args.format, manifest=args.manifest, overwrite=args.overwrite, sr=args.sr,
                                channels=args.channels, dtype=args.dtype, block_frames=args.block_frames,
                                start_method=args.start_method, progress=not args.quiet, verify=args.verify,
                                keep_extension=args.keep_extension, storage=args.storage,
                                compression=args.compression, shard_items=args.shard_items, **params)
    except KeyboardInterrupt as stop:
        print(f"fastspec convert: stopped; {stop}", file=sys.stderr)
        return 130
    except batch.DiskFullError as full:
        print(f"fastspec convert: {full.strerror}", file=sys.stderr)
        return 1
    print(f"fastspec convert: {summary}")
    if summary.converted:
        print(f"workers busy converting: {summary.worker_seconds:.2f} s in all "
              f"({summary.worker_seconds / len(summary.converted) * 1e3:.2f} ms per file)")
    print(f"manifest: {summary.manifest}")
    if summary.failed:  # each was reported as it happened; the list is in the failures file
        print(f"failures: {summary.failures}")
    return 1 if summary.failed else 0


# ----- info and plot ---------------------------------------------------------------------------
def _add_info(sub):
    p = sub.add_parser("info", help="describe an audio or feature file")
    p.add_argument("file", metavar="FILE", help="audio file, .npy/.npz feature file, or a store's item STORE::KEY")
    p.set_defaults(func=cmd_info)


def cmd_info(args):
    """Print :func:`describe_file` of the file."""
    print(describe_file(args.file))
    return 0


def _add_plot(sub):
    p = sub.add_parser("plot", help="draw an audio or feature file as a PNG spectrogram (dB)")
    p.add_argument("file", metavar="FILE", help="audio file, .npy/.npz feature file, or a store's item STORE::KEY")
    p.add_argument("-o", "--output", help="PNG path (default: FILE's name with .png, in the current folder)")
    p.add_argument("--feature", default="logspec", choices=["logspec", "logmel"],
                   help="what to draw for audio (default: %(default)s)")
    p.add_argument("--n-fft", type=int, default=2048, help="for audio (default: %(default)s)")
    p.add_argument("--hop-length", type=int, help="for audio (default: n_fft // 4); for features without a manifest")
    p.add_argument("--n-mels", type=int, default=128, help="for audio with --feature logmel (default: %(default)s)")
    p.add_argument("--sr", type=int, help="resample audio; sample rate of a feature file without a manifest")
    p.add_argument("--channel", type=int, default=0, help="channel of a multi-channel feature (default: 0)")
    p.add_argument("--width", type=float, default=10, help="inches (default: %(default)s)")
    p.add_argument("--height", type=float, default=4, help="inches (default: %(default)s)")
    p.add_argument("--dpi", type=int, default=100, help="pixels per inch (default: %(default)s)")
    p.set_defaults(func=cmd_plot)


def cmd_plot(args):
    """Write :func:`plot_file`'s PNG."""
    out = plot_file(args.file, args.output, feature=args.feature, n_fft=args.n_fft, hop_length=args.hop_length,
                    n_mels=args.n_mels, sr=args.sr, channel=args.channel, figsize=(args.width, args.height),
                    dpi=args.dpi)
    print(f"wrote {out}")
    return 0


def _add_invert(sub):
    p = sub.add_parser("invert", help="feature file (.npy/.npz) or audio's features -> audio (PGHI + Griffin-Lim)",
                       description="Invert a feature file, or an audio file's features, to audio. Parameters not "
                                   "given come from the .npz metadata, else librosa's defaults.")
    p.add_argument("input", help="feature file (.npy/.npz), a store's item STORE::KEY, or audio file")
    p.add_argument("-o", "--output", required=True, help="audio file to write (.wav, .flac, .ogg)")
    p.add_argument("--kind", choices=["magnitude", "power", "db", "mel", "log_mel", "mfcc", "pretty"],
                   help="what the array holds (default: the file's metadata, else magnitude)")
    p.add_argument("--sr", type=int, help="sample rate (default: metadata, else 22050)")
    p.add_argument("--n-fft", type=int, help="FFT length")
    p.add_argument("--hop-length", type=int, help="samples between frames")
    p.add_argument("--win-length", type=int, help="window length")
    p.add_argument("--window", default="hann", help="window name (default: hann)")
    p.add_argument("--n-iter", type=int, default=32, help="Griffin-Lim iterations (default: 32)")
    p.add_argument("--momentum", type=float, default=0.99, help="fast Griffin-Lim momentum (default: 0.99)")
    p.add_argument("--init", default="pghi", choices=["pghi", "random", "zeros"], help="initial phase (default: pghi)")
    p.add_argument("--n-mels", type=int, default=128, help="mel bands (mel/mfcc kinds; default: 128)")
    p.add_argument("--fmin", type=float, default=0.0, help="lowest mel frequency (Hz)")
    p.add_argument("--fmax", type=float, help="highest mel frequency (Hz)")
    p.add_argument("--fft-size", type=int, default=512, help="seed pretty spectrogram: frame and FFT length")
    p.add_argument("--step-size", type=int, default=64, help="seed pretty spectrogram: hop")
    p.set_defaults(func=cmd_invert)


def cmd_invert(args):
    """Run :func:`fastspec.apps.invert.invert_file` and report what it wrote."""
    from .apps.invert import invert_file

    result = invert_file(args.input, args.output, kind=args.kind, sr=args.sr, n_fft=args.n_fft,
                         hop_length=args.hop_length, win_length=args.win_length, window=args.window,
                         n_iter=args.n_iter, momentum=args.momentum, init=args.init, n_mels=args.n_mels,
                         fmin=args.fmin, fmax=args.fmax, fft_size=args.fft_size, step_size=args.step_size)
    sc = result["spectral_convergence"]
    quality = f", spectral convergence {sc:.1f} dB" if sc is not None else ""
    print(f"wrote {result['output_path']}: {result['n_samples'] / result['sr']:.2f} s at {result['sr']} Hz "
          f"from {result['kind']}{quality}")
    if result["assumed"]:
        print(f"fastspec invert: assumed {', '.join(result['assumed'])}: {args.input} does not say (not written "
              "by fastspec convert); pass --sr and the framing if that is wrong", file=sys.stderr)
    return 0


def build_parser():
    """Return the ``fastspec`` argument parser."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="fastspec", description="Fast spectrograms, mel features and inversion.")
    parser.add_argument("--version", action="version", version=f"fastspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_convert(sub)
    _add_plot(sub)
    _add_info(sub)
    _add_invert(sub)

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
    """Entry point of the ``fastspec`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments; default: the command line. Run as the program (``argv`` None), a finished
        ``convert`` ends the process at once: its files and manifest are closed, and the
        interpreter's teardown with numba and LLVM loaded took 0.15-0.3 s of a 1.5 s command.

    Returns
    -------
    int
        Exit code.
    """
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except (ParameterError, OSError) as err:  # OSError: unreadable or missing files (AudioFileError is one)
        print(f"fastspec {args.command}: {err}", file=sys.stderr)
        code = 2
    if argv is None and args.command == "convert":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
