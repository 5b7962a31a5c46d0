"""What several commands share: the subcommand maker, the names help texts list, the data
section of the data flags, the options spelled once for several commands (backend, memory
and pixel limits), and the flags that send work to Ray."""

from __future__ import annotations

import argparse
from functools import cache
from typing import Any

from pixelwise.config import option
from pixelwise.errors import PixelwiseError
from pixelwise.options import Integer, OrNone, Size, Text
from pixelwise.sizes import format_size

PIXEL_LIMIT = OrNone(Integer(minimum=1))
"""A largest image in pixels, or ``none`` for no limit."""


def command(
    commands: argparse._SubParsersAction, name: str, summary: str, description: str = ""
) -> argparse.ArgumentParser:
    """A subcommand whose usage errors are its own (not the top-level usage)."""
    parser = commands.add_parser(
        name, help=summary, description=description or summary, allow_abbrev=False
    )
    parser.set_defaults(command_parser=parser)
    return parser


def model_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The ``RUN_OR_MODEL_DIR`` argument of the commands that take a trained model."""
    parser.add_argument(
        "model_dir", metavar="RUN_OR_MODEL_DIR", help="a run directory or a saved model folder"
    )


@cache
def help_lists() -> dict[str, str]:
    """The names that help texts list, read from the registries."""
    from pixelwise.classical import list_methods
    from pixelwise.data.registry import list_datasets
    from pixelwise.inference.backends import BACKENDS
    from pixelwise.losses import LOSS_NAMES
    from pixelwise.models import list_encoders, list_models

    return {
        "models": ", ".join(list_models()),
        "encoders": ", ".join(list_encoders()) + ", timm:<name>",
        "datasets": ", ".join(list_datasets()),
        "losses": ", ".join(LOSS_NAMES),
        "methods": ", ".join(list_methods()),
        "backends": ", ".join(BACKENDS),
    }


def data_section(overrides: dict[str, Any]):
    """A data section made of the data flags alone."""
    from pixelwise.config import RunConfig, merge

    return merge(RunConfig(), overrides).data


def backend_option() -> Any:
    """``--backend NAME``: what runs the network."""
    return option(
        kind=Text(),
        metavar="NAME",
        help="what runs the network: {backends} (default: torch; an exported folder: its "
        "format's runtime)",
    )


def max_memory_option(default: int, help: str) -> Any:
    """``--max-memory SIZE``: a memory budget in bytes, given as 4G or 512M."""
    return option(
        default, kind=Size(), metavar="SIZE", help=f"{help} (default {format_size(default)})"
    )


def max_pixels_option(default: int, metavar: str, help: str) -> Any:
    """``--max-pixels``: the largest image in pixels, or ``none``."""
    return option(default, kind=PIXEL_LIMIT, metavar=metavar, help=help)


def ray_flags(
    parser: argparse.ArgumentParser, selector: str, unit: str, default_cpus: float, what: str
) -> None:
    """``selector`` (local|ray), ``--address`` and the per-``unit`` resources of Ray work."""
    group = parser.add_argument_group(selector.removeprefix("--"))
    group.add_argument(
        selector, choices=["local", "ray"], default="local",
        help=f'local: this machine (default); ray: {what} (pip install "pixelwise[ray]")',
    )  # fmt: skip
    group.add_argument(
        "--address", metavar="auto|HOST:PORT",
        help="Ray cluster to join (default: start Ray on this machine; auto: the cluster this "
        "machine belongs to)",
    )  # fmt: skip
    group.add_argument(
        f"--cpus-per-{unit}", type=float, metavar="C",
        help=f"CPUs each Ray {unit} reserves, fractions allowed (default {default_cpus:g})",
    )  # fmt: skip
    group.add_argument(
        f"--gpus-per-{unit}", type=float, metavar="G",
        help=f"GPUs each Ray {unit} reserves, fractions allowed (default 0)",
    )  # fmt: skip


def ray_resources(args: argparse.Namespace, selector: str, unit: str) -> tuple[float, float]:
    """The per-``unit`` CPUs and GPUs given (None: not given); with a local engine, any
    Ray flag is an error."""
    given = {
        "--address": args.address,
        f"--cpus-per-{unit}": getattr(args, f"cpus_per_{unit}"),
        f"--gpus-per-{unit}": getattr(args, f"gpus_per_{unit}"),
    }
    if getattr(args, selector) != "ray":
        for flag, value in given.items():
            if value is not None:
                raise PixelwiseError(f"{flag} applies to --{selector} ray (it is local)")
    return given[f"--cpus-per-{unit}"], given[f"--gpus-per-{unit}"]
