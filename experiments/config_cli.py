"""What the command-line tools share: config files, `key=value` overrides, one-line errors.

A run is described by a file in `experiments/configs/` (or any path) whose `get_config()`
returns a `RunConfig`, plus overrides such as `sub_ppo.learning_rate=1e-4`. Every value is
parsed by its field's type and checked by the config's own validation, so a mistake fails
with one message naming the key before anything is compiled.

Every tool (experiments.* and benchmarks.*) parses its arguments with `CliParser`, so a bad
argument is reported the same way as every other mistake: one `error: ...` line on stderr and
exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import pathlib
import sys
import typing
from typing import Any, Callable, NoReturn, TypeVar

from mlsh_jax.config import ConfigError, RunConfig

CONFIGS_DIR = pathlib.Path(__file__).resolve().parent / "configs"

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def available_configs() -> list[str]:
    """File names (with .py) of the configs shipped in experiments/configs."""
    return sorted(p.name for p in CONFIGS_DIR.glob("*.py") if p.name != "__init__.py")


def load_config_file(name_or_path: str) -> RunConfig:
    """`get_config()` of an existing file, or of `experiments/configs/<name>[.py]`."""
    path = pathlib.Path(name_or_path)
    if not path.is_file():
        file_name = name_or_path if name_or_path.endswith(".py") else f"{name_or_path}.py"
        path = CONFIGS_DIR / file_name
        if "/" in name_or_path or file_name == "__init__.py" or not path.is_file():
            raise ConfigError(f"unknown config {name_or_path!r}; available: "
                              f"{', '.join(available_configs())}")
    module_spec = importlib.util.spec_from_file_location(f"_mlsh_config_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not callable(getattr(module, "get_config", None)):
        raise ConfigError(f"config file {path} defines no get_config()")
    config = module.get_config()
    if not isinstance(config, RunConfig):
        raise ConfigError(f"get_config() in {path} returned {type(config).__name__}, "
                          f"expected RunConfig")
    return config


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """`config` with each `dotted.key=value` applied; all values are validated together.

    Validating once at the end (rather than per override) lets overrides that are only
    consistent jointly, such as `warmup_updates=0 joint_updates=5`, be given in any order.
    """
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value")
        _insert_change(changes, config, key, raw)
    return _rebuild(config, changes, prefix="")


def _insert_change(changes: dict[str, Any], config: Any, key: str, raw: str) -> None:
    """Parse `raw` by the type of field `key` and store it in the nested `changes` tree."""
    node, tree, prefix = config, changes, ""
    parts = key.split(".")
    for depth, name in enumerate(parts):
        fields = {f.name for f in dataclasses.fields(node) if f.init}
        if name not in fields:
            where = f" under {prefix[:-1]}" if prefix else ""
            raise ConfigError(f"unknown key {key!r}; valid keys{where}: {_describe_keys(node)}")
        value = getattr(node, name)
        is_last = depth == len(parts) - 1
        if dataclasses.is_dataclass(value):
            if is_last:
                raise ConfigError(f"{key!r} is a group of settings; set one of its keys: "
                                  f"{_describe_keys(value, f'{key}.')}")
            node, tree, prefix = value, tree.setdefault(name, {}), f"{prefix}{name}."
        elif not is_last:
            raise ConfigError(f"unknown key {key!r}: {prefix}{name} has no sub-keys")
        else:
            tree[name] = _parse(raw, typing.get_type_hints(type(node))[name], key)


def _describe_keys(node: Any, prefix: str = "") -> str:
    names = []
    for f in dataclasses.fields(node):
        if f.init:
            group = dataclasses.is_dataclass(getattr(node, f.name))
            names.append(f"{prefix}{f.name}.*" if group else f"{prefix}{f.name}")
    return ", ".join(names)


def _parse(raw: str, hint: Any, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    text = raw.strip()
    if origin is typing.Literal:
        if text not in [str(a) for a in args]:
            raise ConfigError(f"{key}={raw!r}: must be one of {', '.join(map(str, args))}")
        return next(a for a in args if str(a) == text)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        items = [item.strip() for item in text.strip("()[]").split(",") if item.strip()]
        try:
            return tuple(args[0](item) for item in items)
        except ValueError:
            raise ConfigError(f"{key}={raw!r}: expected comma-separated {args[0].__name__} "
                              f"values, e.g. 64,64 (none: empty)") from None
    if hint is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"{key}={raw!r}: expected bool (true/false, yes/no, 1/0)")
    if hint in (int, float):
        try:
            return hint(text)
        except ValueError:
            raise ConfigError(f"{key}={raw!r}: expected {hint.__name__}") from None
    if hint is str:
        return raw
    raise ConfigError(f"{key}: cannot be set from the command line (type {hint})")


def _rebuild(node: Any, changes: dict[str, Any], prefix: str) -> Any:
    """dataclasses.replace level by level, so each nested config's validation runs."""
    values = {name: _rebuild(getattr(node, name), change, f"{prefix}{name}.")
              if isinstance(change, dict) else change for name, change in changes.items()}
    try:
        return dataclasses.replace(node, **values)
    except ConfigError as error:
        raise ConfigError(f"{prefix}{error}") from None


def error_exit(message: object) -> int:
    """Print a one-line `error: ...` to stderr; returns the exit status for usage errors."""
    one_line = " ".join(str(message).splitlines())
    print(f"error: {one_line}", file=sys.stderr)
    return 2


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, "error: MESSAGE (see `PROG
    --help`)", with exit status 2, like every other mistake the tools report (`error_exit`).

    argparse's own `error` prints the usage block before the message: several lines, in which
    the one that says what is wrong comes last and is easy to miss in a log.
    """

    def error(self, message: str) -> NoReturn:
        error_exit(f"{message} (see `{self.prog} --help`)")
        self.exit(2)


def description_from(doc: str) -> str:
    """A module docstring as a parser's description (for `RawDescriptionHelpFormatter`),
    without its indented `python -m ...` synopsis, which the usage line replaces."""
    paragraphs = doc.strip().split("\n\n")
    return "\n\n".join(p for p in paragraphs if not p.startswith("    python -m "))


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= minimum, with a message naming the bad value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= {minimum}") \
                from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be an integer >= {minimum}")
        return value

    return parse


Item = TypeVar("Item")


def comma_list(item: Callable[[str], Item], example: str) -> Callable[[str], list[Item]]:
    """An argparse type: a non-empty comma-separated list, each entry parsed by `item` (an
    argparse type that raises ArgumentTypeError naming the entry); `example` shows the
    expected form in the message."""

    def parse(text: str) -> list[Item]:
        entries = [entry.strip() for entry in text.split(",")]
        if not text.strip() or "" in entries:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a comma-separated list "
                                             f"such as {example}")
        return [item(entry) for entry in entries]

    return parse


def one_of(choices: typing.Sequence[str]) -> Callable[[str], str]:
    """An argparse type: one of `choices` (for entries of a `comma_list`, where argparse's
    own `choices` would compare the whole list)."""

    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"{text!r}: must be one of {', '.join(choices)}")
        return text

    return parse


def slots_by_envs(text: str) -> tuple[int, int]:
    """An argparse type: a `SLOTSxENVS` size such as 64x8 (task slots x envs per slot)."""
    slots, sep, per_slot = text.lower().partition("x")
    try:
        if sep and int(slots) >= 1 and int(per_slot) >= 1:
            return int(slots), int(per_slot)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r}: expected SLOTSxENVS with positive integers, "
                                     f"such as 64x8")
