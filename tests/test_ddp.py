"""Two-process DDP training on the CPU: validation scores merge to the single-process ones."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pixelwise.config import load_config
from pixelwise.data.registry import load_split
from pixelwise.data.transforms import Normalization, TensorDataset
from pixelwise.metrics import ConfusionMatrix
from pixelwise.models.saving import load_model

# 6 validation images shard evenly over 2 processes, so DistributedSampler repeats none
TINY = {
    "model": {"name": "unet", "options": {"base_width": 4, "depth": 2}},
    "data": {
        "name": "synthetic",
        "options": {"size": 32, "seed": 5},
        "split_options": {"train": {"num_images": 16}, "val": {"num_images": 6}},
        "batch_size": 4,
        "num_workers": 0,
    },
    "train": {"epochs": 1, "lr": 0.01, "accelerator": "cpu"},
}


def single_process_miou(model_dir: Path, config_path: Path) -> float:
    """Dataset-level mIoU of the saved model over the run's validation split, in this process."""
    config = load_config(config_path)
    module, _ = load_model(model_dir)
    val = load_split(config.data, config.data.val_split)
    confusion = ConfusionMatrix(val.info.num_classes, val.info.ignore_index)
    with torch.inference_mode():
        for image, mask in TensorDataset(val, Normalization.default(val.info.channels)):
            confusion.update(module(image[None]), mask[None])
    return confusion.compute().miou


@pytest.mark.slow
def test_ddp_validation_scores_equal_single_process_scores(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "run"
    command = [sys.executable, "-m", "pixelwise", "train", "--config", str(config)]
    command += ["--out", str(run), "--devices", "2", "--strategy", "ddp"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = csv.DictReader((run / "metrics.csv").open())
    merged = float(row["val_miou"])
    expected = single_process_miou(run / "model", run / "config.yaml")
    assert merged == pytest.approx(expected, abs=1e-6)
    evaluated = json.loads((run / "eval-val" / "metrics.json").read_text())["miou"]
    assert evaluated == pytest.approx(expected, abs=1e-6)
