"""``pixelwise serve``: serve models over HTTP, a REST API and a web page."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import ClassVar

from pixelwise.cli.common import (
    backend_option,
    command,
    help_lists,
    max_memory_option,
    max_pixels_option,
)
from pixelwise.config import option
from pixelwise.errors import PixelwiseError
from pixelwise.flags import add_flags, read_flags
from pixelwise.options import Integer, Number, Text
from pixelwise.serve.options import ServeOptions


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how many are served at once."""

    TITLE: ClassVar[str] = "limits"

    max_upload_mb: float = option(
        ServeOptions.max_upload_mb,
        kind=Number(),
        metavar="MB",
        help="largest request body in MiB (default {default:g})",
    )
    max_pixels: int | None = max_pixels_option(
        ServeOptions.max_pixels,
        "N",
        "largest image in pixels, checked on its header (default {default})",
    )
    max_memory: int = max_memory_option(
        ServeOptions.max_memory, "memory one prediction may use before it is tiled, e.g. 1G"
    )
    workers: int = option(
        ServeOptions.workers,
        kind=Integer(),
        metavar="N",
        help="images predicted at once (default {default})",
    )
    queue: int = option(
        ServeOptions.queue,
        kind=Integer(),
        metavar="N",
        help="requests that may wait for a worker; more are answered 503 (default {default})",
    )
    token: str | None = option(
        kind=Text(),
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on the API and /metrics (default: "
        "$PIXELWISE_TOKEN; none)",
    )


@dataclass(frozen=True)
class ServeFlags:
    """The flags of ``pixelwise serve``."""

    host: str = option(ServeOptions.host, kind=Text(), help="address to bind (default {default})")
    port: int = option(
        ServeOptions.port, kind=Integer(), help="port (default {default}; 0: any free)"
    )
    backend: str | None = backend_option()
    limits: Limits = field(default_factory=Limits)


def add_parser(commands: argparse._SubParsersAction) -> None:
    serve = command(
        commands,
        "serve",
        'serve models over HTTP: a REST API and a web page (pip install "pixelwise[serve]")',
    )
    serve.add_argument(
        "models", nargs="+", metavar="MODEL",
        help="saved-model folder, run directory or classical method folder; NAME=PATH names it "
        "(default name: the folder's)",
    )  # fmt: skip
    add_flags(serve, ServeFlags, help_lists)
    serve.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from pixelwise.api import serve

    serve(args.models, serve_options(read_flags(args, ServeFlags)))
    return 0


def serve_options(flags: ServeFlags) -> ServeOptions:
    """The server's options: the flags, the token from ``$PIXELWISE_TOKEN`` if not given."""
    import os

    limits = flags.limits
    if limits.max_pixels is None:
        raise PixelwiseError("--max-pixels must be a pixel count for a server, not none")
    return ServeOptions(
        host=flags.host,
        port=flags.port,
        max_upload_mb=limits.max_upload_mb,
        max_pixels=limits.max_pixels,
        workers=limits.workers,
        queue=limits.queue,
        token=limits.token or os.environ.get("PIXELWISE_TOKEN") or None,
        backend=flags.backend,
        max_memory=limits.max_memory,
    )
