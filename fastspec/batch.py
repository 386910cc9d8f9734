"""Batch conversion: a tree of recordings in, one feature file per recording out.

:func:`convert` finds the audio files, skips those already converted, and converts the rest
on local worker processes (default) or a ``dask.distributed`` cluster. Files are the unit of
work, handed out longest first so that the workers finish together (on Dask, short files
travel in bundles, as a task costs more to schedule than a 10 s clip costs to convert).

Each conversion runs on one thread (no oversubscription) with reproducible FFT plans (FFTW plans
from ``FFTW_ESTIMATE``, no accumulated wisdom; :func:`deterministic_fft`), set for the converting
thread alone, so outputs are byte-identical whichever engine, worker process or worker thread
computed them; on this machine ESTIMATE plans run as
fast as MEASURE ones for these sizes (1.67 against 1.74 ms per 10 s log-mel) and cost no planning.

Long files are read and converted in blocks of frames: each block's samples overlap the next
by the frame context, frames are computed from exactly the samples (and edge padding) the
whole-file transform would use, and blocks start on multiples of the STFT's internal chunk so
every frame goes through the same FFT plan as in one call. Results are stored as they come
(:class:`fastspec.io.NpyWriter`); ``top_db`` clipping, which needs the whole file's maximum,
then rewrites in place the stored blocks it changes. So memory stays at a few blocks for any
length (a 2-hour 44.1 kHz file: 222 MB peak), and the output equals the whole-file feature
bit for bit.

Every output is written to a temporary name and renamed when complete; ``manifest.jsonl`` in
the output folder gets one JSON line per finished file (input, output, sample rate, hop
length, duration, shape, dtype, feature parameters, SHA-256). A re-run skips files whose
output and manifest line both exist.
"""

import csv
import dataclasses
import fnmatch
import functools
import hashlib
import json
import os
import signal
import sys
import threading
import time

import numpy as np

from . import _config, _engine
from . import io as audio_io
from ._validate import ParameterError

_STFT_PARAMS = ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode")
_MEL_PARAMS = _STFT_PARAMS + ("power", "n_mels", "fmin", "fmax", "htk", "preemphasis", "preset")
FEATURES = {
    "spectrogram": _STFT_PARAMS + ("power",),
    "logspec": _STFT_PARAMS + ("amin", "top_db"),
    "mel": _MEL_PARAMS + ("norm",),
    "logmel": _MEL_PARAMS + ("norm", "amin", "top_db"),
    "mfcc": _MEL_PARAMS + ("n_mfcc", "dct_type", "norm", "lifter", "mel_norm", "top_db", "amin", "append_energy"),
    "seed-pretty": ("fft_size", "step_size", "log", "thresh"),
    "seed-mel": ("fft_size", "step_size", "thresh", "n_freq_components", "start_freq", "end_freq", "shorten_factor"),
}
"""Feature names and the keyword parameters each accepts (those of the library function)."""

MANIFEST = "manifest.jsonl"
FORMATS = ("npy", "npz")


