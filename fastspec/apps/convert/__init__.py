"""Batch conversion: a tree of recordings in, one feature file per recording out.

:func:`convert` finds the audio files (:mod:`.inputs`), skips those already converted
(:mod:`.manifest`), and converts the rest (:mod:`.job`) on local worker processes (default) or a
``dask.distributed`` cluster (:mod:`.engines`), reporting as it goes (:mod:`.progress`). The
features and their parameters are those of :mod:`fastspec.parameters` (:mod:`.features`).

Each conversion runs on one thread (no oversubscription) with reproducible FFT plans (FFTW plans
from ``FFTW_ESTIMATE``, no accumulated wisdom; :func:`deterministic_fft`), set for the converting
thread alone, so outputs are byte-identical whichever engine, worker process or worker thread
computed them; on a 2-core AMD EPYC VM, ESTIMATE plans run as fast as MEASURE ones for these
sizes (1.67 against 1.74 ms per 10 s log-mel) and cost no planning.

Every output is written to a temporary name and renamed when complete; ``manifest.jsonl`` in
the output folder gets one JSON line per finished file (input, output, sample rate, hop
length, duration, shape, dtype, feature parameters, SHA-256, the input's size and modification
time, the output's size). A re-run skips a file only while its manifest line, its input and its
output all still agree (:func:`.manifest.still_valid`); ``verify=True`` also re-hashes outputs.
"""

import dataclasses
import errno
import functools
import json
import os
import signal
import threading
import time

import numpy as np

from ... import __version__, _engine, _validate
from ... import io as audio_io
from ..._validate import ParameterError
from ...parameters import FEATURES
from ...store import MANIFEST, read_manifest
from . import stores
from .engines import CRASHED, Unit, cpu_count, dask_client, local_cluster, run_dask, run_local
from .features import resolved_params
from .inputs import find_inputs, output_paths, relative_to
from .job import AXES, UNITS, Job, convert_file, convert_unit, deterministic_fft, feature_for
from .manifest import FAILURES, lock_folder, still_valid, sweep_temp, write_failures, write_manifest
from .progress import Progress

__all__ = ["CRASHED", "FEATURES", "FORMATS", "MANIFEST", "DiskFullError", "Job", "Summary", "convert", "convert_file",
           "deterministic_fft", "find_inputs", "local_cluster", "read_manifest"]

