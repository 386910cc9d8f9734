"""One file's conversion, as a worker runs it: the :class:`Job`, whole or blocked, and its FFT setup.

Long files are read and converted in blocks of frames: each block's samples overlap the next
by the frame context, frames are computed from exactly the samples (and edge padding) the
whole-file transform would use, and blocks start on multiples of the STFT's internal chunk so
every frame goes through the same FFT plan as in one call. Results are stored as they come
(:class:`fastspec.io.NpyWriter`); ``top_db`` clipping, which needs the whole file's maximum,
then rewrites in place the stored blocks it changes. So memory stays at a few blocks for any
length (a 2-hour 44.1 kHz file: 222 MB peak), and the output equals the whole-file feature
bit for bit.
"""

import dataclasses
import errno
import functools
import hashlib
import json
import os
import signal
import threading
import time

import numpy as np

from ... import _config
from ... import io as audio_io
from ..._validate import ParameterError
from .features import Feature

AXES = "(channels, bins, frames)"
"""The layout of every output: ``(n_bins, n_frames)``, with a leading channel axis for ``channels="all"``."""

UNITS = {"spectrogram": "|STFT| ** power", "logspec": "dB of the power spectrogram (power_to_db, ref 1)",
         "mel": "mel energies (|STFT| ** power through the filterbank)", "logmel": "dB of the mel energies",
         "mfcc": "cepstral coefficients (DCT of the dB mel spectrogram)",
         "seed-pretty": "log10 magnitude, 0 at the peak, floored at -thresh (the seed's pretty_spectrogram)",
         "seed-mel": "the seed's make_mel of the pretty spectrogram"}
"""What each feature's values are."""


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
    format : {"npy", "npz", "shards", "zarr"}
    block_frames : int
        Frames per block for long files (a multiple of 256); shorter files are done whole.
    storage : str or None
        ``"float16"``: values stored in half precision (computed in ``dtype``). None: ``dtype``.
    compression : str or None
        The stores' compression (``"zstd"``, ``"gzip"``), None for none.
    shard_items : int
        Items per shard (``shards``) or per written region (``zarr``) at most.
    """

    feature: str
    params: tuple
    sr: int | None
    channels: str
    dtype: str
    format: str
    block_frames: int
    storage: str | None = None
    compression: str | None = None
    shard_items: int = 1000

    @property
    def storage_dtype(self):
        """The dtype outputs are stored in."""
        return self.storage or self.dtype

    @property
    def probe_sr(self):
        """A rate to build the feature at before any file is read (checks, warm-up).

        ``sr``, else one every frequency parameter fits: each file's own rate is checked when the
        file is read, so ``fmax=16000`` is not refused for an assumed 22050 Hz.
        """
        return self.sr or max(22050, 2 * float(dict(self.params).get("fmax") or 0.0))

    def metadata(self, sr, hop_length, duration):
        """What a feature file carries about itself (an ``.npz`` inline; the manifest for both).

        ``kind`` (the feature's name), ``params`` (every resolved parameter, as JSON), ``sr``, ``hop_length``,
        ``duration`` (of the input, seconds),
        ``axes``, ``units``, ``dtype`` and the ``fastspec_version`` that wrote it.
        """
        from ... import __version__

        return {"kind": self.feature, "params": json.dumps(self.describe()), "sr": sr, "hop_length": hop_length,
                "duration": duration, "axes": AXES, "units": UNITS[self.feature], "dtype": self.dtype,
                "fastspec_version": __version__}

    @functools.cached_property
    def signature(self):
        """Hash of everything that determines an output's content."""
        fields = [self.feature, self.params, self.sr, self.channels, self.dtype, self.format]
        if self.storage is not None:  # only when set: the signatures of earlier runs stay valid
            fields.append(["storage", self.storage])
        blob = json.dumps(fields, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self):
        """The parameters as a JSON-ready dict (for the manifest)."""
        described = {"feature": self.feature, **{k: _jsonable(v) for k, v in self.params}, "sr": self.sr,
                     "channels": self.channels, "dtype": self.dtype}
        return described if self.storage is None else dict(described, storage=self.storage)


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


def _die_with_parent(run_pid):
    # Linux: a worker whose parent is killed (SIGKILL) gets SIGTERM instead of running on.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    # That is not enough: under forkserver the parent is the fork server, which outlives a killed
    # run; PDEATHSIG follows the parent *thread*, and other systems have none (kill -9 left the
    # workers of both forkserver and spawn running). A thread watches the run's own process.
    threading.Thread(target=_watch, args=(run_pid,), name="fastspec-watch-run", daemon=True).start()


def _watch(pid):
    while True:
        time.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)  # the run is gone: its temporary files are swept by the next run
        except PermissionError:  # alive, under another user
            pass
        if _is_zombie(pid):  # killed, not yet reaped: its parent may be waiting for our pipes to close
            os._exit(1)


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def init_local_worker(run_pid):
    """Set up a local worker process of the run ``run_pid``: signals, and death with the run."""
    # The parent handles Ctrl-C and stops us; SIGTERM (from it, or on its death) ends us at
    # once, the parent sweeping our temporary file. A forked worker inherits the parent's
    # handlers, so both are set explicitly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(run_pid)


