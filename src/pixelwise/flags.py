"""Command-line flags made from the run options, and the overrides they give.

Each :class:`~pixelwise.options.Option` of :class:`~pixelwise.config.RunConfig` (and each
:data:`~pixelwise.config.SHORTCUTS` entry) becomes one flag of the commands it lists,
with its help text and default. A flag's text is parsed and checked by the option's own
kind, so ``--epochs ten`` and ``epochs: ten`` fail alike, each naming what it accepts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

from pixelwise.config import SHORTCUTS, run_options
from pixelwise.options import Mapping, Option, parsed

DEST_PREFIX = "option:"
SECTION_TITLES = {
    "model": "model",
    "data": "data",
    "train": "training",
    "method": "classical method",
    "": "run",
}


def _flags(command: str) -> Iterator[tuple[str, str, Option, Any]]:
    """``(flag, dotted key, option, default)`` of every run-option flag ``command`` takes."""
    for key, meta, default in run_options():
        flag = meta.flag_for(key)
        if flag is not None and command in meta.commands:
            yield flag, key, meta, default
    for shortcut in SHORTCUTS:
        if command in shortcut.option.commands:
            yield shortcut.flag, shortcut.key, shortcut.option, None


def _section(key: str) -> str:
    head, dot, _ = key.partition(".")
    return head if dot else ""


def _help(meta: Option, default: Any, fill: dict[str, str]) -> str:
    text = meta.help.format(**fill) if "{" in meta.help else meta.help
    if default is None or default is False or default in ({}, []) or "default:" in text:
        return text
    shown = " ".join(map(str, default)) if isinstance(default, list) else default
    return f"{text} (default: {shown})"


def add_run_flags(
    parser: argparse.ArgumentParser, command: str, fill: Callable[[], dict[str, str]]
) -> None:
    """Add the run-option flags of ``command`` to ``parser``, grouped by section.

    ``fill()`` gives the lists that help texts name (``{models}``, ``{datasets}``, ...).
    """
    values = fill()
    groups: dict[str, argparse._ArgumentGroup] = {}
    for flag, key, meta, default in _flags(command):
        section = _section(key)
        if section not in groups:
            groups[section] = parser.add_argument_group(f"{SECTION_TITLES[section]} options")
        arguments: dict[str, Any] = {
            "dest": DEST_PREFIX + flag,
            "help": _help(meta, default, values),
        }
        if meta.kind is None:
            arguments |= {"action": "store_const", "const": True}
        elif isinstance(meta.kind, Mapping):
            arguments |= {"action": "append", "metavar": meta.metavar}
        elif isinstance(meta.metavar, tuple):
            arguments |= {"nargs": len(meta.metavar), "metavar": meta.metavar}
        else:
            arguments["metavar"] = meta.metavar or key.rsplit(".", 1)[-1].upper()
        groups[section].add_argument(flag, **arguments)


def run_overrides(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Dotted-key overrides from the flags given to ``command``, each parsed and checked.

    A mapping flag (``--model-option k=v``) sets one key of its mapping per use.
    """
    overrides: dict[str, Any] = {}
    for flag, key, meta, _ in _flags(command):
        given = getattr(args, DEST_PREFIX + flag, None)
        if given is None:
            continue
        if given is True:
            overrides[key] = True
        elif isinstance(meta.kind, Mapping):
            for text in given:
                for name, value in parsed(meta.kind, text, flag).items():
                    overrides[f"{key}.{name}"] = value
        else:
            text = ",".join(given) if isinstance(given, list) else given
            overrides[key] = parsed(meta.kind, text, flag)
    return overrides
