"""The Lightning module: one segmentation model, its loss, optimiser and validation metrics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch

from pixelwise.config import TrainSection
from pixelwise.engine.budget import TimeBudget
from pixelwise.engine.optim import build_optimizer, build_schedule, param_groups
from pixelwise.engine.speed import (
    is_bfloat16,
    memory_format_of,
    resolve_memory_format,
    training_network,
)
from pixelwise.engine.transfer import encoder_of
from pixelwise.losses import build_loss
from pixelwise.metrics import ConfusionMatrix
from pixelwise.models import build_model

Batch = tuple[torch.Tensor, torch.Tensor]


class SegmentationModule(pl.LightningModule):
    """Trains ``build_model(**model_config)`` with a per-step learning-rate schedule.

    ``train`` (the run's train section) chooses the loss, the optimiser, its schedule
    and the encoder's learning rate (see :mod:`pixelwise.engine.optim`); ``class_weights``
    are the resolved weights of the loss, one per class.

    The model and its images are in ``train.memory_format`` while it trains (see
    :mod:`pixelwise.engine.speed`). Batches are ``(images (N, C, H, W) float, masks
    (N, H, W) int64)``. Validation
    accumulates one dataset-level confusion matrix per epoch and logs ``val_miou``
    (the checkpoint monitor), ``val_pixel_accuracy`` and ``val_loss``. Under DDP the
    matrix is summed over all processes before scoring, so every process logs the
    scores of the whole validation set (with the few samples that ``DistributedSampler``
    repeats to even out the shards counted twice; see ``ConfusionMatrix.all_reduce``).
    """

    def __init__(
        self,
        model_config: dict[str, Any],
        ignore_index: int,
        train: TrainSection | None = None,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.train_options = train or TrainSection()
        self.model = build_model(**model_config)
        num_classes = model_config["num_classes"]
        loss = self.train_options.loss
        self.criterion = build_loss(loss, num_classes, ignore_index, class_weights)
        self.confusion = ConfusionMatrix(num_classes, ignore_index)
        self.memory_format = memory_format_of(resolve_memory_format(self.train_options).value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def on_fit_start(self) -> None:
        on_cpu = self.device.type == "cpu"
        training_network(
            self.model, self.memory_format, on_cpu, is_bfloat16(self.trainer.precision)
        )

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        images, masks = batch
        images = images.contiguous(memory_format=self.memory_format)
        loss = self.criterion(self(images), masks)
        self.log(
            "train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(images)
        )
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        images, masks = batch
        logits = self(images.contiguous(memory_format=self.memory_format))
        self.log("val_loss", self.criterion(logits, masks), on_epoch=True, batch_size=len(images))
        self.confusion.update(logits, masks)

    def on_validation_epoch_start(self) -> None:
        self.confusion.reset()

    def on_validation_epoch_end(self) -> None:
        scores = self.confusion.all_reduce().compute()
        self.log("val_miou", _finite(scores.miou), prog_bar=True)
        self.log("val_pixel_accuracy", _finite(scores.pixel_accuracy))

    def configure_optimizers(self) -> dict[str, Any]:
        train = self.train_options
        groups = param_groups(self.model, encoder_of(self.model), train.lr, train.encoder_lr_mult)
        optimizer = build_optimizer(train.optimizer, groups, train.lr, train.weight_decay)
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        budget = next((c for c in self.trainer.callbacks if isinstance(c, TimeBudget)), None)
        position = budget.schedule_step if budget is not None else None
        schedule = build_schedule(train.optimizer, optimizer, steps, train.warmup_steps, position)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def _finite(value: float) -> float:
    """NaN (nothing to score) logs as 0 so that checkpoint selection stays well defined."""
    return 0.0 if value != value else value