# ----- features ----------------------------------------------------------------------------------
class _Feature:
    """One feature at one sample rate: its whole-signal function and block stages.

    The block stages exist when the feature is frame-local up to a global ``top_db`` clip.

    ``whole(y)`` is the library call. Block stages: ``frames(segment)`` on an already padded
    segment (centre padding done by the caller) gives unclipped rows; ``top_db`` clips at the
    global maximum; ``post`` (MFCC's DCT) maps clipped rows to the output.
    """

    def __init__(self, name, params, sr, dtype):
        from . import feature
        from .decibel import power_to_db
        from .stft import Stft

        self.dtype = np.dtype(dtype)
        p = dict(params)
        self.top_db, self.post, self.blockable, self.frame_axis = None, None, True, -1
        if name.startswith("seed-"):
            self._seed(name, p, sr)
        elif name in ("spectrogram", "logspec"):
            stft_kw = {k: p.pop(k) for k in _STFT_PARAMS if k in p}
            tf = Stft(**stft_kw)
            tf_frames = Stft(**dict(stft_kw, center=False))
            if name == "spectrogram":
                power = p.pop("power", 1.0)
                self.whole = lambda y: tf.spectrogram(y, power=power, dtype=self.dtype)
                self.frames = lambda seg: tf_frames.spectrogram(seg, power=power, dtype=self.dtype)
            else:
                amin = p.pop("amin", 1e-10)
                self.top_db = p.pop("top_db", 80.0)
                top_db = self.top_db
                self.whole = lambda y: power_to_db(tf.spectrogram(y, power=2.0, dtype=self.dtype), amin=amin,
                                                   top_db=top_db)
                self.frames = lambda seg: power_to_db(tf_frames.spectrogram(seg, power=2.0, dtype=self.dtype),
                                                      amin=amin, top_db=None)
            self.stft = tf
        else:
            preset = p.get("preset", "librosa")
            defaults = feature.PRESETS.get(preset)
            if defaults is None:
                raise ParameterError(f"preset={preset!r} must be one of {', '.join(map(repr, feature.PRESETS))}")
            self.blockable = (defaults["framing"] == "stft"
                              and float(p.get("preemphasis", defaults["preemphasis"])) == 0.0)
            if name == "mfcc":
                transform = feature.MFCC(sr=sr, **p)
                self.whole = lambda y: transform(y, dtype=self.dtype)
                self.blockable = self.blockable and not p.get("append_energy", defaults["append_energy"])
                self.top_db = p.pop("top_db", defaults["mfcc_top_db"])
                mel_kw = {k: v for k, v in p.items() if k in _MEL_PARAMS + ("amin",)}
                if "mel_norm" in p:
                    mel_kw["norm"] = p["mel_norm"]
                mel_frames = feature.MelSpectrogram(sr=sr, log="db", top_db=None, **dict(mel_kw, center=False))
                self.post = transform.from_log_mel
                self.stft = transform.mel.stft
            else:
                log = "db" if name == "logmel" else None
                mel = feature.MelSpectrogram(sr=sr, log=log, **p)
                self.whole = lambda y: mel(y, dtype=self.dtype)
                if log:
                    self.top_db = p.pop("top_db", defaults["top_db"])
                mel_frames = feature.MelSpectrogram(sr=sr, log=log, **dict(p, center=False, top_db=None))
                self.stft = mel.stft
            self.frames = lambda seg: mel_frames(seg, dtype=self.dtype)
        if not name.startswith("seed-"):
            self.n_fft, self.hop_length = self.stft.n_fft, self.stft.hop_length

    def _seed(self, name, p, sr):
        """Set up the seed notebook's features (fastspec.compat), on whole signals only.

        Their normalisation (``pretty_spectrogram``) and time zoom (``make_mel``) are global.
        """
        from . import compat

        self.blockable = False
        pretty_kw = {k: p[k] for k in ("log", "thresh", "fft_size", "step_size") if k in p}
        self.n_fft, self.hop_length = int(p.get("fft_size", 512)), int(p.get("step_size", 64))
        if name == "seed-pretty":
            one = functools.partial(compat.pretty_spectrogram, **pretty_kw)
            self.frame_axis = 0  # the notebook's (n_frames, n_bins)
        else:
            filter_kw = {k: p[k] for k in ("n_freq_components", "start_freq", "end_freq") if k in p}
            mel_filter, _ = compat.create_mel_filter(self.n_fft, samplerate=sr, **filter_kw)
            shorten = p.get("shorten_factor", 1)
            self.hop_length = int(round(self.hop_length * shorten))

            def one(y):
                return compat.make_mel(compat.pretty_spectrogram(y, log=True, **pretty_kw), mel_filter,
                                       shorten_factor=shorten)

        self.whole = lambda y: one(y) if y.ndim == 1 else np.stack([one(channel) for channel in y])

    def n_frames(self, n_samples):
        """Frames the whole-signal feature has for ``n_samples``."""
        return self.stft.n_frames(n_samples)

    def empty(self, lead):
        """The feature of a signal with no samples: zero frames, the bins and leading axes kept."""
        probe = self.whole(np.full(lead + (4 * self.n_fft,), 0.1, dtype=self.dtype)
                           * np.hanning(4 * self.n_fft).astype(self.dtype))
        return np.take(probe, np.arange(0), axis=self.frame_axis)


def _check_params(feature, params):
    if feature not in FEATURES:
        raise ParameterError(f"feature={feature!r} must be one of {', '.join(map(repr, FEATURES))}")
    unknown = sorted(set(params) - set(FEATURES[feature]))
    if unknown:
        raise ParameterError(f"feature={feature!r} takes no parameter {', '.join(unknown)}; "
                             f"it takes {', '.join(FEATURES[feature])}")


