"""The manifest of an output folder: ``manifest.jsonl`` (the resume record) and ``manifest.csv``."""

import csv
import json
import os

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


