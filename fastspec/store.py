"""Reading converted features: one reader for a folder of ``.npy`` files, tar shards and a Zarr store.

:func:`open_features` opens what ``fastspec convert`` wrote, whichever ``--format``:

- ``npy`` / ``npz``: one file per input, indexed by ``manifest.jsonl``;
- ``shards``: WebDataset tar shards ``shard-000000.tar`` (``.tar.gz``), each item a ``KEY.npy`` and a
  ``KEY.json`` member, indexed by ``manifest.jsonl`` (each line gives the item's shard and byte offset);
- ``zarr``: one Zarr v3 store: ``features`` holds every item's frames one after another
  (``(n_frames_total, [n_channels,] n_bins)``), item ``i`` being rows ``start[i]`` to
  ``start[i] + n_frames[i]``; the arrays ``key``, ``source``, ``sr``, ``duration`` and ``sha256`` describe
  the items
  and the root group's ``fastspec`` attribute the run. Readable with zarr alone::

      root = zarr.open_group(path, mode="r")
      i = 7
      item = root["features"][root["start"][i]:root["start"][i] + root["n_frames"][i]]  # (frames, bins)

Every layout gives each item as an array of the ``.npy`` path's shape, ``(..., n_bins, n_frames)``,
with the same values bit for bit.
"""

import functools
import gzip
import io
import json
import os
import threading

import numpy as np

from ._validate import ParameterError

MANIFEST = "manifest.jsonl"
STORE_INFO = "store.json"
"""The shards' description of the run (the Zarr store keeps it as its root's ``fastspec`` attribute)."""
LAYOUT_VERSION = 1
"""The stores' layout; a store of a later layout is refused rather than misread."""


def item_key(relative_stem):
    """The store key of an input, from its path relative to the inputs' root without the extension.

    Folders are kept (``speaker1/utt_0001``); dots in the file name become ``_``, since
    WebDataset takes a member name's first dot as the start of its extension.
    """
    folder, name = os.path.split(relative_stem.replace(os.sep, "/"))
    name = name.replace(".", "_")
    return f"{folder}/{name}" if folder else name


def shard_name(number, compression=None):
    """File name of shard ``number``: ``shard-000042.tar`` (``.tar.gz`` with gzip)."""
    return f"shard-{number:06d}.tar" + (".gz" if compression == "gzip" else "")


class FeatureItem:
    """One converted input: ``key``, ``array`` (``(..., n_bins, n_frames)``) and ``metadata`` (a dict).

    ``metadata`` has ``source`` (the input path), ``sr``, ``hop_length``, ``duration`` (of the
    input, seconds), ``shape``, ``dtype`` and ``sha256`` (of the item as an ``.npy`` file).
    """

    __slots__ = ("key", "array", "metadata")

    def __init__(self, key, array, metadata):
        self.key, self.array, self.metadata = key, array, metadata

    def __iter__(self):  # key, array, metadata = item
        return iter((self.key, self.array, self.metadata))

    def __repr__(self):
        return f"FeatureItem({self.key!r}, array of {self.array.shape} {self.array.dtype})"


_ITEM_FIELDS = ("input", "sr", "hop_length", "duration", "shape", "dtype", "sha256")


def _item_metadata(entry):
    meta = {k: entry[k] for k in _ITEM_FIELDS if k in entry}
    meta["source"] = meta.pop("input", None)
    return meta