# ----- the job and one file's conversion ---------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a worker needs to convert a file (picklable, sent once per task).

    Attributes
    ----------
    feature : str
        A key of :data:`FEATURES`.
    params : tuple of (str, value)
        The feature's keyword parameters.
    sr : int or None
        Target sample rate (None: each file's own).
    channels : {"mix", "first", "all"}
    dtype : str
        ``"float32"`` or ``"float64"``.
    format : {"npy", "npz"}
    block_frames : int
        Frames per block for long files (a multiple of 256); shorter files are done whole.
    """

    feature: str
    params: tuple
    sr: int | None
    channels: str
    dtype: str
    format: str
    block_frames: int

    @property
    def signature(self):
        """Hash of everything that determines an output's content."""
        blob = json.dumps([self.feature, self.params, self.sr, self.channels, self.dtype, self.format], default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self):
        """The parameters as a JSON-ready dict (for the manifest)."""
        return {"feature": self.feature, **{k: _jsonable(v) for k, v in self.params}, "sr": self.sr,
                "channels": self.channels, "dtype": self.dtype}


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


_worker_state = {}


def deterministic_fft():
    """Context manager: the FFT setup every conversion runs in, for the calling thread only.

    One thread and reproducible plans (:func:`fastspec.set_reproducible`: FFTW's ``FFTW_ESTIMATE``,
    no accumulated wisdom): results do not depend on the process's history, so results computed
    inside equal those :func:`convert` writes, bit for bit, on any engine, worker or thread.
    """
    return _config.config(num_threads=1, reproducible=True)


def _die_with_parent():
    # Linux: a worker whose parent is killed (SIGKILL) gets SIGTERM instead of running on.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _init_local_worker():
    # The parent handles Ctrl-C and stops us; SIGTERM (from it, or on its death) ends us at
    # once, the parent sweeping our temporary file. A forked worker inherits the parent's
    # handlers, so both are set explicitly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()


def _feature_for(job, sr):
    key = (job, sr)
    feat = _worker_state.get(key)
    if feat is None:
        feat = _Feature(job.feature, job.params, sr, job.dtype)
        _worker_state[key] = feat
    return feat


def convert_file(job, src, dst):
    """Convert one audio file to one feature file (atomically); return its manifest fields.

    Parameters
    ----------
    job : Job
    src : str
        Audio file.
    dst : str
        Output path (``.npy`` or ``.npz``); its folder must exist.

    Returns
    -------
    dict
        ``sr``, ``hop_length``, ``duration`` (of the input), ``shape``, ``dtype``, ``sha256``.

    Raises
    ------
    fastspec.io.AudioFileError
        Unreadable input (path and reason).
    ParameterError
        Parameters that do not fit this file (e.g. ``fmax`` above its Nyquist frequency).
    """
    # A short file is read in one go, a long one in chunks well below a block of frames.
    with audio_io.AudioStream(src, sr=job.sr, channels=job.channels, dtype=job.dtype,
                              block_size=max(1 << 16, job.block_frames * 16)) as stream:
        feat = _feature_for(job, stream.sr)
        lead = (stream.n_channels,) if job.channels == "all" else ()
        n = stream.n_samples
        extra = {"sr": stream.sr, "hop_length": feat.hop_length}
        if n == 0:
            result = feat.empty(lead)
        elif not feat.blockable or feat.n_frames(n) <= job.block_frames:
            blocks = list(stream)
            y = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=-1)
            result = feat.whole(y)
        else:
            result = None
            shape, digest = _convert_blocks(feat, stream, lead, job, dst, extra)
        if result is not None:
            shape = result.shape
            digest = audio_io.save_feature(dst, result, **extra) if job.format == "npz" else \
                audio_io.save_feature(dst, result)
        return {"sr": stream.sr, "hop_length": feat.hop_length, "duration": stream.info.duration,
                "shape": list(shape), "dtype": job.dtype, "sha256": digest}


_NP_PAD = {"constant": "constant", "reflect": "reflect", "edge": "edge"}


def _segments(feat, stream, block_frames):
    """Yield the padded sample segment of each block of frames of a long signal."""
    tf = feat.stft
    n, n_fft, hop, off = stream.n_samples, tf.n_fft, tf.hop_length, tf.padding
    total = feat.n_frames(n)
    source = iter(stream)
    chunks, first, end = [], 0, 0  # chunks read, covering samples [first, end)
    for t0 in range(0, total, block_frames):
        t1 = min(total, t0 + block_frames)
        # Raw sample range of these frames in the unpadded signal, and the padding beyond it.
        start, stop = t0 * hop - off, (t1 - 1) * hop - off + n_fft
        left, right = max(0, -start), max(0, stop - n)
        start, stop = max(0, start), min(n, stop)
        while end < stop:
            chunks.append(next(source))
            end += chunks[-1].shape[-1]
        while chunks and first + chunks[0].shape[-1] <= start:
            first += chunks.pop(0).shape[-1]
        # One copy per segment: the stream's chunks are small next to a block of frames.
        joined = chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=-1)
        segment = joined[..., start - first:stop - first]
        if left or right:
            widths = [(0, 0)] * (segment.ndim - 1) + [(left, right)]
            segment = np.pad(segment, widths, mode=_NP_PAD[tf.pad_mode])
        yield segment


