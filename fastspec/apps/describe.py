"""``fastspec info``: what an audio or feature file holds, and the manifest line that made it."""

import os

import numpy as np

__all__ = ["FEATURE_SUFFIXES", "describe_file", "feature_metadata", "is_feature", "manifest_entry", "store_item"]

FEATURE_SUFFIXES = (".npy", ".npz")


def is_feature(path):
    """Whether ``path`` names a feature file or a store's item (``STORE::KEY``), rather than audio."""
    from ..store import split_store_key

    return os.fspath(path).endswith(FEATURE_SUFFIXES) or split_store_key(path)[1] is not None


def store_item(path):
    """``(array, made)`` of the item ``STORE::KEY``; ``made`` as :func:`feature_metadata` gives it."""
    from ..store import open_features, split_store_key

    folder, key = split_store_key(path)
    with open_features(folder) as store:
        try:
            item = store[key]
        except KeyError:
            from .._validate import ParameterError

            raise ParameterError(f"{folder} has no item {key!r}") from None
        params = store.metadata.get("params", {})
    meta = item.metadata
    made = {"feature": params.get("feature"), "params": params, "sr": meta["sr"],
            "hop_length": meta.get("hop_length") or store.metadata.get("hop_length"),
            "duration": meta.get("duration"), "source": meta.get("source"), "sha256": meta.get("sha256")}
    return item.array, made


def manifest_entry(path):
    """The manifest line of a feature file, from the nearest ``manifest.jsonl`` above it."""
    from ..batch import MANIFEST, read_manifest

    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    while True:
        if os.path.exists(os.path.join(folder, MANIFEST)):
            entry = read_manifest(folder).get(os.path.relpath(path, folder))
            if entry is not None:
                return entry
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def feature_metadata(path):
    """How a converted feature file was made, or None for an array ``fastspec convert`` did not write.

    From an ``.npz``'s own metadata, else the manifest line of the file.

    Returns
    -------
    dict or None
        ``feature`` (its name), ``params`` (every parameter, with ``sr`` as asked, ``channels``
        and ``dtype``), ``sr`` (the file's rate), ``hop_length`` and, from the manifest,
        ``duration`` (of the input, in seconds).
    """
    import json

    path = os.fspath(path)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            if "params" in z.files and "kind" in z.files:
                return {"feature": str(z["kind"]), "params": json.loads(str(z["params"])), "sr": int(z["sr"]),
                        "hop_length": int(z["hop_length"]),
                        "duration": float(z["duration"]) if "duration" in z.files else None}
    entry = manifest_entry(path)
    if entry is None or "params" not in entry:
        return None
    return {"feature": entry["params"]["feature"], "params": entry["params"], "sr": entry["sr"],
            "hop_length": entry.get("hop_length"), "duration": entry.get("duration")}


def describe_file(path):
    """Describe an audio file's header, or a feature file's shape, range and manifest entry.

    Parameters
    ----------
    path : str or os.PathLike
        Audio file, a ``.npy``/``.npz`` feature file (its manifest is looked for in the
        folders above it, and its SHA-256 checked against the entry), or a store's item
        ``STORE::KEY``.

    Returns
    -------
    str
        Lines of ``key: value``.
    """
    from .. import io
    from ..store import split_store_key

    path = os.fspath(path)
    if split_store_key(path)[1] is not None:
        S, made = store_item(path)
        params = ", ".join(f"{k}={v}" for k, v in made["params"].items() if v is not None)
        lines = [f"item: {path}", f"shape: {S.shape}  dtype: {S.dtype}"]
        if S.size:
            lines.append(f"min: {np.min(S):.6g}  max: {np.max(S):.6g}  mean: {np.mean(S, dtype=np.float64):.6g}")
        return "\n".join(lines + [f"input: {made['source']}", f"sr: {made['sr']}  duration: {made['duration']:.3f} s",
                                  f"parameters: {params}", f"sha256: {made['sha256']}"])
    if not path.endswith(FEATURE_SUFFIXES):
        meta = io.info(path)
        return "\n".join([f"file: {meta.path}", f"format: {meta.format} {meta.subtype}",
                          f"sample rate: {meta.samplerate} Hz  channels: {meta.channels}",
                          f"frames: {meta.frames}  duration: {meta.duration:.3f} s",
                          *(f"WARNING: {text}" for text in meta.problems)])
    S = io.load_feature(path)
    lines = [f"file: {path}", f"shape: {S.shape}  dtype: {S.dtype}"]
    if S.size:
        lines.append(f"min: {np.min(S):.6g}  max: {np.max(S):.6g}  mean: {np.mean(S, dtype=np.float64):.6g}")
    entry = manifest_entry(path)
    if entry is not None:
        params = ", ".join(f"{k}={v}" for k, v in entry["params"].items() if v is not None)
        status = "ok" if io.sha256_file(path) == entry["sha256"] else "MISMATCH"
        lines += [f"input: {entry['input']}", f"sr: {entry['sr']}  duration: {entry['duration']:.3f} s",
                  f"parameters: {params}", f"sha256: {entry['sha256']} ({status})"]
        if "units" in entry:
            lines.append(f"axes: {entry['axes']}  units: {entry['units']}  written by fastspec "
                         f"{entry['fastspec_version']}")
    else:
        made = feature_metadata(path)  # an .npz on its own carries the same
        if made is not None:
            params = ", ".join(f"{k}={v}" for k, v in made["params"].items() if v is not None)
            lines += [f"sr: {made['sr']}  hop_length: {made['hop_length']}", f"parameters: {params}"]
    return "\n".join(lines)