class FeatureStore:
    """What :func:`open_features` returns: the items of one conversion, in the store's order.

    ``len(store)``, ``for item in store`` (in order, reading each item once), ``store[i]`` and
    ``store["key"]``, ``store.keys()``, ``"key" in store``. Items are :class:`FeatureItem`.
    ``store.metadata`` describes the run (feature, parameters, units, axes). Safe to use from
    several threads at once.

    Iteration streams: its memory does not grow with the store. Access by position or key holds
    the index in memory (about 100 bytes an item), loaded on first use.
    """

    layout = ""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._index = None
        self._positions = None

    # -- the index (loaded on demand) -------------------------------------------------------
    def _load_index(self):
        raise NotImplementedError

    @property
    def _entries(self):
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = self._load_index()
        return self._index

    def keys(self):
        """The item keys, in order."""
        return [e["output"] for e in self._entries]

    def __len__(self):
        return len(self._entries)

    def __contains__(self, key):
        return key in self._key_positions()

    def _key_positions(self):
        if self._positions is None:
            self._positions = {e["output"]: i for i, e in enumerate(self._entries)}
        return self._positions

    def __getitem__(self, which):
        if isinstance(which, str):
            try:
                which = self._key_positions()[which]
            except KeyError:
                raise KeyError(f"{self.path} has no item {which!r}") from None
        elif isinstance(which, (int, np.integer)):
            n = len(self)
            if not -n <= which < n:
                raise IndexError(f"item {which} of {n}")
            which = int(which) % n
        else:
            raise TypeError(f"items are read by position (int) or key (str), not {type(which).__name__}")
        return self._read(which)

    def _read(self, i):
        raise NotImplementedError

    def __iter__(self):
        for i in range(len(self)):
            yield self._read(i)

    def close(self):
        """Release open files."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<fastspec {self.layout} store {self.path!r}: {len(self)} items>"


def _manifest_lines(folder):
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line a killed run left half-written
            if isinstance(entry, dict) and isinstance(entry.get("output"), str):
                yield entry


def read_manifest(folder):
    """Entries of ``folder/manifest.jsonl`` keyed by output (a path, or a store's key), in first-seen order.

    The last line of an output wins (a resumed run appends); lines that do not parse (a run
    killed while writing one) are ignored; no manifest: no entries.
    """
    latest = {}
    for entry in _manifest_lines(folder):
        latest[entry["output"]] = entry
    return latest


class NpyFolder(FeatureStore):
    """A folder of ``.npy`` / ``.npz`` feature files with its ``manifest.jsonl``."""

    layout = "npy"

    def __init__(self, path):
        super().__init__(path)
        first = next(_manifest_lines(path), {})
        params = first.get("params", {})
        self.metadata = {"layout": first.get("format", "npy"), "kind": params.get("feature"), "params": params,
                         "hop_length": first.get("hop_length"), "axes": first.get("axes"), "units": first.get("units")}

    def _load_index(self):
        return list(read_manifest(self.path).values())

    def _read(self, i):
        from .io import load_feature

        entry = self._entries[i]
        return FeatureItem(entry["output"], load_feature(os.path.join(self.path, entry["output"])),
                           _item_metadata(entry))

    def __iter__(self):
        # Streams the manifest when no index is loaded yet (constant memory).
        from .io import load_feature

        entries = self._index if self._index is not None else list(read_manifest(self.path).values())
        for entry in entries:
            yield FeatureItem(entry["output"], load_feature(os.path.join(self.path, entry["output"])),
                              _item_metadata(entry))


class ShardStore(FeatureStore):
    """WebDataset tar shards with their ``manifest.jsonl`` (each line: shard, offset, bytes)."""

    layout = "shards"

    def __init__(self, path):
        super().__init__(path)
        self.metadata = _read_json(os.path.join(path, STORE_INFO))
        self._gzip = self.metadata.get("compression") == "gzip"
        self._files = {}

    def _load_index(self):
        # The store's order is the shards' (what WebDataset streams): shard, then position in it.
        entries = [e for e in list(read_manifest(self.path).values()) if "shard" in e]
        entries.sort(key=lambda e: (e["shard"], e["offset"]))
        return entries

    def _read(self, i):
        entry = self._entries[i]
        return FeatureItem(entry["output"], self._member(entry), _item_metadata(entry))

    def _member(self, entry):
        path = os.path.join(self.path, entry["shard"])
        if self._gzip:  # no random access into a gzip stream: decompressed up to the item
            with gzip.open(path, "rb") as f:
                f.seek(entry["offset"])
                data = f.read(entry["bytes"])
        else:
            with self._lock:
                fd = self._files.get(path)
                if fd is None:
                    if len(self._files) >= 64:
                        os.close(self._files.pop(next(iter(self._files))))
                    fd = self._files[path] = os.open(path, os.O_RDONLY)
            data = os.pread(fd, entry["bytes"], entry["offset"])
        if len(data) != entry["bytes"]:
            raise OSError(f"{path}: truncated at item {entry['output']!r}")
        return np.load(io.BytesIO(data), allow_pickle=False)

    def __iter__(self):
        if not self._gzip:
            yield from self._iter_mapped()
            return
        # Streams each shard in order, as WebDataset does: constant memory, sequential reads.
        import tarfile

        shards = sorted(name for name in os.listdir(self.path) if name.startswith("shard-")
                        and name.endswith((".tar", ".tar.gz")) and not name.startswith("."))
        wanted = {}
        for entry in list(read_manifest(self.path).values()):
            if "shard" in entry:
                wanted.setdefault(entry["shard"], set()).add(entry["output"])
        for name in shards:
            keys = wanted.get(name)
            if not keys:
                continue  # not (or no longer) in the manifest: not part of the store
            with tarfile.open(os.path.join(self.path, name), mode="r|*") as tar:
                array = key = None
                for member in tar:
                    stem, _, ext = member.name.rpartition(".")
                    data = tar.extractfile(member).read()
                    if ext == "npy":
                        key, array = stem, np.load(io.BytesIO(data), allow_pickle=False)
                    elif ext == "json" and stem == key and key in keys:
                        yield FeatureItem(key, array, _json_metadata(json.loads(data)))

    def _iter_mapped(self):
        # Each shard mapped once and its items cut out at the manifest's offsets: no tar parsing
        # (2.1 s against 1.2 s for 10^4 items of 32 kB).
        import mmap

        entries = self._entries
        i = 0
        while i < len(entries):
            name = entries[i]["shard"]
            with open(os.path.join(self.path, name), "rb") as f, \
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                while i < len(entries) and entries[i]["shard"] == name:
                    entry = entries[i]
                    start = entry["offset"]
                    if start + entry["bytes"] > len(data):
                        raise OSError(f"{name}: truncated at item {entry['output']!r}")
                    array = _npy_from(memoryview(data)[start:start + entry["bytes"]])
                    yield FeatureItem(entry["output"], array, _item_metadata(entry))
                    i += 1

    def close(self):
        with self._lock:
            for fd in self._files.values():
                os.close(fd)
            self._files.clear()


def _npy_from(buffer):
    """A copy of the array in the ``.npy`` bytes ``buffer`` (a memoryview)."""
    with io.BytesIO(buffer[:np.lib.format.MAGIC_LEN]) as magic:
        major, _ = np.lib.format.read_magic(magic)
    # The header's length is in the two (version 1) or four bytes after the magic string.
    size_bytes = 2 if major == 1 else 4
    start = np.lib.format.MAGIC_LEN + size_bytes
    header_len = int.from_bytes(buffer[np.lib.format.MAGIC_LEN:start], "little")
    header = _parse_header(bytes(buffer[start:start + header_len]))
    shape, fortran, dtype = header
    data = np.frombuffer(buffer[start + header_len:], dtype=dtype, count=int(np.prod(shape)))
    return data.reshape(shape, order="F" if fortran else "C").copy(order="K")


@functools.lru_cache(maxsize=4096)
def _parse_header(text):
    import ast

    d = ast.literal_eval(text.decode("latin1"))
    return tuple(d["shape"]), d["fortran_order"], np.dtype(d["descr"])


def _json_metadata(meta):
    out = {k: meta[k] for k in ("source", "sr", "hop_length", "duration", "shape", "dtype", "sha256") if k in meta}
    return out


class ZarrStore(FeatureStore):
    """A Zarr v3 store: ``features`` (every item's frames, one after another) and the per-item arrays."""

    layout = "zarr"

    def __init__(self, path):
        super().__init__(path)
        import zarr

        self._root = zarr.open_group(path, mode="r")
        self.metadata = dict(self._root.attrs.get("fastspec", {}))
        self._features = self._root["features"]
        self._start = self._root["start"][:]
        self._n_frames = self._root["n_frames"][:]

    def _load_index(self):
        columns = [self._root[name][:] for name in ("key", "source", "sr", "duration", "sha256")]
        return [{"output": str(k), "input": str(s), "sr": int(r), "duration": float(d), "sha256": str(h)}
                for k, s, r, d, h in zip(*columns, strict=True)]

    def __len__(self):
        return len(self._start)

    def keys(self):
        """The item keys, in order."""
        return [str(k) for k in self._root["key"][:]]

    def _item(self, i, rows):
        entry = self._entries[i]
        array = np.ascontiguousarray(np.moveaxis(rows, 0, -1))  # (frames, ..., bins) -> (..., bins, frames)
        meta = _item_metadata(entry)
        meta.update(hop_length=self.metadata.get("hop_length"), shape=list(array.shape), dtype=array.dtype.name)
        return FeatureItem(entry["output"], array, meta)

    def _read(self, i):
        start = int(self._start[i])
        return self._item(i, self._features[start:start + int(self._n_frames[i])])

    def __iter__(self):
        # Reads ``features`` in large sequential pieces, not one item at a time.
        order = np.argsort(self._start, kind="stable")
        if np.array_equal(order, np.arange(len(order))):
            row_bytes = int(np.prod(self._features.shape[1:])) * self._features.dtype.itemsize
            piece_rows = max(1, (64 << 20) // max(1, row_bytes))
            lo = hi = 0
            block = self._features[0:0]
            for i in range(len(self)):
                s, n = int(self._start[i]), int(self._n_frames[i])
                if s < lo or s + n > hi:
                    lo, hi = s, min(self._features.shape[0], max(s + n, s + piece_rows))
                    block = self._features[lo:hi]
                yield self._item(i, block[s - lo:s - lo + n])
        else:
            yield from super().__iter__()


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ParameterError(f"{path}: cannot read the store's description ({err})") from None


def open_features(path):
    """Open the features ``fastspec convert`` wrote, whatever the layout.

    Parameters
    ----------
    path : str or os.PathLike
        The output folder of a run: ``.npy``/``.npz`` files with ``manifest.jsonl``, tar shards
        (``--format shards``), or a Zarr store (``--format zarr``).

    Returns
    -------
    FeatureStore
        ``len``, iteration in order, ``store[i]``, ``store["key"]``; items are
        :class:`FeatureItem` ``(key, array, metadata)``.

    Raises
    ------
    ParameterError
        ``path`` holds none of these layouts, or one of a later fastspec.

    Examples
    --------
    >>> import fastspec
    >>> with fastspec.open_features("features/") as store:  # doctest: +SKIP
    ...     for key, array, meta in store:
    ...         print(key, array.shape, meta["sr"])
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(os.path.join(path, "zarr.json")):
        store = ZarrStore(path)
    elif os.path.isfile(os.path.join(path, STORE_INFO)):
        store = ShardStore(path)
    elif os.path.isfile(os.path.join(path, MANIFEST)):
        return NpyFolder(path)
    else:
        raise ParameterError(f"{path} is not a fastspec feature store (no zarr.json, {STORE_INFO} or {MANIFEST})")
    version = store.metadata.get("layout_version", LAYOUT_VERSION)
    if version > LAYOUT_VERSION:
        store.close()
        raise ParameterError(f"{path} has layout version {version}, which this fastspec ({LAYOUT_VERSION}) cannot "
                             "read: upgrade fastspec")
    return store


def split_store_key(text):
    """``"store::key"`` -> ``(store, key)``; anything else -> ``(text, None)``."""
    store, sep, key = os.fspath(text).partition("::")
    return (store, key) if sep else (store, None)


__all__ = ["FeatureItem", "FeatureStore", "item_key", "open_features", "read_manifest", "split_store_key"]