def _convert_blocks(feat, stream, lead, job, dst, extra):
    """Blocked conversion of a long file; returns ``(shape, sha256)``.

    Blocks of frames go to the output as computed. A ``top_db`` clip then rewrites, in place,
    the blocks that have values below the whole file's maximum less ``top_db``. MFCCs, whose
    DCT comes after that clip, keep the log-mel blocks in a scratch file for a second pass.
    """
    total = feat.n_frames(stream.n_samples)
    # An .npz is packed from an .npy under a temporary name (swept if the run is killed).
    final_npy = dst if job.format == "npy" else audio_io.temp_path(dst) + ".npy"
    first = writer = None
    try:
        top = -np.inf
        for segment in _segments(feat, stream, job.block_frames):
            rows = feat.frames(segment)
            if writer is None:
                target = audio_io.temp_path(dst) + ".npy" if feat.post is not None else final_npy
                writer = first = audio_io.NpyWriter(target, lead, rows.shape[-2], total, rows.dtype)
            if feat.top_db is not None:
                top = max(top, rows.max())
            writer.write(rows)
        if feat.top_db is not None:
            writer.clip_below(rows.dtype.type(top) - rows.dtype.type(feat.top_db), job.block_frames)
        path = writer.commit()
        if feat.post is not None:
            writer = None
            for rows in audio_io.iter_frames(path, job.block_frames):
                rows = feat.post(rows)
                if writer is None:
                    writer = audio_io.NpyWriter(final_npy, lead, rows.shape[-2], total, rows.dtype)
                writer.write(rows)
            path = writer.commit()
        shape = lead + (rows.shape[-2], writer.n_frames)
        if job.format == "npz":
            audio_io.npy_to_npz(path, dst, **extra)
            audio_io.remove_if_exists(path)
        return shape, audio_io.sha256_file(dst)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if first is not None and feat.post is not None:  # the scratch log-mel file
            audio_io.remove_if_exists(first.path)
            audio_io.remove_if_exists(first.temp_path)


def _task(job, src, dst):
    """Run :func:`convert_file` in a worker; failures come back as a reason, not an exception."""
    t0 = time.perf_counter()
    try:
        with deterministic_fft():
            fields = convert_file(job, src, dst)
    except Exception as err:  # one bad file must not stop the batch: report it and go on
        return src, dst, None, _reason(err, src)
    fields["seconds"] = time.perf_counter() - t0
    return src, dst, fields, None


def _reason(err, src):
    text = str(err)
    if isinstance(err, audio_io.AudioFileError):
        return err.reason
    return f"{type(err).__name__}: {text.replace(src + ': ', '')}"


def _warm(job, sr):
    """Load the numba kernels and build the plans of this job.

    Runs in a worker, or in the parent before forking so that every worker inherits them.
    """
    feat = _feature_for(job, sr or 22050)
    lead = (2,) if job.channels == "all" else ()
    with deterministic_fft():
        feat.whole(np.full(lead + (4 * feat.n_fft,), 0.1, dtype=job.dtype))


# ----- finding inputs ----------------------------------------------------------------------------
_LIST_SUFFIXES = (".txt", ".lst", ".list")


def _audio_suffixes():
    import soundfile

    suffixes = {f".{fmt.lower()}" for fmt in soundfile.available_formats()}
    return suffixes | {".aif", ".oga", ".opus", ".wave"}


def find_inputs(inputs, *, glob=None):
    """Expand files, folders (recursively) and list files into ``(path, root)`` pairs.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        Audio files; folders, searched recursively for ``glob`` (default: every extension
        libsndfile reads); list files (``.txt``, ``.lst``, ``.list``) with one path a line,
        relative to the list's folder, ``#`` starting a comment.
    glob : str, optional
        Pattern matched against file names inside folders, e.g. ``"*.flac"``.

    Returns
    -------
    list of (str, str)
        Absolute input path and the folder its output path is taken relative to.

    Raises
    ------
    ParameterError
        An input that does not exist.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    suffixes = None if glob else _audio_suffixes()
    found = []
    for item in inputs:
        path = os.path.abspath(os.fspath(item))
        if os.path.isdir(path):
            inside = []
            for folder, _, files in os.walk(path):
                for name in files:
                    if name.startswith(".") or not (fnmatch.fnmatch(name, glob) if glob
                                                    else os.path.splitext(name)[1].lower() in suffixes):
                        continue
                    inside.append(os.path.join(folder, name))
            found.extend((p, path) for p in sorted(inside))
        elif os.path.isfile(path) and path.lower().endswith(_LIST_SUFFIXES):
            base = os.path.dirname(path)
            with open(path, encoding="utf-8") as f:
                for line in f:
                    line = line.split("#", 1)[0].strip()
                    if line:
                        entry = os.path.normpath(os.path.join(base, line))
                        found.append((entry, os.path.dirname(entry)))
        elif os.path.exists(path):
            found.append((path, os.path.dirname(path)))
        else:
            raise ParameterError(f"input {os.fspath(item)!r} does not exist")
    seen, unique = set(), []
    for path, root in found:
        if path not in seen:
            seen.add(path)
            unique.append((path, root))
    return unique


def _output_paths(found, outdir, fmt):
    """Map inputs to outputs mirroring the tree under the inputs' common root."""
    if not found:
        return []
    roots = {root for _, root in found}
    common = os.path.commonpath(sorted(roots)) if len(roots) > 1 else roots.pop()
    mapping, owners = [], {}
    for path, _ in found:
        rel = os.path.relpath(path, common)
        dst = os.path.join(outdir, os.path.splitext(rel)[0] + "." + fmt)
        if dst in owners:
            raise ParameterError(f"{path} and {owners[dst]} would both be written to {dst}; "
                                 "select one kind with glob (--glob)")
        owners[dst] = path
        mapping.append((path, dst))
    return mapping


