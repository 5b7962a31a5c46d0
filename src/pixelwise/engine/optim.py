"""Optimisers and per-step learning-rate schedules.

``sgd``: SGD with momentum 0.9 and the poly schedule ``lr * (1 - step / total) ** 0.9``
(as in DeepLab). ``adamw``: AdamW with a cosine schedule, after an optional linear
warmup of ``warmup_steps``.

Both take PyTorch's fused step (one kernel over all parameters) where this PyTorch has
one for the parameters' device: on this project's CPU AdamW's step took 4.0 against
12.4 ms for LR-ASPP's 178 tensors and 12.7 against 39.6 ms for DeepLabV3+ over ResNet-18
(3.1× as fast as PyTorch's default loop over them; SGD 1.9–2.3×), with the same values
up to float rounding (``benchmarks/optimizers.py``). Whether the step is fused is
decided by the PyTorch and device at hand, also when a run resumes: the saved state's
own flag (from the machine that wrote it) is not restored.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

from pixelwise.config import TrainSection
from pixelwise.errors import PixelwiseError

OPTIMIZERS = ("adamw", "sgd")
MOMENTUM = 0.9
POLY_POWER = 0.9


def check_optimizer(name: str) -> None:
    """Raise a user error unless ``name`` is one of :data:`OPTIMIZERS`."""
    if name not in OPTIMIZERS:
        raise PixelwiseError(f"unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)}")


def check_optimisation(train: TrainSection) -> None:
    """Raise a user error for an unknown optimizer or warmup given to sgd.

    The ranges of single values are checked with the configuration itself.
    """
    check_optimizer(train.optimizer)
    if train.optimizer == "sgd" and train.warmup_steps > 0:
        raise PixelwiseError(
            f"train.warmup_steps ({train.warmup_steps}) applies to adamw only, not sgd"
        )


def param_groups(
    model: nn.Module, encoder: nn.Module | None, lr: float, encoder_lr_mult: float
) -> list[dict]:
    """The encoder's parameters at ``lr * encoder_lr_mult``, the rest at ``lr``.

    Without an encoder, or with a multiplier of 1, there is one group.
    """
    if encoder is None or encoder_lr_mult == 1.0:
        return [{"params": list(model.parameters()), "lr": lr}]
    in_encoder = {id(p) for p in encoder.parameters()}
    rest = [p for p in model.parameters() if id(p) not in in_encoder]
    return [
        {"params": list(encoder.parameters()), "lr": lr * encoder_lr_mult},
        {"params": rest, "lr": lr},
    ]


def build_optimizer(
    name: str, groups: list[dict], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """Optimizer ``name`` (see :data:`OPTIMIZERS`) over parameter ``groups``."""
    check_optimizer(name)
    fused = has_fused_step(groups)
    if name == "sgd":
        optimizer = torch.optim.SGD(
            groups, lr=lr, momentum=MOMENTUM, weight_decay=weight_decay, fused=fused
        )
    else:
        optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=fused)
    optimizer.register_load_state_dict_pre_hook(keep_own_fused_flag)
    return optimizer


def keep_own_fused_flag(optimizer: torch.optim.Optimizer, state: dict) -> dict:
    """``state`` (an optimiser's state dict about to be loaded into ``optimizer``) with
    ``optimizer``'s own ``fused`` flag in each parameter group.

    A checkpoint written where the step was fused would otherwise make a PyTorch without
    fused kernels for the device (the CPU before 2.4) fail at its first step, and one
    written without would keep the slower loop.
    """
    saved_groups = state["param_groups"]
    if len(saved_groups) != len(optimizer.param_groups):
        return state  # PyTorch refuses it, with its own message
    pairs = zip(saved_groups, optimizer.param_groups, strict=True)
    groups = [{**saved, "fused": group["fused"]} for saved, group in pairs]
    return {**state, "param_groups": groups}


def has_fused_step(groups: list[dict]) -> bool:
    """Whether this PyTorch has a fused optimiser step for every parameter in ``groups``
    (floating point, on a device it has fused kernels for: CUDA, and the CPU since 2.4)."""
    devices = _get_fused_kernels_supported_devices()
    return all(
        p.device.type in devices and torch.is_floating_point(p)
        for group in groups
        for p in group["params"]
    )


def poly_factor(step: float, total: int) -> float:
    """The poly schedule's multiplier of the base learning rate at ``step`` of ``total``."""
    return (1.0 - min(step, total) / total) ** POLY_POWER


def warmup_cosine_factor(step: float, total: int, warmup: int) -> float:
    """Linear ramp over ``warmup`` steps to 1, then cosine from 1 to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(step - warmup, total - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_schedule(
    name: str,
    optimizer: torch.optim.Optimizer,
    total: int,
    warmup: int,
    position: Callable[[int, int], float] | None = None,
) -> LRScheduler:
    """The per-step schedule of optimizer ``name`` over ``total`` steps.

    ``position(step, total)``, when given, is the step the schedule reads instead of
    the step reached (a time budget's :meth:`~pixelwise.engine.budget.TimeBudget.schedule_step`).

    The learning rate is a closed-form function of the step number (a ``LambdaLR``),
    and a checkpoint stores only the step reached. So a resumed run continues exactly
    where it stopped, and a run extended to more epochs (``--resume --epochs N``)
    follows the curve planned for the new total from the step it reached: the curve of
    a run started with N epochs.
    """

    def factor(step: int) -> float:
        at = step if position is None else position(step, total)
        if name == "sgd":
            return poly_factor(at, total)
        return warmup_cosine_factor(at, total, warmup)

    return LambdaLR(optimizer, factor)
