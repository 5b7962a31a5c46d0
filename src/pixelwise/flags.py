"""Command-line flags made from typed options, and the values they give.

Every flag comes from an :class:`~pixelwise.options.Option`. The run options of
:class:`~pixelwise.config.RunConfig` (and the :data:`~pixelwise.config.SHORTCUTS`) become
flags of the commands each lists. A command's own flags come from a *flag definition*: a
dataclass whose fields carry an ``Option`` (made with :func:`pixelwise.config.option`) or
hold a further definition (``field(default_factory=Tiles)``) whose flags share the help
group that its class's ``TITLE`` names.

Each flag gets its help text (``{default}`` in it is the field's default) and its default;
the text given is parsed and checked by the option's own kind, so ``--epochs ten`` and
``epochs: ten`` fail alike, each naming what it accepts.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pixelwise.config import SHORTCUTS, run_options
from pixelwise.options import Kind, Mapping, Option, OptionalValue, Text, Words, parsed

DEST_PREFIX = "option:"
SECTION_TITLES = {
    "model": "model",
    "data": "data",
    "train": "training",
    "method": "classical method",
    "": "run",
}
Definition = TypeVar("Definition")


@dataclass(frozen=True)
class Flag:
    """One flag: its spelling, the dotted key its value sets, its option and default, and
    the title of its help group (``None``: the command's own options)."""

    flag: str
    key: str
    option: Option
    default: Any
    group: str | None


def _run_flags(command: str) -> list[Flag]:
    """The run-option flags that ``command`` takes, titled by their section."""
    flags = []
    for key, meta, default in run_options():
        flag = meta.flag_for(key)
        if flag is not None and command in meta.commands:
            flags.append(Flag(flag, key, meta, default, _section_title(key)))
    for shortcut in SHORTCUTS:
        if command in shortcut.option.commands:
            title = _section_title(shortcut.key)
            flags.append(Flag(shortcut.flag, shortcut.key, shortcut.option, None, title))
    return flags


def _section_title(key: str) -> str:
    head, dot, _ = key.partition(".")
    return f"{SECTION_TITLES[head if dot else '']} options"


def _default(item: dataclasses.Field) -> Any:
    if item.default_factory is dataclasses.MISSING:
        return item.default
    return item.default_factory()


def _definition_flags(definition: type, prefix: str = "", title: str | None = None) -> list[Flag]:
    """The flags of a flag definition's fields, in order; a group's under its title."""
    flags = []
    for item in dataclasses.fields(definition):
        key = prefix + item.name
        if "option" in item.metadata:
            meta = item.metadata["option"]
            flags.append(Flag(meta.flag_for(key), key, meta, _default(item), title))
        else:
            group = item.default_factory
            flags += _definition_flags(group, f"{key}.", group.TITLE)
    return flags


def _help(meta: Option, default: Any, fill: dict[str, str]) -> str:
    text = meta.help.format(**fill, default=default) if "{" in meta.help else meta.help
    if default is None or default is False or default in ({}, []) or "(default" in text:
        return text
    shown = " ".join(map(str, default)) if isinstance(default, list) else default
    return f"{text} (default: {shown})"


def _metavar(kind: Kind, key: str) -> str:
    """A one-value flag's metavar when its option names none: ``{a,b}`` for a choice,
    else the key's last part in capitals."""
    if isinstance(kind, Text) and kind.choices:
        return "{" + ",".join(kind.choices) + "}"
    return key.rsplit(".", 1)[-1].upper()


def _shape(meta: Option, key: str) -> dict[str, Any]:
    """How argparse reads the flag: a switch, a repeatable ``KEY=VALUE``, a fixed number of
    values, one or more words, an optional value, or one value."""
    kind, metavar = meta.kind, meta.metavar
    if kind is None:
        return {"action": "store_const", "const": True}
    if isinstance(kind, Mapping):
        return {"action": "append", "metavar": metavar}
    if isinstance(metavar, tuple):
        return {"nargs": len(metavar), "metavar": metavar}
    shape: dict[str, Any] = {"metavar": metavar or _metavar(kind, key)}
    if isinstance(kind, Words):
        shape["nargs"] = "+"
    elif isinstance(kind, OptionalValue):
        shape |= {"nargs": "?", "const": kind.bare}
    return shape


def _add(parser: argparse.ArgumentParser, flags: Iterable[Flag], fill: dict[str, str]) -> None:
    """Add ``flags`` to ``parser``, each in its help group, made on first use."""
    groups: dict[str | None, Any] = {None: parser}
    for flag in flags:
        if flag.group not in groups:
            groups[flag.group] = parser.add_argument_group(flag.group)
        groups[flag.group].add_argument(
            flag.flag,
            dest=DEST_PREFIX + flag.flag,
            help=_help(flag.option, flag.default, fill),
            **_shape(flag.option, flag.key),
        )


def _given(args: argparse.Namespace, flags: Iterable[Flag]) -> dict[str, Any]:
    """Dotted key -> value of every flag given, each parsed and checked by its option's kind.

    A mapping flag (``--model-option k=v``) sets one key of its mapping per use; a flag of
    several values is read as their text joined by spaces.
    """
    values: dict[str, Any] = {}
    for flag in flags:
        given = getattr(args, DEST_PREFIX + flag.flag, None)
        kind = flag.option.kind
        if given is None:
            continue
        if given is True:
            values[flag.key] = True
        elif isinstance(kind, Mapping):
            for text in given:
                for name, value in parsed(kind, text, flag.flag).items():
                    values[f"{flag.key}.{name}"] = value
        else:
            text = " ".join(given) if isinstance(given, list) else given
            values[flag.key] = parsed(kind, text, flag.flag)
    return values


def add_run_flags(
    parser: argparse.ArgumentParser, command: str, fill: Callable[[], dict[str, str]]
) -> None:
    """Add the run-option flags of ``command`` to ``parser``, grouped by section.

    ``fill()`` gives the lists that help texts name (``{models}``, ``{datasets}``, ...).
    """
    _add(parser, _run_flags(command), fill())


def run_overrides(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Dotted-key overrides from the run-option flags given to ``command``."""
    return _given(args, _run_flags(command))


def add_flags(
    parser: argparse.ArgumentParser, definition: type, fill: Callable[[], dict[str, str]]
) -> None:
    """Add the flags of a flag definition to ``parser``, in field order, each group's under
    its title; ``fill()`` as for :func:`add_run_flags`."""
    _add(parser, _definition_flags(definition), fill())


def read_flags(args: argparse.Namespace, definition: type[Definition]) -> Definition:
    """The flag definition's values: each flag given, parsed and checked, else its default."""
    return _build(definition, _given(args, _definition_flags(definition)))


def _build(definition: type, values: dict[str, Any], prefix: str = "") -> Any:
    arguments = {}
    for item in dataclasses.fields(definition):
        key = prefix + item.name
        if "option" not in item.metadata:
            arguments[item.name] = _build(item.default_factory, values, f"{key}.")
        elif key in values:
            arguments[item.name] = values[key]
    return definition(**arguments)
