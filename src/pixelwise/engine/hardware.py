"""Where and how a run trains: the Trainer's accelerator, devices, strategy and precision."""

from __future__ import annotations

from typing import Any

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
    precision = PRECISIONS.get(str(value))
    if precision is None:
        raise PixelwiseError(
            f"unknown precision {value!r}; expected one of {', '.join(PRECISIONS)}"
        )
    return precision


def trainer_hardware(train: TrainSection) -> dict[str, Any]:
    """The ``pl.Trainer`` keyword arguments for ``train``'s hardware settings, checked.

    ``precision`` ``"32"`` becomes ``"32-true"``; ``devices`` is a count or ``"auto"``;
    ``strategy`` is ``"auto"`` or a Lightning strategy name such as ``"ddp"``.
    Raises ``PixelwiseError`` naming a bad value.
    """
    return {
        "accelerator": train.accelerator,
        "devices": train.devices,
        "num_nodes": train.num_nodes,
        "strategy": _strategy(train.strategy),
        "precision": _precision(train.precision),
    }
