"""Text chunks added to and removed from encoded PNG bytes, leaving every other byte as it was.

A PNG is an 8-byte signature followed by chunks: ``length (4, big-endian) | type (4) |
data | CRC-32 of type and data (4)``. A ``tEXt`` chunk holds ``keyword NUL text`` in
Latin-1. :func:`add_text_chunk` inserts one just before the first ``IDAT`` chunk (where
readers such as PIL find it without decoding the image), and :func:`remove_text_chunk`
takes it out again, so ``remove_text_chunk(add_text_chunk(png, k, t), k) == png`` byte for
byte.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(png: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """``(start, end, type, data)`` of every chunk, in order; malformed bytes raise ValueError."""
    if not png.startswith(SIGNATURE):
        raise ValueError("not PNG data (no PNG signature)")
    position = len(SIGNATURE)
    while position < len(png):
        if position + 12 > len(png):
            raise ValueError("truncated PNG chunk")
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(png):
            raise ValueError("truncated PNG chunk")
        yield position, end, kind, png[position + 8 : end - 4]
        position = end


def text_chunk(keyword: str, text: str) -> bytes:
    """One encoded ``tEXt`` chunk; ``keyword`` (1-79 characters) and ``text`` in Latin-1."""
    if not 1 <= len(keyword) <= 79 or "\0" in keyword or "\0" in text:
        raise ValueError(f"invalid PNG text keyword {keyword!r}")
    data = keyword.encode("latin-1") + b"\0" + text.encode("latin-1")
    body = b"tEXt" + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def add_text_chunk(png: bytes, keyword: str, text: str) -> bytes:
    """``png`` with a ``tEXt`` chunk ``keyword: text`` inserted before its first ``IDAT``."""
    for start, _, kind, _ in _chunks(png):
        if kind == b"IDAT":
            return png[:start] + text_chunk(keyword, text) + png[start:]
    raise ValueError("PNG data without an IDAT chunk")


def remove_text_chunk(png: bytes, keyword: str) -> bytes:
    """``png`` without its ``tEXt`` chunks whose keyword is ``keyword`` (others untouched)."""
    prefix = keyword.encode("latin-1") + b"\0"
    kept, position = [], 0
    for start, end, kind, data in _chunks(png):
        if kind == b"tEXt" and data.startswith(prefix):
            kept.append(png[position:start])
            position = end
    kept.append(png[position:])
    return b"".join(kept)
