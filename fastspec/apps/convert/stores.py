"""Writing a conversion into a feature store: WebDataset tar shards or one Zarr v3 store.

The layouts are those :mod:`fastspec.store` reads. Work goes out in units of consecutive inputs
(at most ``shard_items``, and about ``SHARD_BYTES`` of features): a unit writes one shard, or one
region of the Zarr store's ``features`` rows, that no other unit touches, so workers (local
processes, Dask workers, Dask worker threads) write in parallel with no lock. A shard is written
under a temporary name and renamed when complete; a region is recorded only when its worker has
written it. The manifest (``manifest.jsonl``) stays the index of record: a killed run loses at
most the units in flight, and a re-run redoes them. Shards and regions that no manifest line refers
to (a killed run's) are removed, or never read.
"""

import hashlib
import json
import math
import os
import tarfile
import time

import numpy as np

from ... import io as audio_io
from ... import store as layout
from ..._validate import ParameterError
from .engines import Unit, consecutive_groups
from .job import AXES, UNITS, compute_file, deterministic_fft, failure, feature_for
from .manifest import input_unchanged

SHARD_BYTES = 1 << 30
"""Features per unit at most (estimated from the inputs' lengths): WebDataset's advice is 0.1-1 GB shards."""
LOCATION = ("shard", "offset", "bytes", "shard_bytes", "start", "n_frames")
"""The fields of a manifest line that say where its item is (a shard and byte range, or rows)."""
CHUNK_BYTES = 1 << 18
"""Target size of a Zarr chunk (rows of ``features``): one random item costs about one chunk read."""


def writer_for(job, outdir):
    """The store writer of ``job.format`` (``shards`` or ``zarr``), or None for one file per output."""
    return {"shards": ShardWriter, "zarr": ZarrWriter}.get(job.format, lambda *a: None)(job, outdir)