FORMATS = ("npy", "npz", "shards", "zarr")


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
    failures : str
        Path of ``failures.jsonl``: this run's failures, one JSON line each (``input``, ``output``,
        ``reason``, ``kind``: unreadable, parameters, os-error, disk-full, crashed or error).
    interrupted : bool
        The run was stopped (Ctrl-C, SIGTERM) before the end.
    """

    converted: list
    skipped: list
    failed: list
    audio_seconds: float
    wall_seconds: float
    manifest: str
    failures: str = ""
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


class _Interrupted(Exception):
    pass


def _sigterm(signum, frame):
    raise _Interrupted()


def convert(inputs, outdir, *, feature="logmel", workers=None, client=None, scheduler=None, dask_local=False,
            glob=None, format="npy", manifest="jsonl", overwrite=False, sr=None, channels="mix",
            dtype="float32", block_frames=16384, start_method="auto", progress=True, log=None, verify=False,
            keep_extension=False, storage=None, compression=None, shard_items=2500, **params):
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
    format : {"npy", "npz", "shards", "zarr"}
        One ``.npy`` (``.npz``) file per input; or a feature store for large corpora:
        WebDataset tar shards (``shard-000000.tar``, ``KEY.npy`` and ``KEY.json`` per item), or one
        Zarr v3 store (``zarr>=3``, the ``zarr`` extra). :func:`fastspec.open_features` reads all four.
    manifest : {"jsonl", "csv"}
        ``manifest.jsonl`` is always written (it is the resume record); ``"csv"`` adds
        ``manifest.csv``.
    overwrite : bool
        Convert every input again, even when its output is complete.
    keep_extension : bool
        Name outputs ``x.wav.npy`` instead of ``x.npy`` (for trees holding ``x.wav`` and ``x.flac``).
    verify : bool
        On resume, also hash each finished output against the manifest's SHA-256 (reads every
        output). Without it, an output is kept when its input's size and modification time, its
        own size and its ``.npy`` header are as recorded; otherwise it is redone.
    sr : int, optional
        Resample every file to this rate (soxr); default: each file's own rate.
    channels : {"mix", "first", "all"}
        Mix to mono, keep the first channel, or keep all (output ``(n_channels, ...)``).
    dtype : {"float32", "float64"}
        Precision of the computation and the output. The seed features compute in float64, as
        the notebook does, and store their result in this dtype.
    block_frames : int
        Files longer than this many frames are converted in blocks of it (a multiple of 256).
    start_method : {"auto", "fork", "forkserver", "spawn"}
        How local workers start. ``"auto"``: fork when this process is single-threaded
        (workers inherit the loaded kernels), forkserver otherwise.
    storage : {None, "float16"}
        Store the values in half precision (computed in ``dtype``); default: in ``dtype``.
    compression : {None, "zstd", "gzip"}
        Compress a store: Zarr chunks with zstd or gzip; shards as ``.tar.gz`` (gzip only, which
        WebDataset streams as it is).
    shard_items : int
        Items per shard at most (default 2500); a shard also closes at about 1 GB. A Zarr store's
        units of work take at most as many, and at most 1/8 of a worker's share.
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
        Unknown feature or parameter, bad option, missing input, no audio input at all, inputs
        mapping to one output (all listed), or an output folder made with other parameters (without
        ``overwrite``).
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
    job = _job(feature, params, format, manifest, channels, dtype, block_frames, sr, storage, compression,
               shard_items)
    workers = cpu_count() if workers is None else _validate.positive_int(workers, "workers")
    if sum(x is not None and x is not False for x in (client, scheduler, dask_local or None)) > 1:
        raise ParameterError("pass at most one of client, scheduler and dask_local")

    outdir = os.path.abspath(os.fspath(outdir))
    found = find_inputs(inputs, glob=glob)
    if not found:
        raise ParameterError(f"no audio files found in {inputs!r}" + (f" matching glob={glob!r}" if glob else ""))
    mapping = output_paths(found, outdir, format, keep_extension)
    os.makedirs(outdir, exist_ok=True)
    with lock_folder(outdir):  # a second run into this folder is refused, not interleaved
        sweep_temp(outdir)  # left by a run that was killed outright
        summary = Summary([], [], [], 0.0, 0.0, os.path.join(outdir, MANIFEST), os.path.join(outdir, FAILURES))
        previous = read_manifest(outdir)
        done = _finished(previous, outdir, job, overwrite)
        store = stores.writer_for(job, outdir)
        if store is not None:
            feat, rows = stores.probe_rows(job, job.probe_sr, _channels_of(mapping) if channels == "all" else 1)
            if job.format == "zarr":
                store.open(rows)
        tasks, early, dropped = _pending(mapping, outdir, done, summary, verify, store)
        if store is not None:
            units, tasks, early = _store_units(store, job, mapping, done, tasks, early, dropped, summary, verify,
                                               feat, rows, workers)
            work, plan = functools.partial(stores.write_unit, outdir=outdir), store.plan
        else:
            tasks.sort(key=lambda t: -t[2])  # largest first: the workers end together
            units = Unit.files([(src, dst, size) for src, dst, size, _ in tasks], workers)
            work, plan = convert_unit, _no_plan
        report = Progress(len(tasks), sum(t[2] for t in tasks), progress, log)
        journal = _Journal(outdir, job, done, previous, summary, report, store)
        for failure in early:
            journal.on_result(*failure)
        in_main = threading.current_thread() is threading.main_thread()
        old_handler = signal.signal(signal.SIGTERM, _sigterm) if in_main else None
        try:
            if units:
                if client is None and (scheduler or dask_local):
                    with dask_client(scheduler, dask_local, workers) as own_client:
                        run_dask(units, job, own_client, journal.on_result, work, plan)
                elif client is not None:
                    run_dask(units, job, client, journal.on_result, work, plan)
                else:
                    run_local(units, job, min(workers, len(units)), start_method, journal.on_result,
                              report.message, work, plan)
        except (KeyboardInterrupt, _Interrupted):
            summary.interrupted = True
        except _DiskFull:
            pass  # recorded by the journal; raised below once the manifest is safe
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, old_handler)
            journal.close(mapping, manifest == "csv")
            report.close()
            summary.wall_seconds = time.perf_counter() - t_start
    if summary.interrupted:
        raise KeyboardInterrupt(str(summary))
    if journal.disk_full:
        raise DiskFullError(errno.ENOSPC, f"{journal.disk_full}; stopped early: {summary}. Free some space and "
                                          "re-run to resume", outdir)
    return summary


class DiskFullError(OSError):
    """The output folder's disk (or quota) filled up: :func:`convert` stopped early, outputs intact."""


