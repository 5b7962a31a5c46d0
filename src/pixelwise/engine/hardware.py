"""Where and how a run trains: the Trainer's accelerator, devices, strategy and precision."""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch.strategies import StrategyRegistry

from pixelwise.config import TrainSection
from pixelwise.errors import PixelwiseError

# the spellings Lightning accepts without a deprecation warning, by what users may write
PRECISIONS = {
    "32": "32-true",
    "32-true": "32-true",
    "64": "64-true",
    "64-true": "64-true",
    "16-mixed": "16-mixed",
    "bf16-mixed": "bf16-mixed",
    "16-true": "16-true",
    "bf16-true": "bf16-true",
}


def _strategy(name: str) -> str:
    known = ["auto", *StrategyRegistry.available_strategies()]
    if name not in known:
        raise PixelwiseError(f"unknown strategy {name!r}; expected one of {', '.join(known)}")
    return name


def _precision(value: str | int) -> str:
    if str(value) == "auto":
        return "auto"  # resolved when the run starts (pixelwise.engine.speed)
    precision = PRECISIONS.get(str(value))
    if precision is None:
        raise PixelwiseError(
            f"unknown precision {value!r}; expected auto or one of {', '.join(PRECISIONS)}"
        )
    return precision


ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
"""The accelerators a run may name (``gpu`` and ``cuda`` are the same)."""


def _available_devices(accelerator: str) -> int:
    """How many devices of ``accelerator`` this machine has (CPU: its cores)."""
    if accelerator in ("gpu", "cuda"):
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if accelerator == "mps":
        return int(torch.backends.mps.is_available())
    return os.cpu_count() or 1


def check_hardware_names(train: TrainSection) -> None:
    """The hardware settings name an accelerator, strategy and precision that exist
    (wherever the run will train; :func:`trainer_hardware` checks this machine too)."""
    if train.accelerator not in ACCELERATORS:
        raise PixelwiseError(
            f"unknown accelerator {train.accelerator!r}; expected one of {', '.join(ACCELERATORS)}"
        )
    _strategy(train.strategy)
    _precision(train.precision)


def _accelerator(name: str) -> str:
    """``name`` if this machine has at least one device of that kind."""
    if name != "auto" and _available_devices(name) == 0:
        raise PixelwiseError(
            f"--accelerator {name}: this machine has no such device "
            f"(torch {torch.__version__}); use --accelerator cpu or auto"
        )
    return name


def _devices(train: TrainSection) -> int | str:
    """``train.devices`` if this machine has that many of the chosen accelerator."""
    wanted, accelerator = train.devices, train.accelerator
    if accelerator == "auto" or not isinstance(wanted, int):
        return wanted
    have = _available_devices(accelerator)
    if wanted > have:
        kind = "CPU cores" if accelerator == "cpu" else f"{accelerator} devices"
        raise PixelwiseError(
            f"--devices {wanted}: this machine has {have} {kind}; give at most {have}"
        )
    return wanted


def world_size(train: TrainSection) -> int:
    """The training processes ``train`` starts: devices per node (``auto``: one on the CPU,
    every GPU otherwise) times nodes."""
    devices = train.devices
    if not isinstance(devices, int):
        on_cpu = train.accelerator == "cpu" or _available_devices("gpu") == 0
        devices = 1 if on_cpu else _available_devices("gpu")
    return devices * train.num_nodes


def check_batches(train: TrainSection, samples: int, batch_size: int) -> None:
    """Every training process must get at least one batch of ``batch_size`` of the
    ``samples`` drawn in an epoch (full batches only, when there are more than one)."""
    world = world_size(train)
    each = -(-samples // world)
    if world > 1 and samples > batch_size and each < batch_size:
        raise PixelwiseError(
            f"{world} training processes (--devices × --num-nodes) share {samples} training "
            f"samples an epoch: {each} each, less than one batch of {batch_size}; use at "
            f"most {max(1, samples // batch_size)} processes or a smaller --batch-size"
        )


def trainer_hardware(train: TrainSection) -> dict[str, Any]:
    """The ``pl.Trainer`` keyword arguments for ``train``'s hardware settings, checked.

    ``precision`` ``"32"`` becomes ``"32-true"``; ``accelerator`` must be one this
    machine has; ``devices`` is a count (at most the machine's) or ``"auto"``;
    ``strategy`` is ``"auto"`` or a Lightning strategy name such as ``"ddp"``.
    Raises ``PixelwiseError`` naming a bad value.
    """
    check_hardware_names(train)
    return {
        "accelerator": _accelerator(train.accelerator),
        "devices": _devices(train),
        "num_nodes": train.num_nodes,
        "strategy": _strategy(train.strategy),
        "precision": _precision(train.precision),
    }
