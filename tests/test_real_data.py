"""Short training runs on the real datasets in ``../shared/data`` (slow; skipped without data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pixelwise.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.data]


def test_brief_isbi2012_training_beats_the_majority_class(
    shared_data: Path, tmp_path: Path
) -> None:
    """A narrow U-Net, 25 short epochs on 128² crops of slices 0–14, scored on slices 15–19."""
    run = tmp_path / "isbi"
    argv = [
        "train", "--data", "isbi2012", "--data-root", str(shared_data / "isbi2012"),
        "--model-option", "base_width=8", "--model-option", "depth=3",
        "--crop", "128", "128", "--batch-size", "4", "--epochs", "25", "--lr", "0.003",
        "--accelerator", "cpu", "--out", str(run),
    ]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((run / "eval-val" / "metrics.json").read_text())
    cell_share = metrics["per_class"]["cell"]["support"] / metrics["num_pixels"]
    assert metrics["split"] == "val" and metrics["num_pixels"] == 5 * 512 * 512
    assert metrics["pixel_accuracy"] > cell_share  # better than calling every pixel "cell"
    assert metrics["per_class"]["membrane"]["iou"] > 0.3
