"""An output folder's records: ``manifest.jsonl`` (the resume record), ``manifest.csv``, ``failures.jsonl``.

Also the checks a resume makes before keeping an output (:func:`still_valid`) and the folder's
lock (:func:`lock_folder`).
"""

import contextlib
import csv
import json
import os

from ... import io as audio_io
from ..._validate import ParameterError
from ...store import MANIFEST

FAILURES = "failures.jsonl"
LOCK = ".fastspec-convert.lock"


def write_manifest(outdir, entries, csv_too, lines=None):
    """Rewrite ``manifest.jsonl`` (and ``manifest.csv``) atomically with ``entries``.

    ``lines`` maps outputs to their entries already encoded (with the newline).
    """
    lines = lines or {}
    _write_atomically(os.path.join(outdir, MANIFEST), lambda f: f.writelines(
        lines.get(e["output"]) or json.dumps(e) + "\n" for e in entries))
    if csv_too:
        fields = ["input", "output", "sr", "hop_length", "duration", "shape", "dtype", "feature", "params", "sha256"]

        def rows(f):
            writer = csv.writer(f)
            writer.writerow(fields)
            for e in entries:
                writer.writerow([e["input"], e["output"], e["sr"], e.get("hop_length"), e["duration"],
                                 "x".join(map(str, e["shape"])), e["dtype"], e["params"]["feature"],
                                 json.dumps(e["params"]), e["sha256"]])

        _write_atomically(os.path.join(outdir, "manifest.csv"), rows)


def write_failures(outdir, failures):
    """Rewrite ``failures.jsonl`` with this run's failures (removed when there are none)."""
    path = os.path.join(outdir, FAILURES)
    if failures:
        _write_atomically(path, lambda f: f.writelines(json.dumps(e) + "\n" for e in failures))
    else:
        audio_io.remove_if_exists(path)


def _write_atomically(path, write):
    # Under a temporary name, renamed when complete; removed if writing fails (a full disk).
    tmp = audio_io.temp_path(path)
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        audio_io.remove_if_exists(tmp)
        raise


@contextlib.contextmanager
def lock_folder(outdir):
    """Hold ``outdir``'s lock for a run; a second run into the folder gets a ParameterError at once.

    An advisory ``flock`` on ``.fastspec-convert.lock``: released by the system when the process
    ends, however it ends, so a killed run never leaves the folder locked. Without ``fcntl``
    (Windows) runs are not locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(os.path.join(outdir, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise ParameterError(f"{outdir} is in use by another fastspec convert (pid {owner}); wait for it "
                                 "to finish or use another output folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def sweep_temp(outdir):
    """Remove the temporary files a killed run left under ``outdir``."""
    for folder, _, files in os.walk(outdir):
        for name in files:
            if name.endswith(audio_io.TEMP_SUFFIX) or name.endswith(audio_io.TEMP_SUFFIX + ".npy"):
                audio_io.remove_if_exists(os.path.join(folder, name))


def input_unchanged(entry, src):
    """Whether ``src``'s size and modification time are those ``entry`` recorded when it was converted."""
    try:
        st = os.stat(src)
    except OSError:
        return False
    fingerprint = entry.get("input_file") or {}
    return (fingerprint.get("size"), fingerprint.get("mtime_ns")) == (st.st_size, st.st_mtime_ns)


def still_valid(entry, src, dst, verify=False):
    """Whether the output ``dst`` recorded in ``entry`` is complete and made from ``src`` as it is now.

    Checks, without reading the data: the input's size and modification time against the
    fingerprint taken when it was converted, the output's size, and (``.npy``) its header's shape
    and dtype. ``verify`` also hashes the output against the recorded SHA-256.
    """
    try:
        out_size = os.path.getsize(dst)
    except OSError:
        return False
    if not input_unchanged(entry, src) or entry.get("output_bytes") != out_size:
        return False
    if dst.endswith(".npy"):
        try:
            expected = audio_io.npy_header(tuple(entry.get("shape", ())), entry.get("dtype"))
            fd = os.open(dst, os.O_RDONLY)
            try:
                header = os.pread(fd, len(expected), 0)
            finally:
                os.close(fd)
        except (OSError, TypeError, ValueError):
            return False
        if header != expected:  # the bytes np.save writes for that shape and dtype, C order
            return False
    return not verify or audio_io.sha256_file(dst) == entry.get("sha256")
