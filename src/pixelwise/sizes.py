"""Sizes in bytes, as users write them (``4G``, ``512M``) and as messages print them."""

from __future__ import annotations

import re

from pixelwise.errors import PixelwiseError

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str, flag: str) -> int:
    """Bytes from ``text``: a number, optionally with K, M, G or T (powers of 1024), e.g. 4G;
    a user error naming ``flag`` otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise PixelwiseError(f"{flag} expects a size such as 4G or 512M, got {text!r}")
    return int(float(match[1]) * _UNITS[match[2].upper()])


def format_size(size: float) -> str:
    """``size`` bytes in the largest unit that keeps three significant digits: ``1 byte``,
    ``512 bytes``, ``1.50 KiB``, ``3.2 GiB``."""
    if size < 1024:
        return f"{size:.0f} byte{'' if size == 1 else 's'}"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1000:
            return f"{size:.3g} {unit}"
        if unit == "TiB":
            return f"{size:,.0f} {unit}"
    raise AssertionError("unreachable")
