"""Training callbacks that write into the run directory."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import lightning.pytorch as pl

from pixelwise.files import write_text_atomic

COLUMNS = ("epoch", "train_loss", "val_loss", "val_miou", "val_pixel_accuracy", "lr", "seconds")


class MetricsCSV(pl.Callback):
    """Rewrites ``metrics.csv`` (atomically) after every epoch; keeps earlier rows on resume."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, str]] = []
        self.started = time.perf_counter()

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.rows = self._read_rows(self.path)

    @staticmethod
    def _read_rows(path: Path) -> list[dict[str, str]]:
        if not path.exists():
            return []
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        values = {
            "epoch": trainer.current_epoch,
            "train_loss": metrics.get("train_loss_epoch"),
            "val_loss": metrics.get("val_loss"),
            "val_miou": metrics.get("val_miou"),
            "val_pixel_accuracy": metrics.get("val_pixel_accuracy"),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "seconds": time.perf_counter() - self.started,
        }
        self.rows = [r for r in self.rows if int(r["epoch"]) < trainer.current_epoch]
        self.rows.append({k: _plain(v) for k, v in values.items()})
        self._write()

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())


def _plain(value: object) -> str:
    """A tensor, float or int as CSV text; missing values as an empty cell."""
    if value is None:
        return ""
    if hasattr(value, "item"):
        value = value.item()
    return f"{value:.6g}" if isinstance(value, float) else str(value)