class _DiskFull(Exception):
    pass


def _job(feature, params, format, manifest, channels, dtype, block_frames, sr, storage, compression, shard_items):
    """Check the run's options and return its :class:`Job` (parameter errors now, not once per file)."""
    if format not in FORMATS:
        raise ParameterError(f"format={format!r} must be one of {', '.join(map(repr, FORMATS))}")
    if storage not in (None, "float16"):
        raise ParameterError(f"storage={storage!r} must be None or 'float16'")
    allowed = {"zarr": (None, "zstd", "gzip"), "shards": (None, "gzip")}.get(format, (None,))
    if compression not in allowed:
        raise ParameterError(f"compression={compression!r} does not apply to format={format!r}; it takes "
                             f"{', '.join(map(repr, allowed))}")
    shard_items = _validate.positive_int(shard_items, "shard_items")
    if format == "zarr":
        try:
            import zarr
        except ImportError:
            raise ParameterError("format='zarr' needs zarr>=3: pip install 'fastspec[zarr]'") from None
        if int(zarr.__version__.split(".")[0]) < 3:
            raise ParameterError(f"format='zarr' needs zarr>=3 (zarr {zarr.__version__} is installed)")
        if feature.startswith("seed-"):
            raise ParameterError(f"feature={feature!r} cannot go in a Zarr store (its frame count is known only once "
                                 "computed); use format='shards' or 'npy'")
    if manifest not in ("jsonl", "csv"):
        raise ParameterError(f"manifest={manifest!r} must be 'jsonl' or 'csv'")
    if channels not in audio_io.CHANNELS:
        raise ParameterError(f"channels={channels!r} must be one of {', '.join(map(repr, audio_io.CHANNELS))}")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ParameterError(f"dtype={dtype!r} must be 'float32' or 'float64'")
    block_frames = _validate.positive_int(block_frames, "block_frames")
    if block_frames % _engine.MAX_BLOCK:  # so every block starts where the whole-file transform's chunks do
        raise ParameterError(f"block_frames={block_frames} must be a multiple of {_engine.MAX_BLOCK}")
    # Resolved, so that a default given explicitly (n_mels=128) is the same job as one left out.
    job = Job(feature, tuple(sorted(resolved_params(feature, params).items())),
              None if sr is None else _validate.positive_int(sr, "sr"), channels, np.dtype(dtype).name, format,
              block_frames, storage, compression, shard_items)
    feature_for(job, job.probe_sr)  # parameter errors now, not once per file
    return job


def _finished(done, outdir, job, overwrite):
    """The manifest entries ``done`` of finished outputs that this run keeps."""
    signatures = {}  # by recorded job: resolving its parameters costs 50 us, for 10^5 entries alike
    for entry in done.values():
        recorded = (entry.get("job") or json.dumps(entry.get("params"), sort_keys=True), entry.get("format"),
                    os.path.splitext(entry.get("output", ""))[1])
        if recorded not in signatures:
            signatures[recorded] = _signature_of(entry)
    foreign = set(signatures.values()) - {job.signature}
    if foreign and not overwrite:
        raise ParameterError(f"{outdir} holds outputs made with other parameters; use another output "
                             "folder or overwrite=True (--overwrite)")
    return {} if overwrite else done