class _StoreWriter:
    """What the run asks of a store: checks before it, planning the units, the index after it."""

    def __init__(self, job, outdir):
        self.job, self.outdir = job, outdir

    def still_valid(self, entry, src, verify):
        """Whether ``entry``'s item is in the store and made from ``src`` as it is now."""
        return input_unchanged(entry, src) and self.in_store(entry) and (not verify or self._hash(entry) ==
                                                                           entry.get("sha256"))

    def units(self, tasks, workers):
        """Group ``(src, key, input_bytes, planned_frames)`` tasks, in order, into :class:`Unit` s.

        A shard is a unit; a Zarr store's units are smaller (at most 1/8 of a worker's share), so
        that the workers finish together.
        """
        row_bytes = self.row_bytes
        most = self.job.shard_items
        if self.job.format == "zarr":
            most = min(most, max(64, -(-len(tasks) // (8 * workers))))
        groups = consecutive_groups(tasks, [t[3] * row_bytes for t in tasks], SHARD_BYTES, most)
        return [Unit(tuple((src, key, frames) for src, key, _, frames in group), sum(t[2] for t in group))
                for group in groups]

    def complete(self):
        """Whether the store's own records (its description, its index) match the manifest as it is."""
        return os.path.exists(os.path.join(self.outdir, layout.STORE_INFO))

    def describe(self, feat):
        """The run, as the store records it (``store.json``, or the Zarr root's ``fastspec`` attribute)."""
        from ... import __version__

        return {"layout": self.job.format, "layout_version": layout.LAYOUT_VERSION, "kind": self.job.feature,
                "params": self.job.describe(), "job": self.job.signature, "hop_length": feat.hop_length,
                "axes": AXES, "units": UNITS[self.job.feature], "dtype": self.job.storage_dtype,
                "compression": self.job.compression, "fastspec_version": __version__}


# ----- shards --------------------------------------------------------------------------------
class ShardWriter(_StoreWriter):
    """``shard-NNNNNN.tar``: per item ``KEY.npy`` (``np.save``'s bytes) and ``KEY.json`` (its metadata)."""

    needs_headers = False  # a shard's size is only estimated, from the inputs' sizes

    def __init__(self, job, outdir):
        super().__init__(job, outdir)
        self._sizes = {}
        self._next = 0
        self.row_bytes = 1  # only estimates a shard's size: set by prepare

    def in_store(self, entry):
        """Whether the item of ``entry`` is (still) in the store, as recorded."""
        name = entry.get("shard")
        if name is None:
            return False
        if name not in self._sizes:
            try:
                self._sizes[name] = os.path.getsize(os.path.join(self.outdir, name))
            except OSError:
                self._sizes[name] = None
        return self._sizes[name] == entry.get("shard_bytes")

    def _hash(self, entry):
        with open(os.path.join(self.outdir, entry["shard"]), "rb") as f:
            if self.job.compression == "gzip":
                import gzip

                f = gzip.GzipFile(fileobj=f)
            f.seek(entry["offset"])
            return hashlib.sha256(f.read(entry["bytes"])).hexdigest()

    def prepare(self, kept, dropped, feat, probe_rows):
        """Remove the shards no longer wholly valid; return the keys of ``kept`` that were in them.

        A shard holding an item to redo (its input changed, say) goes whole, so that no shard ever
        holds a stale item, and its other items are redone too; so do the shards no manifest line
        refers to (a killed run's).
        """
        self.row_bytes = int(np.prod(probe_rows)) * np.dtype(self.job.storage_dtype).itemsize
        doomed = {e.get("shard") for e in dropped} - {None}
        requeue = [key for key, e in kept.items() if e.get("shard") in doomed]
        referenced = {e.get("shard") for key, e in kept.items() if e.get("shard") not in doomed}
        numbers = [-1]
        for name in os.listdir(self.outdir):
            if name.startswith("shard-") and name.endswith((".tar", ".tar.gz")):
                if name not in referenced:
                    audio_io.remove_if_exists(os.path.join(self.outdir, name))
                    self._sizes.pop(name, None)
                else:
                    numbers.append(int(name[6:12]))
        self._next = max(numbers) + 1
        self._feat = feat
        if not os.path.exists(os.path.join(self.outdir, layout.STORE_INFO)):
            self.close(kept.values())  # a store from the start: open_features can tell what it is
        return requeue

    def plan(self, units):
        """Give each unit a new shard name."""
        for unit in units:
            unit.target = layout.shard_name(self._next, self.job.compression)
            self._next += 1

    def close(self, entries):
        """Write ``store.json``."""
        shards = {e.get("shard") for e in entries} - {None}
        _write_json(os.path.join(self.outdir, layout.STORE_INFO), dict(self.describe(self._feat), shards=len(shards)))


def write_shard(job, outdir, unit):
    """Convert a unit's files into its shard, in order; return their results (failed files left out).

    Runs in a worker. The shard is written under a temporary name and renamed when complete.
    """
    path = os.path.join(outdir, unit.target)
    tmp = audio_io.temp_path(path)
    results, written = [], []
    try:
        with open(tmp, "xb") as raw:
            stream = raw
            if job.compression == "gzip":
                import gzip

                stream = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
            tar = _TarWriter(stream)
            for src, key, _ in unit.items:
                t0 = time.perf_counter()
                try:
                    _, fields, header, data = _item(job, src, outdir)
                except Exception as err:
                    results.append(failure(src, key, err))
                    continue
                offset = tar.add(f"{key}.npy", header, data)
                fields.update(shard=unit.target, offset=offset, bytes=fields["output_bytes"])
                meta = {"key": key, "source": src, **{k: fields[k] for k in ("sr", "hop_length", "duration",
                                                                             "shape", "dtype", "sha256")},
                        **job.metadata(fields["sr"], fields["hop_length"], fields["duration"])}
                tar.add(f"{key}.json", json.dumps(meta, sort_keys=True).encode())
                fields["seconds"] = time.perf_counter() - t0
                written.append([src, key, fields, None, None])
            tar.close()
            if stream is not raw:
                stream.close()
        if written:
            os.replace(tmp, path)
            size = os.path.getsize(path)
            for result in written:
                result[2]["shard_bytes"] = size
        else:
            audio_io.remove_if_exists(tmp)
    except Exception as err:  # the shard could not be written (a full disk...): its files fail with it
        audio_io.remove_if_exists(tmp)
        return results + [failure(src, key, err) for src, key, _ in unit.items
                          if not any(r[0] == src for r in results)]
    return results + [tuple(r) for r in written]


def _item(job, src, outdir):
    """One item computed: ``(array, fields, header, data)``, with its ``.npy`` bytes' SHA-256 and size in ``fields``.

    The bytes are those the ``.npy`` path writes, so every layout records the same SHA-256.
    """
    with deterministic_fft():
        array, fields = compute_file(job, src, outdir)
    header, data = audio_io.npy_bytes(array)
    digest = hashlib.sha256(header)
    digest.update(data)
    fields.update(sha256=digest.hexdigest(), output_bytes=len(header) + data.nbytes)
    return array, fields, header, data


class _TarWriter:
    """A tar stream written member by member, with fixed owner, mode and time; what ``tarfile`` writes, faster.

    Fixed headers make a shard's bytes depend on its items alone (any engine, any day).
    ``tarfile.addfile`` cost 0.2 ms an item (two members) of a one-second clip, as much as
    converting it: here a short ASCII name gets its ustar header built directly (the bytes
    ``TarInfo.tobuf`` gives, tested), any other name ``tobuf``'s own (PAX) header.
    """

    def __init__(self, stream):
        self._stream, self.offset = stream, 0

    def add(self, name, *pieces):
        """Append a member holding the bytes ``pieces``; return the offset of its data."""
        size = sum(memoryview(p).nbytes for p in pieces)
        header = _ustar_header(name, size)
        self._write(header)
        start = self.offset
        for piece in pieces:
            self._write(piece)
        self._write(bytes(-size % tarfile.BLOCKSIZE))
        return start

    def close(self):
        """End the archive as ``tarfile`` does: two zero blocks, then zeros to a whole record."""
        self._write(bytes(2 * tarfile.BLOCKSIZE))
        self._write(bytes(-self.offset % tarfile.RECORDSIZE))

    def _write(self, data):
        self._stream.write(data)
        self.offset += memoryview(data).nbytes


def _ustar_header(name, size):
    """The header block(s) ``tarfile`` writes for a regular file ``name`` of ``size`` bytes (PAX format)."""
    encoded = name.encode("ascii", "replace")
    if len(encoded) > 99 or not name.isascii() or size >= 8 ** 11:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    block = bytearray(tarfile.BLOCKSIZE)
    block[0:len(encoded)] = encoded
    block[100:108] = b"0000644\0"
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"00000000000\0"
    block[148:156] = b" " * 8
    block[156:157] = tarfile.REGTYPE
    block[257:265] = tarfile.POSIX_MAGIC
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


# ----- zarr ----------------------------------------------------------------------------------
class ZarrWriter(_StoreWriter):
    """One Zarr v3 store: ``features`` rows appended unit by unit, and the per-item arrays."""

    needs_headers = True  # each unit's rows are planned from its files' lengths

    def __init__(self, job, outdir):
        super().__init__(job, outdir)
        self._features = None

    def in_store(self, entry):
        """Whether the item of ``entry`` is (still) in the store, as recorded."""
        return "start" in entry and self._features is not None and \
            entry["start"] + entry["n_frames"] <= self._features.shape[0]

    def _hash(self, entry):
        rows = self._features[entry["start"]:entry["start"] + entry["n_frames"]]
        header, data = audio_io.npy_bytes(np.ascontiguousarray(np.moveaxis(rows, 0, -1)))
        return hashlib.sha256(header + bytes(data)).hexdigest()

    def open(self, probe_rows):
        """Open (or create) the store; ``probe_rows`` is one frame's shape, ``([n_channels,] n_bins)``."""
        with _zarr_quiet():
            self._open(probe_rows)

    def _open(self, probe_rows):
        import zarr

        root = zarr.open_group(self.outdir, mode="a")
        dtype = np.dtype(self.job.storage_dtype)
        if "features" in root:
            features = root["features"]
            had = root.attrs.get("fastspec", {}).get("compression")
            if features.shape[1:] != tuple(probe_rows) or features.dtype != dtype:
                raise ParameterError(f"{self.outdir} holds features of rows {features.shape[1:]} {features.dtype}; "
                                     f"this run makes {tuple(probe_rows)} {dtype}: use another output folder")
            if had != self.job.compression:
                raise ParameterError(f"{self.outdir} is stored with compression={had!r}; pass that, or use "
                                     "another output folder")
        else:
            row_bytes = int(np.prod(probe_rows)) * dtype.itemsize
            chunk_rows = 1 << max(4, round(math.log2(max(1, CHUNK_BYTES // row_bytes))))
            compressors = {None: None, "zstd": zarr.codecs.ZstdCodec(level=3),
                           "gzip": zarr.codecs.GzipCodec(level=5)}[self.job.compression]
            features = root.create_array("features", shape=(0,) + tuple(probe_rows),
                                         chunks=(chunk_rows,) + tuple(probe_rows), dtype=dtype, fill_value=0,
                                         compressors=compressors)
        self._root, self._features = root, features
        self.row_bytes = int(np.prod(probe_rows)) * dtype.itemsize

    def complete(self):
        """Whether the index was written from the manifest as it is (a killed run appended to it since)."""
        try:
            size = os.path.getsize(os.path.join(self.outdir, layout.MANIFEST))
        except OSError:
            return False
        return self._root.attrs.get("fastspec", {}).get("manifest_bytes") == size

    def prepare(self, kept, dropped, feat, probe_rows):
        """Nothing to remove: rows no manifest line refers to are never read (their space is not reused)."""
        self._feat = feat
        return []

    def plan(self, units):
        """Give each unit the next rows of ``features``: its planned frames, whole chunks (no two units share one)."""
        with _zarr_quiet():
            self._plan(units)

    def _plan(self, units):
        chunk = self._features.chunks[0]
        end = self._features.shape[0]
        for unit in units:
            capacity = max(1, math.ceil(sum(frames for _, _, frames in unit.items) / chunk)) * chunk
            unit.target = (end, capacity)
            end += capacity
        if end != self._features.shape[0]:
            self._features.resize((end,) + self._features.shape[1:])

    def close(self, entries):
        """Write the per-item arrays from ``entries`` (in the manifest's order) and the run's description."""
        with _zarr_quiet():
            self._close(entries)

    def _close(self, entries):
        import zarr

        stored = [e for e in entries if "start" in e]
        columns = {"start": ([e["start"] for e in stored], np.int64),
                   "n_frames": ([e["n_frames"] for e in stored], np.int64),
                   "sr": ([e["sr"] for e in stored], np.int64),
                   "duration": ([e["duration"] for e in stored], np.float64),
                   "key": ([e["output"] for e in stored], str), "source": ([e["input"] for e in stored], str),
                   "sha256": ([e["sha256"] for e in stored], str)}
        for name, (values, dtype) in columns.items():
            data = np.array(values, dtype=object if dtype is str else dtype)
            if dtype is str:
                array = self._root.create_array(name, shape=data.shape, chunks=(max(1, min(len(data), 1 << 16)),),
                                                dtype=zarr.dtype.VariableLengthUTF8(), overwrite=True)
            else:
                array = self._root.create_array(name, shape=data.shape, chunks=(max(1, min(len(data), 1 << 16)),),
                                                dtype=dtype, overwrite=True)
            if len(data):
                array[:] = data
        # Last, with the manifest's size: a run that stops before this point leaves the index to redo.
        manifest = os.path.getsize(os.path.join(self.outdir, layout.MANIFEST))
        self._root.attrs["fastspec"] = dict(self.describe(self._feat), manifest_bytes=manifest)


class _zarr_quiet:
    """Context: zarr used in the run's own process, its I/O threads stopped afterwards.

    zarr runs its I/O on threads it starts on first use; stopped (and restarted by zarr when next
    needed), the run's process stays single-threaded, so local workers can still be forked (see
    :mod:`.engines`) and a script without a ``__main__`` guard still works.
    """

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        import threading

        try:
            from zarr.core.sync import cleanup_resources
        except ImportError:  # another zarr: its threads stay, and workers start by forkserver
            return
        cleanup_resources()
        deadline = time.monotonic() + 1.0
        while threading.active_count() > 1 and time.monotonic() < deadline:
            time.sleep(0.002)


def write_region(job, outdir, unit):
    """Convert a unit's files into its rows of the Zarr store's ``features``; return their results.

    Runs in a worker. Items are packed one after another from the region's first row; whole
    chunks are written, so no other unit's chunks are touched.
    """
    features = _features(outdir)
    start, capacity = unit.target
    chunk = features.chunks[0]
    row_bytes = features.dtype.itemsize * int(np.prod(features.shape[1:]))
    buffered = max(1, (64 << 20) // (row_bytes * chunk)) * chunk  # whole chunks, about 64 MB
    buffer = np.zeros((min(capacity, buffered),) + features.shape[1:], dtype=features.dtype)
    results, written = [], []
    cursor = flushed = 0  # rows used, and rows already written, from the region's start

    write = _chunk_writer(features, outdir)

    def flush(upto):
        nonlocal flushed
        while flushed < upto:
            n = min(upto - flushed, buffer.shape[0])
            write(start + flushed, buffer[:n])
            buffer[:n] = 0
            flushed += n

    try:
        for src, key, _ in unit.items:
            t0 = time.perf_counter()
            try:
                array, fields, _, _ = _item(job, src, outdir)
                if array.shape[:-1] != features.shape[1:]:
                    raise audio_io.AudioFileError(src, f"its feature has rows {array.shape[:-1]}, the store's "
                                                       f"{features.shape[1:]} (another channel count?)")
                n = array.shape[-1]
                if cursor + n > capacity:
                    raise audio_io.AudioFileError(src, f"decoded {n} frames, more than its header promised")
            except Exception as err:
                results.append(failure(src, key, err))
                continue
            rows = np.moveaxis(array, -1, 0)  # (frames, [channels,] bins)
            done = 0
            while done < n:  # through the buffer, which is written out a whole number of chunks at a time
                at = cursor - flushed
                take = min(n - done, buffer.shape[0] - at)
                buffer[at:at + take] = rows[done:done + take]
                cursor += take
                done += take
                if cursor - flushed == buffer.shape[0]:
                    flush(cursor)
            fields.update(start=start + cursor - n, n_frames=n, seconds=time.perf_counter() - t0)
            written.append((src, key, fields, None, None))
        flush(math.ceil(cursor / chunk) * chunk if cursor else 0)
    except Exception as err:  # the store could not be written: the unit's files fail with it
        return results + [failure(src, key, err) for src, key, _ in unit.items
                          if not any(r[0] == src for r in results)]
    return results + written


def _chunk_writer(features, outdir):
    """``write(row, rows)``: whole chunks of ``features`` from ``row`` on (a multiple of the chunk length).

    Uncompressed chunks are written as files directly, in the layout zarr reads (``c/<i>/0``,
    little-endian C order): zarr's own writes cost about 2 ms a 320 kB chunk here (150 MB/s),
    which at 10^5 clips was a fifth of the run. Compressed chunks go through zarr.
    """
    plain = not features.compressors and not features.filters and \
        getattr(features.serializer, "endian", None) is not None and features.serializer.endian.value == "little"
    chunk = features.chunks[0]
    if not plain or features.chunks[1:] != features.shape[1:]:
        def through_zarr(row, rows):
            features[row:row + rows.shape[0]] = rows
        return through_zarr
    folder = os.path.join(outdir, "features")
    little = features.dtype.newbyteorder("<")
    tail = (0,) * (len(features.shape) - 1)

    def direct(row, rows):
        data = np.ascontiguousarray(rows, dtype=little)
        for k in range(0, rows.shape[0], chunk):
            key = features.metadata.encode_chunk_key(((row + k) // chunk,) + tail)
            path = os.path.join(folder, *key.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data[k:k + chunk].data)
    return direct


def _features(outdir):
    """The store's ``features`` array, opened afresh (its length grows between units)."""
    import zarr

    return zarr.open_array(outdir, path="features", mode="r+")


def planned_frames(job, info, nbytes):
    """Frames the feature of an audio file will have: from its header ``info`` (:class:`fastspec.io.AudioInfo`).

    Without a header (None: shards, where the count only estimates a shard's size), from its
    size ``nbytes`` as 16-bit mono.
    """
    if info is None:
        return nbytes // (2 * feature_for(job, job.probe_sr).hop_length) + 1
    sr = job.sr or info.samplerate
    n = audio_io.resampled_length(info.frames, info.samplerate, sr)
    try:
        feat = feature_for(job, sr)
        if not job.feature.startswith("seed-"):
            return feat.n_frames(n)
        return n // feat.hop_length + 1  # only estimates a shard's size
    except ParameterError:  # the file fails when converted, with this error
        return 1


def write_unit(job, unit, outdir):
    """Write a store's unit (in a worker): :func:`write_shard` or :func:`write_region` by ``job.format``."""
    return (write_shard if job.format == "shards" else write_region)(job, outdir, unit)


def probe_rows(job, sr, n_channels):
    """One frame's shape, ``([n_channels,] n_bins)``, from the feature of a short probe signal."""
    feat = feature_for(job, sr)
    with deterministic_fft():  # one thread: no engine pool started in the run's process (it forks workers)
        return feat, feat.empty((n_channels,) if job.channels == "all" else ()).shape[:-1]


def _write_json(path, data):
    tmp = audio_io.temp_path(path)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)

