"""The tiny run that command-line tests train: a U-Net of width 4 on 32-px generated shapes."""

from __future__ import annotations

from pathlib import Path

import yaml

TINY = {
    "model": {"name": "unet", "options": {"base_width": 4, "depth": 2}},
    "data": {
        "name": "synthetic",
        "options": {"size": 32, "seed": 3},
        "split_options": {"train": {"num_images": 8}, "val": {"num_images": 3}},
        "batch_size": 4,
    },
    "train": {"epochs": 1, "accelerator": "cpu"},
}


def write_config(folder: Path, **train: object) -> Path:
    """``folder/tiny.yaml``: :data:`TINY` with ``train`` settings added; returns its path."""
    file = folder / "tiny.yaml"
    file.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], **train}}))
    return file
