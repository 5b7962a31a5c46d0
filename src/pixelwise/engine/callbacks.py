"""What a run records at the end of every epoch, and how its checkpoints are read and written.

:class:`EpochRecord` keeps, in this order: the best model so far (``model/``), the
checkpoint of the epoch just finished (``checkpoints/last.ckpt``, the one before moved
to ``previous.ckpt``) and ``metrics.csv``, whose last columns come from
:class:`StepClock`: the epoch's training images per second (validation excluded) and
the share of its training time spent waiting for batches. The CSV rows travel inside
the checkpoint, so after a kill at any moment the run resumes from the last finished
epoch with the rows it had written, byte for byte, and no epoch twice.

:class:`SafeCheckpointIO` writes checkpoints atomically and reads them with
``torch.load(weights_only=True)`` whatever the installed torch's default: a checkpoint
someone swapped in cannot run code.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint

from pixelwise.errors import PixelwiseError
from pixelwise.files import atomic_file, write_text_atomic
from pixelwise.models.saving import ModelCard, save_model
from pixelwise.rundir import RunDir

COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_miou",
    "val_pixel_accuracy",
    "lr",
    "seconds",
    "train_images_per_second",
    "data_wait",
)
READ_ERRORS = (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A training checkpoint's contents, read without unpickling anything but plain data.

    Raises:
        PixelwiseError: naming ``path`` when it is missing, truncated or not a checkpoint.
    """
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except READ_ERRORS as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PixelwiseError(f"cannot read checkpoint '{path}': {reason}") from None
    if not isinstance(loaded, dict) or "state_dict" not in loaded:
        raise PixelwiseError(f"'{path}' is not a pixelwise training checkpoint")
    return loaded


class SafeCheckpointIO(TorchCheckpointIO):
    """Atomic checkpoint writes that keep the replaced file as ``previous``; safe reads."""

    def __init__(self, previous: Path) -> None:
        self.previous = previous

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        path = Path(path)
        with atomic_file(path) as temporary:
            torch.save(checkpoint, temporary)
            if path.exists():
                os.replace(path, self.previous)

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: Any = None
    ) -> dict:
        return read_checkpoint(path)


class StepClock(pl.Callback):
    """Times an epoch's training steps and the waits for their batches.

    A step runs from ``on_train_batch_start`` to ``on_train_batch_end`` (forward,
    backward, optimiser); the wait before it, from the previous step's end (or the
    epoch's start), is the time spent getting its batch (loading, augmenting, moving it)
    and in the loop between steps. Validation is outside both.
    """

    def __init__(self) -> None:
        self.images = 0
        self.waits: list[float] = []
        self.steps: list[float] = []
        self._mark = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.images, self.waits, self.steps = 0, [], []
        self._mark = time.perf_counter()

    def on_train_batch_start(
        self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        self.waits.append(now - self._mark)
        self._mark = now

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:  # fmt: skip
        now = time.perf_counter()
        self.steps.append(now - self._mark)
        self.images += len(batch[0])
        self._mark = now

    @property
    def seconds(self) -> float:
        """The epoch's training time so far: steps and waits."""
        return sum(self.waits) + sum(self.steps)

    def images_per_second(self) -> float | None:
        """Training images per second of the epoch so far (None before the first step)."""
        return self.images / self.seconds if self.steps else None

    def wait_share(self) -> float | None:
        """The share of the epoch's training time spent waiting for batches."""
        return sum(self.waits) / self.seconds if self.steps else None


class EpochRecord(Checkpoint):
    """At each epoch's end: the best model, then ``last.ckpt``, then ``metrics.csv``.

    ``model/`` is replaced whenever ``val_miou`` beats the best so far (``card`` goes with
    the weights). Only process 0 writes files; every process takes part in the checkpoint.
    """

    def __init__(self, run: RunDir, card: ModelCard, clock: StepClock) -> None:
        self.run = run
        self.card = card
        self.clock = clock
        self.rows: list[dict[str, str]] = []
        self.best: float | None = None
        self.started = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        self.rows = [row for row in self.rows if int(row["epoch"]) < epoch]
        self.rows.append(self._row(trainer))
        score = float(trainer.callback_metrics.get("val_miou", float("nan")))
        if self.best is None or score > self.best:
            self.best = score
            if trainer.is_global_zero:
                save_model(self.run.model, module.model, self.card)
        trainer.save_checkpoint(self.run.last_checkpoint)
        if trainer.is_global_zero:
            write_text_atomic(self.run.metrics_csv, _csv(self.rows))

    def _row(self, trainer: pl.Trainer) -> dict[str, str]:
        metrics = trainer.callback_metrics
        values = {
            "epoch": trainer.current_epoch,
            "train_loss": metrics.get("train_loss_epoch"),
            "val_loss": metrics.get("val_loss"),
            "val_miou": metrics.get("val_miou"),
            "val_pixel_accuracy": metrics.get("val_pixel_accuracy"),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "seconds": time.perf_counter() - self.started,
            "train_images_per_second": self.clock.images_per_second(),
            "data_wait": self.clock.wait_share(),
        }
        return {key: _plain(value) for key, value in values.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
        self.best = state_dict["best"]


def _csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _plain(value: object) -> str:
    """A tensor, float or int as CSV text; missing values as an empty cell."""
    if value is None:
        return ""
    if hasattr(value, "item"):
        value = value.item()
    return f"{value:.6g}" if isinstance(value, float) else str(value)