# ----- manifest ----------------------------------------------------------------------------------
def read_manifest(outdir):
    """Entries of ``outdir/manifest.jsonl`` keyed by output path (relative to ``outdir``).

    Lines that do not parse (a run killed while writing one) are ignored.
    """
    entries = {}
    path = os.path.join(outdir, MANIFEST)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                    entries[entry["output"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
    return entries


def _write_manifest(outdir, entries, csv_too):
    path = os.path.join(outdir, MANIFEST)
    tmp = audio_io.temp_path(path)
    with open(tmp, "x", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry) + "\n")
    os.replace(tmp, path)
    if csv_too:
        path = os.path.join(outdir, "manifest.csv")
        tmp = audio_io.temp_path(path)
        fields = ["input", "output", "sr", "duration", "shape", "dtype", "feature", "params", "sha256"]
        with open(tmp, "x", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(fields)
            for e in entries:
                writer.writerow([e["input"], e["output"], e["sr"], e["duration"], "x".join(map(str, e["shape"])),
                                 e["dtype"], e["params"]["feature"], json.dumps(e["params"]), e["sha256"]])
        os.replace(tmp, path)


def _sweep_temp(outdir):
    for folder, _, files in os.walk(outdir):
        for name in files:
            if name.endswith(audio_io.TEMP_SUFFIX) or name.endswith(audio_io.TEMP_SUFFIX + ".npy"):
                audio_io.remove_if_exists(os.path.join(folder, name))


# ----- progress ----------------------------------------------------------------------------------
class _Progress:
    """A tqdm bar on a terminal, plain log lines (every ``interval`` s) otherwise.

    The bar is created on the first finished file: tqdm starts a monitor thread, and local
    workers are forked from a single-threaded parent before that.
    """

    def __init__(self, n_files, total_seconds, enabled, stream=None, interval=10.0):
        self.stream = sys.stderr if stream is None else stream
        self.n_files, self.total = n_files, total_seconds
        self.done_files, self.done_seconds = 0, 0.0
        self.t0 = time.perf_counter()
        self._last_log = self.t0
        self._interval = interval
        self.enabled = enabled
        self._tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = None

    def _stats(self):
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        speed = self.done_seconds / elapsed
        eta = (self.total - self.done_seconds) / speed if speed > 0 else float("inf")
        return speed, eta

    def update(self, seconds):
        self.done_files += 1
        self.done_seconds += seconds
        if not self.enabled:
            return
        speed, eta = self._stats()
        if self._tty:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=self.total / 3600, file=self.stream,
                                bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} h audio [{elapsed}<{remaining}{postfix}]")
            self.bar.set_postfix_str(f"{self.done_files}/{self.n_files} files, {speed:,.0f}x real time", refresh=False)
            self.bar.update(seconds / 3600)
        elif time.perf_counter() - self._last_log >= self._interval or self.done_files == self.n_files:
            self._last_log = time.perf_counter()
            print(f"fastspec convert: {self.done_files}/{self.n_files} files, "
                  f"{self.done_seconds / 3600:.3f}/{self.total / 3600:.3f} h audio, {speed:,.0f}x real time, "
                  f"ETA {eta:.0f} s", file=self.stream, flush=True)

    def message(self, text):
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ----- engines -----------------------------------------------------------------------------------
def _single_threaded():
    # Python threads only: numpy's OpenBLAS pool also shows in /proc/self/task, but OpenBLAS
    # re-initialises itself after fork (pthread_atfork), and fastspec runs no numba thread pool.
    return threading.active_count() == 1


def _start_method(method):
    import multiprocessing

    if method == "auto":
        # fork shares the parent's loaded kernels and costs ~nothing, but is only safe while the
        # parent has no other thread (a lock one holds would stay locked in the child).
        return "fork" if "fork" in multiprocessing.get_all_start_methods() and _single_threaded() else "forkserver"
    if method not in multiprocessing.get_all_start_methods():
        raise ParameterError(f"start_method={method!r} must be 'auto' or one of "
                             f"{', '.join(multiprocessing.get_all_start_methods())}")
    return method


CRASHED = "worker process died while converting this file"


def _run_local(tasks, job, workers, start_method, on_result):
    import multiprocessing

    method = _start_method(start_method)
    if method == "fork":
        _warm(job, job.sr)  # loaded once here, inherited by every worker
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["fastspec.batch", "fastspec.feature"])  # imported once, not per worker
    queue = [(src, dst) for src, dst, _ in reversed(tasks)]  # popped from the end: longest first
    while queue:
        lost = _run_pool(queue, job, workers, 4 * workers, ctx, on_result)
        # A worker died (a crash in a decoder, the OOM killer...): the files it may have been
        # on are redone one at a time, which names the one that kills its worker.
        while lost:
            lost.reverse()
            for src, dst in _run_pool(lost, job, 1, 1, ctx, on_result):
                on_result(src, dst, None, CRASHED)


