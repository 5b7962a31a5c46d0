"""The layout of a run directory, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    """Paths inside a run directory ``root``.

    ``config.yaml`` (resolved configuration), ``metrics.csv`` (one row per epoch),
    ``model/`` (best weights as a saved model), ``checkpoints/`` (``best.ckpt`` and
    ``last.ckpt`` for resume) and ``eval-<split>/metrics.json``.
    """

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    def eval_dir(self, split: str) -> Path:
        return self.root / f"eval-{split}"

    def holds_run(self) -> bool:
        """Whether a run was started here before."""
        return self.config.exists() or self.checkpoints.exists()
