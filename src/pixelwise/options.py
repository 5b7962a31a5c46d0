"""What an option accepts: checkers for option values, and their parsing from flag text.

Every run option is a dataclass field whose metadata holds an :class:`Option`: its
help text, its :class:`Kind` (the type and range it accepts) and its command-line flag.
The YAML keys, the flags and every check come from that one place (see
:mod:`pixelwise.config`).

A kind's ``check`` takes a value as YAML gives it and returns it normalised, or raises
``ValueError``; ``from_text`` parses a flag's text first. ``accepts`` says in words what
the kind accepts, for error messages: ``train.epochs must be an integer >= 1, got 'ten'``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from pixelwise.errors import PixelwiseError, excerpt
from pixelwise.sizes import parse_size


class Kind:
    """A set of accepted values; subclasses say which."""

    accepts: str = "a value"

    def check(self, value: Any) -> Any:
        return value

    def from_text(self, text: str) -> Any:
        return self.check(text)


def _bounds(minimum: float | None, maximum: float | None, exclusive: bool) -> str:
    low = "" if minimum is None else f"{'>' if exclusive else '>='} {minimum:g}"
    if maximum is None:
        return f" {low}" if low else ""
    if minimum is None:
        return f" <= {maximum:g}"
    return f" in {'(' if exclusive else '['}{minimum:g}, {maximum:g}]"


@dataclass(frozen=True)
class Integer(Kind):
    """A whole number (not a bool, not 2.5) within optional bounds."""

    minimum: int | None = None
    maximum: int | None = None

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return f"an integer{_bounds(self.minimum, self.maximum, False)}"

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(self.accepts)
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise ValueError(self.accepts)
        return value

    def from_text(self, text: str) -> int:
        try:
            return self.check(int(text.strip()))
        except ValueError:
            raise ValueError(self.accepts) from None


@dataclass(frozen=True)
class Number(Kind):
    """A finite real number within optional bounds; numeric text such as ``1e-3`` is read."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return f"a number{_bounds(self.minimum, self.maximum, self.exclusive_minimum)}"

    def check(self, value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(self.accepts)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(self.accepts) from None
        low, high = self.minimum, self.maximum
        too_low = low is not None and (number <= low if self.exclusive_minimum else number < low)
        if not math.isfinite(number) or too_low or (high is not None and number > high):
            raise ValueError(self.accepts)
        return number


@dataclass(frozen=True)
class Text(Kind):
    """A string, optionally one of ``choices``."""

    choices: tuple[str, ...] | None = None

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return f"one of {', '.join(self.choices)}" if self.choices else "a string"

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or (self.choices and value not in self.choices):
            raise ValueError(self.accepts)
        return value


@dataclass(frozen=True)
class Optional(Kind):
    """``None`` (YAML ``null``) or a value of ``kind``."""

    kind: Kind

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return f"{self.kind.accepts}, or null"

    def check(self, value: Any) -> Any:
        return None if value is None else self.kind.check(value)

    def from_text(self, text: str) -> Any:
        return self.kind.from_text(text)


@dataclass(frozen=True)
class AnyOf(Kind):
    """A value of the first of ``kinds`` that accepts it."""

    kinds: tuple[Kind, ...]

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return " or ".join(kind.accepts for kind in self.kinds)

    def _first(self, attempt: str, value: Any) -> Any:
        for kind in self.kinds:
            try:
                return getattr(kind, attempt)(value)
            except ValueError:
                continue
        raise ValueError(self.accepts)

    def check(self, value: Any) -> Any:
        return self._first("check", value)

    def from_text(self, text: str) -> Any:
        return self._first("from_text", text)


@dataclass(frozen=True)
class ListOf(Kind):
    """A list of ``item`` values: ``length`` of them, or 1 to ``max_length``, if given.

    Flag text is comma separated.
    """

    item: Kind
    length: int | None = None
    max_length: int | None = None

    @property
    def accepts(self) -> str:  # type: ignore[override]
        count = f"{self.length} " if self.length else ""
        if self.max_length:
            count = f"1 to {self.max_length} "
        return f"a list of {count}values, each {self.item.accepts}"

    def _counts(self, size: int) -> bool:
        if self.length is not None:
            return size == self.length
        return self.max_length is None or 1 <= size <= self.max_length

    def check(self, value: Any) -> list:
        if not isinstance(value, list | tuple) or not self._counts(len(value)):
            raise ValueError(self.accepts)
        try:
            return [self.item.check(item) for item in value]
        except ValueError:
            raise ValueError(self.accepts) from None

    def from_text(self, text: str) -> list:
        parts = [part.strip() for part in re.split(r"[,\s]+", text.strip()) if part.strip()]
        if not self._counts(len(parts)):
            raise ValueError(self.accepts)
        try:
            return [self.item.from_text(part) for part in parts]
        except ValueError:
            raise ValueError(self.accepts) from None


@dataclass(frozen=True)
class Mapping(Kind):
    """A mapping with string keys; from flags, ``KEY=VALUE`` pairs with values read as YAML."""

    values: Kind | None = None

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return "a mapping of names to values" + (
            f" (each {self.values.accepts})" if self.values else ""
        )

    def check(self, value: Any) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
            raise ValueError(self.accepts)
        if self.values is None:
            return dict(value)
        try:
            return {key: self.values.check(item) for key, item in value.items()}
        except ValueError:
            raise ValueError(self.accepts) from None

    def from_text(self, text: str) -> dict:
        return key_value(text)


@dataclass(frozen=True)
class MappingList(Kind):
    """A list of mappings, each with a string ``name`` (augmentation steps)."""

    accepts: str = "a list of mappings, each with a 'name'"

    def check(self, value: Any) -> list[dict]:
        if not isinstance(value, list) or not all(
            isinstance(step, dict) and isinstance(step.get("name"), str) for step in value
        ):
            raise ValueError(self.accepts)
        return value


@dataclass(frozen=True)
class ValueMap(Kind):
    """Stored mask value -> class index, e.g. ``{0: 0, 255: 1}``; as text ``0:0,255:1``.
    The key ``*`` stands for every value not listed (``0:0,*:1``)."""

    accepts: str = "a map of stored mask values (or *) to class indices, e.g. 0:0,255:1"

    def check(self, value: Any) -> dict[int | str, int]:
        integer = Integer()
        if not isinstance(value, dict) or not value:
            raise ValueError(self.accepts)
        try:
            return {(k if k == "*" else integer.check(k)): integer.check(v)
                    for k, v in value.items()}  # fmt: skip
        except ValueError:
            raise ValueError(self.accepts) from None

    def from_text(self, text: str) -> dict[int, int]:
        return parse_mask_values(text)


@dataclass(frozen=True)
class Size(Kind):
    """A size in bytes: a byte count, or text such as ``4G`` or ``512M`` (powers of 1024)."""

    accepts: str = "a size such as 4G or 512M"

    def check(self, value: Any) -> int:
        if isinstance(value, str):
            return self.from_text(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(self.accepts)
        return value

    def from_text(self, text: str) -> int:
        try:
            return parse_size(text, "")
        except PixelwiseError:
            raise ValueError(self.accepts) from None


@dataclass(frozen=True)
class OrNone(Optional):
    """A value of ``kind``, or ``None`` (no limit), written ``none`` in flag text."""

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return f"{self.kind.accepts} or none"

    def from_text(self, text: str) -> Any:
        if text.strip().lower() == "none":
            return None
        try:
            return self.kind.from_text(text)
        except ValueError:
            raise ValueError(self.accepts) from None


class Words(Kind):
    """A kind whose flag takes one or more words as separate arguments (``--tta flips d4``);
    ``from_text`` reads them joined by spaces."""


@dataclass(frozen=True)
class WordList(ListOf, Words):
    """A list of ``item`` values, one a word: commas stay inside a word (``scales:1,2``)."""

    def from_text(self, text: str) -> list:
        try:
            return self.check([self.item.from_text(word) for word in text.split()])
        except ValueError:
            raise ValueError(self.accepts) from None


@dataclass(frozen=True)
class TileSize(Words):
    """``auto``, ``none``, or a tile size ``H W`` in pixels (one number: a square tile),
    given as ``(H, W)``."""

    accepts: str = "auto, none or a tile size H W"

    def check(self, value: Any) -> str | tuple[int, int]:
        if value in ("auto", "none"):
            return value
        if not isinstance(value, list | tuple) or not 1 <= len(value) <= 2:
            raise ValueError(self.accepts)
        side = Integer(minimum=1)
        try:
            return side.check(value[0]), side.check(value[-1])
        except ValueError:
            raise ValueError(self.accepts) from None

    def from_text(self, text: str) -> str | tuple[int, int]:
        words = text.split()
        if len(words) == 1 and words[0] in ("auto", "none"):
            return words[0]
        try:
            return self.check([int(word) for word in words])
        except ValueError:
            raise ValueError(self.accepts) from None


@dataclass(frozen=True)
class OptionalValue(Kind):
    """A value of ``kind`` whose flag may also stand alone, reading ``bare`` then: ``--boundary``
    is ``--boundary 2`` when ``bare`` is ``"2"``."""

    kind: Kind
    bare: str

    @property
    def accepts(self) -> str:  # type: ignore[override]
        return self.kind.accepts

    def check(self, value: Any) -> Any:
        return self.kind.check(value)

    def from_text(self, text: str) -> Any:
        return self.kind.from_text(text)


def key_value(text: str) -> dict[str, Any]:
    """``KEY=VALUE`` as ``{KEY: VALUE}``, the value read as YAML (``k=6`` gives the int 6)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError("KEY=VALUE")
    try:
        return {key.strip(): yaml.safe_load(value)}
    except yaml.YAMLError:
        raise ValueError(f"KEY=VALUE with a readable value, got {excerpt(value)}") from None


def parse_mask_values(text: str) -> dict[int | str, int]:
    """Parse ``"0:0,255:1"`` (stored mask value : class index, comma separated; ``*`` for
    every other value) to a dict."""
    value_map: dict[int | str, int] = {}
    for part in text.split(","):
        match = re.fullmatch(r"\s*(-?\d+|\*)\s*:\s*(-?\d+)\s*", part)
        if match is None:
            raise PixelwiseError(
                f"bad mask value map '{text}': '{part.strip()}' is not 'stored:class' "
                "(e.g. '0:0,255:1', or '0:0,*:1')"
            )
        stored = match[1] if match[1] == "*" else int(match[1])
        target = int(match[2])
        if stored in value_map:
            raise PixelwiseError(f"bad mask value map '{text}': value {stored} appears twice")
        value_map[stored] = target
    return value_map


@dataclass(frozen=True)
class Option:
    """A run option: its help, what it accepts, its flag and the commands that offer the flag.

    ``flag`` is derived from the key when empty (``batch_size`` -> ``--batch-size``);
    ``None`` means the option is set in YAML only. By default ``train`` and ``compare``
    (where the flag sets the option in every run of a grid) offer the flag. A
    :class:`Mapping` option's flag is repeatable and sets one key per ``KEY=VALUE``.
    ``resumable`` options may change when a run is resumed (``--resume --epochs 20``);
    the others may not.
    """

    help: str
    kind: Kind = field(default_factory=Kind)
    flag: str | None = ""
    metavar: str | tuple[str, ...] | None = None
    commands: tuple[str, ...] = ("train", "compare")
    resumable: bool = False

    def flag_for(self, key: str) -> str | None:
        if self.flag is None:
            return None
        return self.flag or "--" + key.rsplit(".", 1)[-1].replace("_", "-")


def checked(kind: Kind, value: Any, name: str) -> Any:
    """``kind.check(value)``, a failure being a user error naming ``name``."""
    try:
        return kind.check(value)
    except ValueError:
        raise PixelwiseError(f"{name} must be {kind.accepts}, got {excerpt(value)}") from None


def parsed(kind: Kind, text: str, name: str) -> Any:
    """``kind.from_text(text)``, a failure being a user error naming ``name`` (a flag)."""
    try:
        return kind.from_text(text)
    except ValueError as err:
        raise PixelwiseError(f"{name} expects {err or kind.accepts}, got {excerpt(text)}") from None