def _run_pool(queue, job, workers, window, ctx, on_result):
    """Convert the tasks popped from ``queue`` on a process pool, ``window`` in flight at a time.

    Returns the tasks that were in flight if a worker died (the rest stay in ``queue``).
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_local_worker) as pool:
        pending = {}

        def submit():
            src, dst = queue.pop()
            pending[pool.submit(_task, job, src, dst)] = (src, dst)

        try:
            # A bounded window keeps the longest-first order and the queue's memory small.
            while queue and len(pending) < window:
                submit()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        return [task, *pending.values()]
                    on_result(*result)
                    if queue:
                        submit()
            return []
        except BaseException:
            # Stop the workers now rather than after their current file; their temporary
            # files are swept by the caller once they are gone.
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _bundles(tasks, n_workers):
    """Group longest-first tasks into bundles of about 1/16 of a worker's share of the audio.

    A Dask task costs milliseconds of scheduling (5 ms each here, against 3 ms to convert a
    10 s clip), so short files travel in bundles; a long file is a bundle of its own.
    """
    target = sum(t[2] for t in tasks) / (16 * max(1, n_workers))
    bundles, current, seconds = [], [], 0.0
    for src, dst, duration in tasks:
        if current and seconds + duration > target:
            bundles.append(current)
            current, seconds = [], 0.0
        current.append((src, dst))
        seconds += duration
    if current:
        bundles.append(current)
    return bundles


def _task_bundle(job, bundle):
    return [_task(job, src, dst) for src, dst in bundle]


def _run_dask(tasks, job, client, on_result):
    from distributed import as_completed

    client.run(_warm, job, job.sr)
    bundles = _bundles(tasks, sum(client.nthreads().values()))
    futures = {client.submit(_task_bundle, job, bundle, pure=False, priority=len(bundles) - i): bundle
               for i, bundle in enumerate(bundles)}
    try:
        for future in as_completed(futures):
            try:
                results = future.result()
            except Exception as err:  # e.g. KilledWorker: the bundle killed worker after worker
                results = [(src, dst, None, f"{type(err).__name__}: {err}") for src, dst in futures[future]]
            for result in results:
                on_result(*result)
    except BaseException:
        client.cancel(list(futures))
        raise


# ----- the public entry --------------------------------------------------------------------------
@dataclasses.dataclass
class Summary:
    """What a :func:`convert` run did.

    Attributes
    ----------
    converted : list of str
        Inputs converted in this run.
    skipped : list of str
        Inputs whose output was already complete.
    failed : list of (str, str)
        Inputs that could not be converted, with the reason.
    audio_seconds : float
        Audio converted in this run, in seconds.
    wall_seconds : float
        Duration of the run.
    worker_seconds : float
        Time the workers spent converting files (decode, compute, write), summed: the rest
        of ``workers * wall_seconds`` is start-up, scheduling and idle time.
    manifest : str
        Path of ``manifest.jsonl``.
    interrupted : bool
        The run was stopped (Ctrl-C, SIGTERM) before the end.
    """

    converted: list
    skipped: list
    failed: list
    audio_seconds: float
    wall_seconds: float
    manifest: str
    worker_seconds: float = 0.0
    interrupted: bool = False

    @property
    def realtime_factor(self):
        """Seconds of audio converted per second of wall time."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def __str__(self):
        text = (f"{len(self.converted)} converted, {len(self.skipped)} skipped (already done), "
                f"{len(self.failed)} failed; {self.audio_seconds / 3600:.3f} h audio in {self.wall_seconds:.2f} s "
                f"({self.realtime_factor:,.0f}x real time)")
        return text + (" -- interrupted, re-run to resume" if self.interrupted else "")


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Interrupted(Exception):
    pass


