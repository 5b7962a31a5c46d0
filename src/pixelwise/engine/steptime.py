"""How fast a network trains and predicts on this machine: a few timed steps, nothing else.

:func:`training_speed` runs the training step that :func:`pixelwise.engine.fit.fit` runs
(the model in the run's memory format, with its grouped convolutions as the engine trains
them, the loss, AdamW, bfloat16 autocast when the run's precision says so) over batches
made beforehand, and returns images per second after a warm-up. ``benchmarks/training.py``
measured ``pixelwise train`` at 0.92–1.09× this speed, so it predicts what a run will do;
the planner times its candidates with it.
:func:`prediction_seconds` times the validation forward pass of one image.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

from pixelwise.config import TrainSection
from pixelwise.engine.optim import build_optimizer
from pixelwise.engine.speed import is_bfloat16, memory_format_of, training_network
from pixelwise.losses import build_loss

Batch = tuple[torch.Tensor, torch.Tensor]


def random_batches(
    count: int, batch_size: int, channels: int, size: Sequence[int], num_classes: int
) -> list[Batch]:
    """``count`` batches of seeded random images ``(N, C, H, W)`` and labels ``(N, H, W)``."""
    generator = torch.Generator().manual_seed(0)
    shape = (batch_size, channels, *size)
    return [
        (
            torch.randn(shape, generator=generator),
            torch.randint(0, num_classes, (batch_size, *size), generator=generator),
        )
        for _ in range(count)
    ]


def training_speed(
    model: nn.Module,
    train: TrainSection,
    batches: Sequence[Batch],
    num_classes: int,
    ignore_index: int,
    class_weights: Sequence[float] | None = None,
    warmup: int = 2,
    steps: int = 3,
) -> float:
    """Images per second of ``model`` training on ``batches`` (cycled) as ``train`` (with a
    resolved precision and memory format) says: the median of ``steps`` steps timed after
    ``warmup`` (robust to a step that another process slowed)."""
    layout, bfloat16 = memory_format_of(train.memory_format), is_bfloat16(train.precision)
    model = training_network(model.train(), layout, on_cpu=True, bfloat16=bfloat16)
    criterion = build_loss(train.loss, num_classes, ignore_index, class_weights)
    groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    optimizer = build_optimizer(train.optimizer, groups, train.lr, train.weight_decay)
    ready = [(x.contiguous(memory_format=layout), y) for x, y in batches]
    cycle = itertools.cycle(ready)

    def step() -> None:
        images, masks = next(cycle)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            loss = criterion(model(images), masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return len(ready[0][0]) / statistics.median(seconds)


def prediction_seconds(
    model: nn.Module, train: TrainSection, channels: int, size: Sequence[int], repeats: int = 2
) -> float:
    """Seconds of one forward pass of ``model`` on one ``size`` image, as validation runs it
    (eval mode, no gradients, the run's precision and memory format); the fastest of
    ``repeats`` after one warm-up pass."""
    layout, bfloat16 = memory_format_of(train.memory_format), is_bfloat16(train.precision)
    model = training_network(model.eval(), layout, on_cpu=True, bfloat16=bfloat16)
    image = torch.randn(1, channels, *size).contiguous(memory_format=layout)
    times = []
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bfloat16):
        for _ in range(repeats + 1):
            started = time.perf_counter()
            model(image)
            times.append(time.perf_counter() - started)
    return min(times[1:])
