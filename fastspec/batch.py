"""``fastspec.batch``: the batch converter's public names (it lives in :mod:`fastspec.apps.convert`)."""

from .apps.convert import (
    CRASHED,
    FEATURES,
    FORMATS,
    MANIFEST,
    DiskFullError,
    Job,
    Summary,
    convert,
    convert_file,
    deterministic_fft,
    find_inputs,
    local_cluster,
    read_manifest,
)

__all__ = ["CRASHED", "FEATURES", "FORMATS", "MANIFEST", "DiskFullError", "Job", "Summary", "convert",
           "convert_file", "deterministic_fft", "find_inputs", "local_cluster", "read_manifest"]