def _sigterm(signum, frame):
    raise _Interrupted()


def convert(inputs, outdir, *, feature="logmel", workers=None, client=None, scheduler=None, dask_local=False,
            glob=None, format="npy", manifest="jsonl", overwrite=False, sr=None, channels="mix",
            dtype="float32", block_frames=16384, start_method="auto", progress=True, log=None, **params):
    """Convert audio files to feature files, in parallel, resumable.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        Audio files, folders (searched recursively) and list files; see :func:`find_inputs`.
    outdir : str or os.PathLike
        Output folder; outputs mirror the inputs' tree under their common root.
    feature : str
        ``"spectrogram"``, ``"logspec"`` (``power_to_db`` of the power spectrogram), ``"mel"``,
        ``"logmel"`` (``melspectrogram(log="db")``) or ``"mfcc"``.
    workers : int, optional
        Local worker processes (or local Dask workers), one thread each. Default: the CPUs
        this process may run on.
    client : distributed.Client, optional
        Run on this Dask cluster instead (the output folder must be visible to its workers).
    scheduler : str, optional
        Address of a Dask scheduler (``"tcp://host:8786"``) to connect to.
    dask_local : bool
        Start a local ``dask.distributed`` cluster of ``workers`` processes for this run.
    glob : str, optional
        File-name pattern inside folders (default: every audio extension libsndfile reads).
    format : {"npy", "npz"}
        Output files.
    manifest : {"jsonl", "csv"}
        ``manifest.jsonl`` is always written (it is the resume record); ``"csv"`` adds
        ``manifest.csv``.
    overwrite : bool
        Convert every input again, even when its output is complete.
    sr : int, optional
        Resample every file to this rate (soxr); default: each file's own rate.
    channels : {"mix", "first", "all"}
        Mix to mono, keep the first channel, or keep all (output ``(n_channels, ...)``).
    dtype : {"float32", "float64"}
        Precision of the computation and the output (the seed features read float64 and
        return what :mod:`fastspec.compat` returns, as the notebook does).
    block_frames : int
        Files longer than this many frames are converted in blocks of it (a multiple of 256).
    start_method : {"auto", "fork", "forkserver", "spawn"}
        How local workers start. ``"auto"``: fork when this process is single-threaded
        (workers inherit the loaded kernels), forkserver otherwise.
    progress : bool
        Show a progress bar on a terminal, log lines otherwise.
    log : file, optional
        Where progress and failures go (default: stderr).
    **params
        The feature's parameters, named as in the library function (``n_fft``, ``hop_length``,
        ``n_mels``, ``fmin``, ``fmax``, ``preset``, ...); see :data:`FEATURES`.

    Returns
    -------
    Summary

    Raises
    ------
    ParameterError
        Unknown feature or parameter, bad option, missing input, two inputs mapping to one
        output, or an output folder made with other parameters (without ``overwrite``).
    KeyboardInterrupt
        After Ctrl-C, once the workers are stopped and partial files removed (the manifest
        keeps what finished; a re-run resumes).

    Examples
    --------
    >>> from fastspec.batch import convert
    >>> summary = convert("corpus/", "features/", feature="logmel", n_fft=1024, hop_length=256,
    ...                   n_mels=80, workers=2)  # doctest: +SKIP
    """
    t_start = time.perf_counter()
    from . import _validate

    _check_params(feature, params)
    if format not in FORMATS:
        raise ParameterError(f"format={format!r} must be 'npy' or 'npz'")
    if manifest not in ("jsonl", "csv"):
        raise ParameterError(f"manifest={manifest!r} must be 'jsonl' or 'csv'")
    if channels not in audio_io.CHANNELS:
        raise ParameterError(f"channels={channels!r} must be one of {', '.join(map(repr, audio_io.CHANNELS))}")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ParameterError(f"dtype={dtype!r} must be 'float32' or 'float64'")
    block_frames = _validate.positive_int(block_frames, "block_frames")
    if block_frames % _engine.MAX_BLOCK:  # so every block starts where the whole-file transform's chunks do
        raise ParameterError(f"block_frames={block_frames} must be a multiple of {_engine.MAX_BLOCK}")
    workers = _cpu_count() if workers is None else _validate.positive_int(workers, "workers")
    if sum(x is not None and x is not False for x in (client, scheduler, dask_local or None)) > 1:
        raise ParameterError("pass at most one of client, scheduler and dask_local")
    if feature.startswith("seed-"):
        dtype = "float64"  # the notebook's data.astype('float64')
    job = Job(feature, tuple(sorted(params.items())), None if sr is None else _validate.positive_int(sr, "sr"),
              channels, np.dtype(dtype).name, format, block_frames)
    _feature_for(job, job.sr or 22050)  # parameter errors now, not once per file

    outdir = os.path.abspath(os.fspath(outdir))
    mapping = _output_paths(find_inputs(inputs, glob=glob), outdir, format)
    os.makedirs(outdir, exist_ok=True)
    _sweep_temp(outdir)  # left by a run that was killed outright
    done = read_manifest(outdir)
    foreign = {e.get("job") for e in done.values()} - {job.signature}
    if foreign and not overwrite:
        raise ParameterError(f"{outdir} holds outputs made with other parameters; use another output "
                             "folder or overwrite=True (--overwrite)")
    if overwrite:
        done = {}

    summary = Summary([], [], [], 0.0, 0.0, os.path.join(outdir, MANIFEST))
    entries = dict(done)
    tasks = []
    for src, dst in mapping:
        rel = os.path.relpath(dst, outdir)
        if rel in done and os.path.exists(dst):
            summary.skipped.append(src)
            continue
        entries.pop(rel, None)
        try:
            duration = audio_io.info(src).duration
        except audio_io.AudioFileError as err:
            summary.failed.append((src, err.reason))
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tasks.append((src, dst, duration))
    tasks.sort(key=lambda t: -t[2])  # longest first: the workers end together

    report = _Progress(len(tasks), sum(t[2] for t in tasks), progress, log)
    for src, reason in summary.failed:
        report.message(f"fastspec convert: FAILED {src}: {reason}")
    described = job.describe()
    journal = open(summary.manifest, "a", encoding="utf-8")

    def on_result(src, dst, fields, reason):
        if fields is None:
            summary.failed.append((src, reason))
            report.message(f"fastspec convert: FAILED {src}: {reason}")
            return
        rel = os.path.relpath(dst, outdir)
        entry = {"input": src, "output": rel, "sr": fields["sr"], "hop_length": fields["hop_length"],
                 "duration": fields["duration"],
                 "shape": fields["shape"], "dtype": fields["dtype"], "params": described,
                 "sha256": fields["sha256"], "job": job.signature}
        entries[rel] = entry
        journal.write(json.dumps(entry) + "\n")
        journal.flush()
        summary.converted.append(src)
        summary.audio_seconds += fields["duration"]
        summary.worker_seconds += fields["seconds"]
        report.update(fields["duration"])

    in_main = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGTERM, _sigterm) if in_main else None
    try:
        if tasks:
            if client is None and (scheduler or dask_local):
                with _dask_client(scheduler, dask_local, workers) as own_client:
                    _run_dask(tasks, job, own_client, on_result)
            elif client is not None:
                _run_dask(tasks, job, client, on_result)
            else:
                _run_local(tasks, job, min(workers, len(tasks)), start_method, on_result)
    except (KeyboardInterrupt, _Interrupted):
        summary.interrupted = True
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, old_handler)
        journal.close()
        report.close()
        _sweep_temp(outdir)
        order = {os.path.relpath(dst, outdir): i for i, (_, dst) in enumerate(mapping)}
        _write_manifest(outdir, sorted(entries.values(), key=lambda e: order.get(e["output"], len(order))),
                        manifest == "csv")
        summary.wall_seconds = time.perf_counter() - t_start
    if summary.interrupted:
        raise KeyboardInterrupt(str(summary))
    return summary


def local_cluster(n_workers=None):
    """Start a ``distributed.LocalCluster`` suited to conversion: processes of one thread.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes
    glibc's mmap threshold: every array of more than 128 kB is then mapped and unmapped
    afresh, and faulting its pages in made each 10 s clip 50% slower (4.9 against 3.2 ms).
    These workers start without it. For a cluster of your own, leave that variable out of
    ``distributed.nanny.pre-spawn-environ`` the same way.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes. Default: the CPUs this process may run on.

    Returns
    -------
    distributed.LocalCluster
    """
    import dask
    from distributed import LocalCluster

    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        return LocalCluster(n_workers=n_workers or _cpu_count(), threads_per_worker=1, processes=True,
                            dashboard_address=None)


class _dask_client:
    """A ``distributed.Client`` on ``scheduler``, or on a local cluster started (and stopped) here."""

    def __init__(self, scheduler, local, workers):
        self._scheduler, self._local, self._workers = scheduler, local, workers
        self._cluster = None

    def __enter__(self):
        from distributed import Client

        if self._local:
            self._cluster = local_cluster(self._workers)
            self._client = Client(self._cluster)
        else:
            self._client = Client(self._scheduler)
        return self._client

    def __exit__(self, *exc):
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
