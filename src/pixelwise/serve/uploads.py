"""A request's image: its body read under the size limit, as a multipart field or raw bytes.

The body is refused (413) as soon as it is known to be too large: at once when its
``Content-Length`` says so, else when the bytes received pass the limit, without reading
the rest. A body that stalls for :data:`~pixelwise.serve.options.BODY_IDLE_SECONDS` is
refused (408). Everything stays in memory; nothing is written to disk.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header

from pixelwise.serve.errors import ApiError

IMAGE_FIELD = "image"
DEFAULT_NAME = "upload"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Upload:
    """The image's bytes and the name it came with (:data:`DEFAULT_NAME` when none)."""

    data: bytes
    filename: str

    @property
    def stem(self) -> str:
        """A file stem safe to put in a header: the name without folders or suffix."""
        base = self.filename.replace("\\", "/").rsplit("/", 1)[-1]
        stem = base.rsplit(".", 1)[0] if "." in base[1:] else base
        return _UNSAFE.sub("_", stem).strip("._")[:100] or DEFAULT_NAME


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than this server's limit of {limit:,} bytes")


def check_declared_size(content_length: str | None, limit: int) -> None:
    """Refuse a body whose ``Content-Length`` is above ``limit`` bytes, before reading it."""
    if content_length is None:
        return
    if not content_length.isdigit():
        raise ApiError(400, f"invalid Content-Length {content_length!r}")
    if int(content_length) > limit:
        raise _too_large(limit)


async def read_limited(chunks: AsyncIterator[bytes], limit: int, idle_seconds: float) -> bytes:
    """The whole body from ``chunks``, or 413 once it passes ``limit`` bytes (the rest is
    never read), or 408 when no chunk arrives for ``idle_seconds``."""
    body = bytearray()
    iterator = chunks.__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(iterator.__anext__(), idle_seconds)
        except StopAsyncIteration:
            return bytes(body)
        except asyncio.TimeoutError:
            raise ApiError(408, f"the request body stalled for {idle_seconds:g} s") from None
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)


def image_from_body(body: bytes, content_type: str) -> Upload:
    """The image of a request: the multipart field ``image``, or the whole raw body."""
    kind, params = parse_options_header(content_type or "")
    if kind == b"multipart/form-data":
        upload = _multipart_image(body, params.get(b"boundary", b""))
    else:
        upload = Upload(body, DEFAULT_NAME)
    if not upload.data:
        raise ApiError(400, "the image is empty: send it as the request body or as the "
                       f"multipart field '{IMAGE_FIELD}'")  # fmt: skip
    return upload


class _Parts:
    """Collects the ``image`` part of a multipart body (parser callbacks)."""

    def __init__(self) -> None:
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.disposition = b""
        self.data = bytearray()
        self.image: Upload | None = None
        self.names: list[str] = []

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_part_data": lambda d, s, e: self.data.extend(d[s:e]),
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self.disposition, self.data = b"", bytearray()

    def _header_end(self) -> None:
        if bytes(self.header_field).lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_field, self.header_value = bytearray(), bytearray()

    def _end(self) -> None:
        _, params = parse_options_header(self.disposition)
        name = params.get(b"name", b"").decode("latin-1")
        self.names.append(name)
        if name == IMAGE_FIELD and self.image is None:
            filename = params.get(b"filename", DEFAULT_NAME.encode()).decode("utf-8", "replace")
            self.image = Upload(bytes(self.data), filename)
        self.data = bytearray()


def _multipart_image(body: bytes, boundary: bytes) -> Upload:
    if not boundary:
        raise ApiError(400, "the multipart body has no boundary in its Content-Type")
    parts = _Parts()
    try:
        parser = MultipartParser(boundary, parts.callbacks())
        parser.write(body)
        parser.finalize()
    except Exception as error:  # python-multipart raises several types for malformed bodies
        raise ApiError(400, f"malformed multipart body: {error}") from None
    if parts.image is None:
        raise ApiError(
            400, f"the multipart body has no field '{IMAGE_FIELD}' ({_fields(parts.names)})"
        )
    return parts.image


def _fields(names: list[str], shown: int = 5) -> str:
    """A few of a body's field ``names`` and their count, each cut short."""
    if not names:
        return "no fields"
    listed = ", ".join(repr(name[:40]) for name in names[:shown])
    more = f", ... ({len(names)} fields in all)" if len(names) > shown else ""
    return f"fields: {listed}{more}"
