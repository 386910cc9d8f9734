"""The layout's rules: one table of feature parameters, and files short enough to read."""

import inspect
import os
import pathlib

import pytest

import fastspec
from fastspec import compat
from fastspec.parameters import FEATURES, MEL_PARAMS, PARAMETERS, STFT_PARAMS

PACKAGE = pathlib.Path(fastspec.__file__).parent


def _keywords(fn):
    return {name for name, p in inspect.signature(fn).parameters.items() if p.kind is p.KEYWORD_ONLY
            or (p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty)}


def test_stft_takes_the_tables_stft_parameters():
    assert set(STFT_PARAMS) == _keywords(fastspec.Stft) - {"dtype"}


@pytest.mark.parametrize("name", ["mel", "logmel"])
def test_mel_spectrogram_takes_the_tables_parameters(name):
    # The table lists what the converter passes on; log, ref and sr are the converter's own.
    assert set(FEATURES[name]) <= _keywords(fastspec.MelSpectrogram)
    assert _keywords(fastspec.MelSpectrogram) - set(FEATURES["logmel"]) == {"sr", "log", "ref"}


def test_mfcc_takes_the_tables_parameters():
    assert set(FEATURES["mfcc"]) - {"amin"} <= _keywords(fastspec.MFCC) | {"amin"}
    assert _keywords(fastspec.MFCC) - set(FEATURES["mfcc"]) == {"sr"}
    assert set(MEL_PARAMS) <= _keywords(fastspec.MFCC)


def test_seed_features_take_the_notebooks_parameters():
    assert set(FEATURES["seed-pretty"]) == _keywords(compat.pretty_spectrogram)
    mel = set(FEATURES["seed-mel"]) - set(FEATURES["seed-pretty"])
    assert mel - {"shorten_factor"} <= _keywords(compat.create_mel_filter)
    assert "shorten_factor" in _keywords(compat.make_mel)


def test_every_parameter_has_a_known_kind_and_feature():
    assert len({p.name for p in PARAMETERS}) == len(PARAMETERS)
    for p in PARAMETERS:
        assert p.kind in {"int", "float", "float?", "str", "bool", "norm"}, p
        assert p.features and set(p.features) <= set(FEATURES), p


def test_cli_convert_has_a_flag_for_every_parameter():
    from fastspec.cli import build_parser

    parser = build_parser()
    convert = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("convert"))
    flags = {opt for action in convert._actions for opt in action.option_strings}
    assert {"--" + p.name.replace("_", "-") for p in PARAMETERS} <= flags


def test_long_files_say_why_at_the_top():
    # A module over ~500 lines must say at its top why it is one file.
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text().splitlines()
        if len(lines) > 520:
            head = "\n".join(lines[:40]).lower()
            assert "one file" in head, f"{path.relative_to(PACKAGE)} has {len(lines)} lines and no reason at its top"


def test_the_tests_import_the_installed_package():
    # CI installs the project (pip install ".[test]", not editable) and runs the tests against it,
    # so a module or data file missing from the wheel fails there.
    source = PACKAGE.parents[0] / "setup.cfg"
    if not os.environ.get("CI"):
        pytest.skip("a development checkout is installed editable; CI checks the installed wheel")
    assert not source.exists(), f"fastspec imported from the checkout at {PACKAGE}, not the installed package"


def test_docstrings_show_each_presets_real_defaults():
    import re

    from fastspec.feature import MFCC, PRESETS, MelSpectrogram

    key = {MFCC: {"top_db": "mfcc_top_db", "mel_norm": "norm"}, MelSpectrogram: {}}
    checked = 0
    line = re.compile(r"\n    (\w+) : [^\n]*?, default (.+? \(librosa\), .+? \(torchaudio\), .+? \(psf\))")
    for cls in (MelSpectrogram, MFCC):
        for name, values in line.findall(cls.__doc__):
            shown = re.findall(r"(\S+) \((librosa|torchaudio|psf)\)", values)
            for text, preset in shown:
                expected = PRESETS[preset][key[cls].get(name, name)]
                assert text == repr(expected).replace("'", '"'), (cls.__name__, name, preset, text, expected)
                checked += 1
    assert checked >= 3 * 20
    assert "PRESET" in repr(inspect.signature(MelSpectrogram))