def _signature_of(entry):
    """The job signature of a manifest entry, re-resolved from its recorded parameters.

    Entries of older versions recorded only the parameters given; resolving them again makes
    ``n_mels=128`` given and left out the same job.
    """
    params = dict(entry.get("params") or {})
    try:
        feature = params.pop("feature")
        sr, channels, dtype = params.pop("sr"), params.pop("channels"), params.pop("dtype")
        storage = params.pop("storage", None)
        fmt = entry.get("format") or os.path.splitext(entry["output"])[1].lstrip(".")
        return Job(feature, tuple(sorted(resolved_params(feature, params).items())), sr, channels, dtype, fmt,
                   0, storage).signature
    except (KeyError, TypeError, ParameterError):
        return entry.get("job")


def _pending(mapping, outdir, done, summary, verify, store=None):
    """The ``(src, dst, size, info)`` tasks still to do, the inputs that fail already, and the entries to redo.

    Skipped inputs go to ``summary``; the failures are ``(src, dst, None, reason, kind)`` results;
    the entries to redo (no longer valid) are taken out of ``done``. ``info`` (the audio header)
    is read only for a Zarr store, which plans its rows from it: elsewhere the workers read the
    headers (46 us a file, and a disk seek when not cached, that the run's one process would pay
    for every file), and an unreadable file fails there, with the same report.
    """
    tasks, failures, dropped = [], [], []
    headers = store is not None and store.needs_headers
    folders = set()
    for src, dst in mapping:
        rel = dst if store else relative_to(dst, outdir)
        entry = done.get(rel)
        if entry is not None:
            if store.still_valid(entry, src, verify) if store else still_valid(entry, src, dst, verify):
                summary.skipped.append(src)
                continue
            dropped.append(done.pop(rel))  # redone: its old entry goes
        try:
            info = audio_io.info(src) if headers else None
            size = os.path.getsize(src)
        except audio_io.AudioFileError as err:
            failures.append((src, dst, None, err.reason, "unreadable"))
            continue
        except OSError as err:  # gone since it was found
            failures.append((src, dst, None, f"cannot read: {err.strerror}", "unreadable"))
            continue
        folder = None if store is not None else os.path.dirname(dst)
        if folder is not None and folder not in folders:
            try:
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            except OSError as err:  # e.g. a read-only subfolder: only the files under it fail
                failures.append((src, dst, None, f"cannot create the output folder: {err}", "os-error"))
                continue
        tasks.append((src, dst, size, info))
    return tasks, failures, dropped


def _store_units(store, job, mapping, done, tasks, early, dropped, summary, verify, feat, rows, workers):
    """A store's units of work (consecutive inputs each), after the store dropped what it must redo.

    Returns ``(units, tasks, early)``: ``tasks`` and ``early`` grown by the items the store's
    clean-up sends back (the other items of a shard that had to go).
    """
    requeue = set(store.prepare(done, dropped, feat, rows))
    if requeue:
        again = [(src, key) for src, key in mapping if key in requeue]
        for src, key in again:
            done.pop(key, None)
            summary.skipped.remove(src)
        more, more_early, _ = _pending(again, store.outdir, {}, summary, verify, store)
        position = {key: i for i, (_, key) in enumerate(mapping)}
        tasks = sorted(tasks + more, key=lambda t: position[t[1]])  # in input order: consecutive items together
        early = early + more_early
    planned = [(src, key, size, stores.planned_frames(job, info, size)) for src, key, size, info in tasks]
    return store.units(planned, workers), tasks, early


def _channels_of(mapping):
    """The channel count of the first readable input (a store's rows with ``channels="all"``)."""
    for src, _ in mapping:
        try:
            return audio_io.info(src).channels
        except audio_io.AudioFileError:
            continue
    return 1


def _no_plan(units):
    pass