def feature_for(job, sr):
    """The job's :class:`Feature` at ``sr``, built once per worker."""
    key = (job, sr)
    feat = _worker_state.get(key)
    if feat is None:
        feat = Feature(job.feature, job.params, sr, job.dtype)
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
        :func:`compute_file`'s fields, and ``sha256`` and ``output_bytes`` of the file written.

    Raises
    ------
    fastspec.io.AudioFileError
        Unreadable input (path and reason).
    ParameterError
        Parameters that do not fit this file (e.g. ``fmax`` above its Nyquist frequency).
    """
    with _computed(job, src, dst if job.format == "npy" else None, os.path.dirname(dst)) as (result, fields, extra):
        if isinstance(result, str):  # a long file, already stored in C order at ``result``
            if job.format == "npy":
                digest = audio_io.sha256_file(dst)
            else:
                audio_io.npy_to_npz(result, dst, **extra)
                digest = audio_io.sha256_file(dst)
        else:
            digest = audio_io.save_feature(dst, result, **extra) if job.format == "npz" else \
                audio_io.save_feature(dst, result)
    return dict(fields, sha256=digest, output_bytes=os.path.getsize(dst))


def compute_file(job, src, scratch_dir):
    """Compute one audio file's feature in memory, as :func:`convert_file` would store it.

    Parameters
    ----------
    job : Job
    src : str
        Audio file.
    scratch_dir : str
        Folder for a long file's blocks (see :mod:`.job`); nothing is left in it.

    Returns
    -------
    array : numpy.ndarray
        C order, in the job's storage dtype. A long file's is a read-only memory map of a file
        already removed.
    fields : dict
        ``sr``, ``hop_length``, ``duration`` (of the input), ``shape``, ``dtype``, ``input``
        (:func:`input_fingerprint`), ``warnings`` (what was wrong with the input's header,
        :attr:`fastspec.io.AudioInfo.problems`) and ``notices`` (the feature's own warnings).
    """
    with _computed(job, src, None, scratch_dir) as (result, fields, _):
        if isinstance(result, str):
            array = np.load(result, mmap_mode="r", allow_pickle=False)
            audio_io.remove_if_exists(result)  # the map keeps the data until it is dropped
            return array, fields
        return result, fields


class _computed:
    """Context: ``(result, fields, extra)`` of one file; ``result`` an array, or the path of a C-order ``.npy``.

    A long file's blocks are stored at ``blocked_path`` (default: a temporary name in
    ``scratch_dir``, removed on exit).
    """

    def __init__(self, job, src, blocked_path, scratch_dir=None):
        self._job, self._src, self._path, self._scratch = job, src, blocked_path, scratch_dir
        self._temp = None

    def __enter__(self):
        job, src = self._job, self._src
        # The input as it was when read: a re-run redoes the file if it has changed since.
        fingerprint = input_fingerprint(src)
        # A short file is read in one go, a long one in chunks well below a block of frames.
        # The seed features read float64, as the notebook does (data.astype('float64')).
        read_dtype = "float64" if job.feature.startswith("seed-") else job.dtype
        with audio_io.AudioStream(src, sr=job.sr, channels=job.channels, dtype=read_dtype,
                                  block_size=max(1 << 16, job.block_frames * 16)) as stream:
            feat = feature_for(job, stream.sr)
            lead = (stream.n_channels,) if job.channels == "all" else ()
            n = stream.n_samples
            # What an .npz carries about itself (0.05 ms of JSON: only for .npz).
            extra = job.metadata(stream.sr, feat.hop_length, stream.info.duration) if job.format == "npz" else {}
            if n == 0:
                result = feat.empty(lead)
            elif not feat.blockable or feat.n_frames(n) <= job.block_frames:
                blocks = list(stream)
                y = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=-1)
                result = feat.whole(y)
            else:
                result = self._path
                if result is None:
                    base = os.path.join(self._scratch or os.path.dirname(src), os.path.basename(src))
                    result = self._temp = audio_io.temp_path(base) + ".npy"
                shape = _convert_blocks(feat, stream, lead, job, result)
            if not isinstance(result, str):
                shape = result.shape
                # C order (mel and MFCC results are transposed views), in the storage dtype.
                result = np.ascontiguousarray(result, dtype=job.storage_dtype)
            fields = {"sr": stream.sr, "hop_length": feat.hop_length, "duration": stream.info.duration,
                      "shape": list(shape), "dtype": job.storage_dtype, "input": fingerprint,
                      "warnings": list(stream.info.problems), "notices": list(feat.notices)}
        return result, fields, extra

    def __exit__(self, *exc):
        if self._temp is not None:
            audio_io.remove_if_exists(self._temp)


def input_fingerprint(path):
    """``{"size", "mtime_ns"}`` of a file: what a re-run compares to tell a changed input."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


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
            segment = np.pad(segment, widths, mode=tf.pad_mode)  # numpy.pad's mode names are fastspec's
        yield segment


