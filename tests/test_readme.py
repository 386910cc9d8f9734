"""The README's Python blocks run as written, and its command lines name real options."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_python_blocks_run():
    blocks = _blocks("python")
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # a NameError or a ParameterError fails here
    assert namespace["features"][0].shape == (80, 101)


def test_convert_flags_in_the_readme_exist():
    from fastspec.cli import build_parser

    text = README.read_text()
    parser = build_parser()
    convert = parser._subparsers._group_actions[0].choices["convert"]
    known = {opt for action in convert._actions for opt in action.option_strings}
    usage = text[text.index("fastspec convert INPUT"):]
    usage = usage[:usage.index("\n", usage.index("[--workers"))]
    for flag in re.findall(r"--[a-z][a-z-]*", usage):
        assert flag in known, flag