class _Journal:
    """Records each finished file: a line appended to the manifest at once, the summary, the progress.

    ``close`` rewrites the manifest whole, in input order, from the entries kept and those added,
    and writes ``failures.jsonl``: one line per input that failed in this run (path, output, reason,
    kind). An input that fails keeps the output and manifest line an earlier run made (an
    ``overwrite`` run replaces them only when it succeeds). A full disk stops the run.
    """

    def __init__(self, outdir, job, done, previous, summary, report, store=None):
        self._outdir, self._job, self._summary, self._report = outdir, job, summary, report
        self._store = store
        self._added = 0
        self._lines = {}  # the lines this run appended, by output: the manifest's rewrite reuses them
        self._described = job.describe()
        self._params_json = json.dumps(self._described)
        self._entries = dict(done)
        self._previous = previous
        self.failures = []  # (src, dst, reason, kind)
        self.disk_full = None
        self._notices = set()
        self._file = open(summary.manifest, "a", encoding="utf-8")

    def on_result(self, src, dst, fields, reason, kind="error"):
        summary = self._summary
        if fields is None:
            summary.failed.append((src, reason))
            self.failures.append((src, dst, reason, kind))
            if not (kind == "disk-full" and self.disk_full):  # the files in flight then fail alike
                self._report.message(f"fastspec convert: FAILED {src}: {reason}")
            rel = self._rel(dst)
            kept = self._previous.get(rel)
            if kept is not None and (self._store.in_store(kept) if self._store else os.path.exists(dst)):
                self._entries[rel] = kept
            if kind == "disk-full" and self.disk_full is None:
                self.disk_full = f"disk full writing {dst}"
                self._report.message(f"fastspec convert: {self.disk_full}; stopping")
                raise _DiskFull()
            return
        rel = self._rel(dst)
        entry = {"input": src, "output": rel, "sr": fields["sr"], "hop_length": fields["hop_length"],
                 "duration": fields["duration"], "shape": fields["shape"], "dtype": fields["dtype"],
                 "params": self._described, "sha256": fields["sha256"], "job": self._job.signature,
                 "input_file": fields["input"], "output_bytes": fields["output_bytes"], "axes": AXES,
                 "units": UNITS[self._job.feature], "fastspec_version": __version__}
        if self._store is not None:  # where the item is in the store
            entry["format"] = self._job.format
            entry.update({k: fields[k] for k in stores.LOCATION if k in fields})
        for text in fields["notices"]:  # the feature's own warnings: each said once per run
            if text not in self._notices:
                self._notices.add(text)
                self._report.message(f"fastspec convert: WARNING: {text}")
        if fields["warnings"]:  # converted, but from a damaged file: said now and kept with the entry
            entry["warnings"] = fields["warnings"]
            for text in fields["warnings"]:
                self._report.message(f"fastspec convert: WARNING {src}: {text}")
        self._entries[rel] = entry
        self._added += 1
        # The parameters, alike in every line of a run, encoded once: a line costs the run's
        # process 25 us, not 45 (at 10^5 clips, seconds of its share of the cores).
        rest = json.dumps({k: v for k, v in entry.items() if k != "params"})
        line = self._lines[rel] = f'{rest[:-1]}, "params": {self._params_json}}}\n'
        self._file.write(line)
        self._file.flush()
        summary.converted.append(src)
        summary.audio_seconds += fields["duration"]
        summary.worker_seconds += fields["seconds"]
        self._report.update(fields["duration"], fields["input"]["size"])

    def _rel(self, dst):
        return dst if self._store else relative_to(dst, self._outdir)

    def close(self, mapping, csv_too):
        self._file.close()
        sweep_temp(self._outdir)
        order = {self._rel(dst): i for i, (_, dst) in enumerate(mapping)}
        entries = sorted(self._entries.values(), key=lambda e: order.get(e["output"], len(order)))
        # A run that changed nothing leaves the manifest as it is (a resume scan of 10^5 entries
        # would spend a second encoding them again).
        unchanged = not self._added and list(self._previous) == [e["output"] for e in entries] and all(
            self._previous[e["output"]] is e for e in entries)
        if not unchanged or (csv_too and not os.path.exists(os.path.join(self._outdir, "manifest.csv"))):
            write_manifest(self._outdir, entries, csv_too, self._lines)
        if self._store is not None and not (unchanged and self._store.complete()):
            self._store.close(entries)
        write_failures(self._outdir, [
            {"input": src, "output": self._rel(dst), "reason": reason, "kind": kind}
            for src, dst, reason, kind in self.failures])
