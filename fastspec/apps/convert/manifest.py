"""The manifest of an output folder: ``manifest.jsonl`` (the resume record) and ``manifest.csv``."""

import csv
import json
import os

import numpy as np

from ... import io as audio_io

MANIFEST = "manifest.jsonl"


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


def write_manifest(outdir, entries, csv_too):
    """Rewrite ``manifest.jsonl`` (and ``manifest.csv``) atomically with ``entries``."""
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


def sweep_temp(outdir):
    """Remove the temporary files a killed run left under ``outdir``."""
    for folder, _, files in os.walk(outdir):
        for name in files:
            if name.endswith(audio_io.TEMP_SUFFIX) or name.endswith(audio_io.TEMP_SUFFIX + ".npy"):
                audio_io.remove_if_exists(os.path.join(folder, name))


def still_valid(entry, src, dst, verify=False):
    """Whether the output ``dst`` recorded in ``entry`` is complete and made from ``src`` as it is now.

    Checks, without reading the data: the input's size and modification time against the
    fingerprint taken when it was converted, the output's size, and (``.npy``) its header's shape
    and dtype. ``verify`` also hashes the output against the recorded SHA-256.
    """
    try:
        st = os.stat(src)
        out_size = os.path.getsize(dst)
    except OSError:
        return False
    fingerprint = entry.get("input_file") or {}
    if (fingerprint.get("size"), fingerprint.get("mtime_ns")) != (st.st_size, st.st_mtime_ns):
        return False
    if entry.get("output_bytes") != out_size:
        return False
    if dst.endswith(".npy"):
        try:
            with open(dst, "rb") as f:
                major, _ = np.lib.format.read_magic(f)
                header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _, dtype = header(f)
        except (OSError, ValueError):
            return False
        if list(shape) != list(entry.get("shape", ())) or dtype.name != entry.get("dtype"):
            return False
    return not verify or audio_io.sha256_file(dst) == entry.get("sha256")
