"""Every `python -m experiments.X` / `python -m benchmarks.X` command in a code block of
README.md, docs/**/*.md or pretrained/*/README.md is accepted as written: its module exists,
its parser takes the arguments, and its `--config.KEY=VALUE` overrides fit the named config.

Nothing runs: only the parsers and the config overrides are checked, so the whole file takes
seconds. Written against whatever the files hold when the test runs. Optional parts in square
brackets are checked too (brackets dropped); of alternatives `a|b` the first is taken;
upper-case placeholders (DIR, W, S, ...) get sample values; `...` and `--config.KEY=VALUE`
stand for "more of these" and are left out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import pathlib
import re
import shlex

import pytest

from experiments.config_cli import apply_overrides, load_config_file
from experiments.run import split_overrides
from mlsh_jax.config import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUN_ELSEWHERE = {ROOT / "docs" / "new-task.md"}
"""Pages whose commands need files the reader writes first; their own tests run them."""
DOCS = [page for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")),
                          *sorted(ROOT.glob("pretrained/*/README.md"))]
        if page not in RUN_ELSEWHERE]
PROJECT_PACKAGES = ("experiments.", "benchmarks.")
WITH_CONFIG_OVERRIDES = {"experiments.run", "benchmarks.startup"}
"""Modules that take `--config.KEY=VALUE` beside their parser's own options."""

PLACEHOLDERS = {"W": "9", "S": "0", "R": "0", "N": "0", "E": "8", "K": "2", "P": "2", "I": "0",
                "D": "1", "UPDATE": "100", "HOST:PORT": "localhost:1234",
                "NAME.py": "moving_bandits.py", "X0,Y0,X1,Y1": "100,300,300,100",
                "ROW,COL": "10,10"}
"""Sample values of the placeholders that must parse as numbers or names; the others (DIR,
OUT, FILE.png, ...) stand for paths, which any text is."""
PLACEHOLDER_OVERRIDE = re.compile(r"^--config\.[A-Z_.]+(=.*)?$")
SEPARATORS = {"&&", "||", ";", "|"}
FENCE = re.compile(r"^\s*(```|~~~)")


@dataclasses.dataclass(frozen=True)
class Command:
    """One documented command: where it is, as written, and as it will be checked."""

    path: pathlib.Path
    line: int
    text: str
    module: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.text}"


def code_lines(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line number, logical line) of the fenced code blocks, backslash-continued lines
    joined and numbered by their first line."""
    lines, inside, pending, start = [], False, "", 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            inside, pending = not inside, ""
            continue
        if not inside:
            continue
        start = start if pending else number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append((start, pending + line))
        pending = ""
    return lines


def sample_argument(token: str) -> str | None:
    """A documented argument as it will be passed: None for "more of these" (`...`,
    `--config.KEY=VALUE`), brackets of optional parts dropped, the first of alternatives,
    placeholders replaced."""
    token = token.strip("[]")
    if not token or "..." in token or PLACEHOLDER_OVERRIDE.match(token):
        return None
    if "|" in token:
        token = token.split("|")[0]
    return PLACEHOLDERS.get(token, token)


def commands_in(path: pathlib.Path) -> list[Command]:
    found = []
    for number, line in code_lines(path):
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:  # unbalanced quotes: prose or output, not a command
            continue
        segments, segment = [], []
        for token in tokens + [";"]:
            if token in SEPARATORS:
                segments.append(segment)
                segment = []
            else:
                segment.append(token)
        for words in segments:
            starts = [i for i, word in enumerate(words[:-2])
                      if re.fullmatch(r"(.*/)?python3?", word) and words[i + 1] == "-m"]
            if not starts or not words[starts[0] + 2].startswith(PROJECT_PACKAGES):
                continue
            at = starts[0]
            args = [sample_argument(word) for word in words[at + 3:]]
            found.append(Command(path, number, " ".join(words[at:]), words[at + 2],
                                 tuple(arg for arg in args if arg is not None)))
    return found


COMMANDS = [command for path in DOCS for command in commands_in(path)]


def test_the_readme_and_docs_hold_commands_to_check():
    assert COMMANDS, f"no `python -m experiments.*` command found in {[str(p) for p in DOCS]}"


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_documented_command_is_accepted_as_written(command):
    try:
        module = importlib.import_module(command.module)
    except ModuleNotFoundError:
        pytest.fail(f"{command}\n  no module {command.module}")
    args = list(command.args)
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            overrides = []
            if command.module in WITH_CONFIG_OVERRIDES:
                args, overrides = split_overrides(args)
            parsed = module.build_parser().parse_args(args)
            if command.module in WITH_CONFIG_OVERRIDES:
                apply_overrides(load_config_file(parsed.config), overrides)
    except SystemExit as stop:
        if stop.code == 0:  # --help
            return
        pytest.fail(f"{command}\n  checked as: {command.module} {shlex.join(args)}\n  "
                    f"{errors.getvalue().strip()}")
    except ConfigError as error:
        pytest.fail(f"{command}\n  checked as: {command.module} {shlex.join(command.args)}\n  "
                    f"error: {error}")