def _convert_blocks(feat, stream, lead, job, dst):
    """Blocked conversion of a long file into the C-order ``.npy`` ``dst`` (atomically); returns its shape.

    Blocks of frames go to a frames-major scratch file as computed. A ``top_db`` clip then
    rewrites, in place, the blocks that have values below the whole file's maximum less
    ``top_db``. MFCCs, whose DCT comes after that clip, take a second pass into another scratch
    file. The output is then copied from it in C order.
    """
    total = feat.n_frames(stream.n_samples)
    scratch = []  # frames-major files under temporary names (swept if the run is killed)

    def scratch_file(tag):
        scratch.append(audio_io.temp_path(f"{dst}.{tag}") + ".npy")
        return scratch[-1]

    writer = None
    try:
        top = -np.inf
        for segment in _segments(feat, stream, job.block_frames):
            rows = feat.frames(segment)
            if writer is None:
                writer = audio_io.NpyWriter(scratch_file("frames"), lead, rows.shape[-2], total, rows.dtype)
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
                    writer = audio_io.NpyWriter(scratch_file("post"), lead, rows.shape[-2], total, rows.dtype)
                writer.write(rows)
            path = writer.commit()
        shape = lead + (rows.shape[-2], writer.n_frames)
        writer = None
        # Stored in C order, as np.save stores the whole-file array: the blocks were frames-major.
        audio_io.c_order_copy(path, dst, job.block_frames, dtype=job.storage_dtype)
        return shape
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        for name in scratch:
            audio_io.remove_if_exists(name)


def run_task(job, src, dst):
    """Run :func:`convert_file` in a worker: ``(src, dst, fields, reason, kind)``.

    A failure comes back as a reason and its kind (:func:`failure_kind`), not an exception: one
    bad file must not stop the batch.
    """
    t0 = time.perf_counter()
    try:
        with deterministic_fft():
            fields = convert_file(job, src, dst)
    except Exception as err:
        return failure(src, dst, err)
    fields["seconds"] = time.perf_counter() - t0
    return src, dst, fields, None, None


def convert_unit(job, unit):
    """Convert a :class:`.engines.Unit` of ``(src, dst)`` files, one output file each; return their results."""
    return [run_task(job, src, dst) for src, dst in unit.items]


def failure(src, dst, err):
    """The result of a file that failed with ``err``: ``(src, dst, None, reason, kind)``."""
    return src, dst, None, _reason(err, src), failure_kind(err)


def failure_kind(err):
    """``"unreadable"``, ``"parameters"``, ``"disk-full"``, ``"os-error"`` or ``"error"``."""
    if isinstance(err, audio_io.AudioFileError):
        return "unreadable"
    if isinstance(err, ParameterError):
        return "parameters"
    if isinstance(err, OSError):
        return "disk-full" if err.errno in DISK_FULL else "os-error"
    return "error"


DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
"""Errors that end a run: every later file would fail the same way."""


def _reason(err, src):
    text = str(err)
    if isinstance(err, audio_io.AudioFileError):
        return err.reason
    return f"{type(err).__name__}: {text.replace(src + ': ', '')}"


def warm(job, sr):
    """Load the numba kernels and build the plans of this job.

    Runs in a worker, or in the parent before forking so that every worker inherits them.
    """
    feat = feature_for(job, sr or job.probe_sr)
    lead = (2,) if job.channels == "all" else ()
    with deterministic_fft():
        feat.whole(np.full(lead + (4 * feat.n_fft,), 0.1, dtype=job.dtype))


