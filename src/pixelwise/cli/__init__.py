"""pixelwise: semantic segmentation with the classic networks, from training to prediction.

Every command has --help. Mistakes a user can make end as one ``error: ...`` line and
exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from pixelwise.allocator import keep_freed_memory
from pixelwise.cli import (
    bench,
    compare,
    data,
    demo,
    evaluate,
    export,
    models,
    plan,
    predict,
    serve,
    train,
)
from pixelwise.cli.common import help_lists as _help_lists
from pixelwise.cli.train import run_config
from pixelwise.errors import PixelwiseError

__all__ = ["_help_lists", "build_parser", "main", "run_config"]

COMMANDS = (demo, train, plan, evaluate, predict, export, bench, compare, models, data, serve)
"""The modules of the commands, each with its ``add_parser``, in the order help lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The ``pixelwise`` command line: one subcommand per workflow."""
    from pixelwise import __version__

    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="pixelwise",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Run `pixelwise COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pixelwise {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*treespec.*deprecated.*")
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: every temporary file is removed on the way out."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    _quiet_libraries()
    keep_freed_memory()
    try:
        with _sigterm_as_interrupt():
            return args.handler(args)
    except PixelwiseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
