"""Checking the parameters of a classical method; a bad value is a user error naming it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pixelwise.errors import PixelwiseError


def check_choice(method: str, key: str, value: Any, options: Sequence[Any]) -> Any:
    """``value`` if it is one of ``options``; else an error listing them."""
    if value not in options:
        valid = ", ".join(str(option) for option in options)
        raise PixelwiseError(f"{method}: parameter '{key}' must be one of {valid}; got {value!r}")
    return value


def check_int(method: str, key: str, value: Any, minimum: int) -> int:
    """``value`` if it is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PixelwiseError(
            f"{method}: parameter '{key}' must be an integer >= {minimum}; got {value!r}"
        )
    return value


def check_odd(method: str, key: str, value: Any, minimum: int) -> int:
    """``value`` if it is an odd integer of at least ``minimum``."""
    if check_int(method, key, value, minimum) % 2 == 0:
        raise PixelwiseError(
            f"{method}: parameter '{key}' must be an odd integer >= {minimum}; got {value!r}"
        )
    return value


def check_number(method: str, key: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float if it is a number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise PixelwiseError(
            f"{method}: parameter '{key}' must be a number in [{low:g}, {high:g}]; got {value!r}"
        )
    return float(value)


def check_bool(method: str, key: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise PixelwiseError(f"{method}: parameter '{key}' must be true or false; got {value!r}")
    return value


def check_points(method: str, key: str, value: Any) -> list[list[int]] | None:
    """``None``, or a non-empty list of ``[row, col]`` pixel coordinates (non-negative ints)."""
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) > 0
    ok = ok and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_index(v) for v in p) for p in value
    )
    if not ok:
        raise PixelwiseError(
            f"{method}: parameter '{key}' must be a list of [row, col] points, "
            f"e.g. [[10, 20], [40, 5]]; got {value!r}"
        )
    return [[int(r), int(c)] for r, c in value]


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
