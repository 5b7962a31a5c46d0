"""Saving a benchmark's results: the rows plus the environment they were measured in."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch

from pixelwise.files import write_text_atomic


def save_results(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` plus torch version, thread count and machine as JSON, atomically."""
    environment = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": torch.multiprocessing.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    write_text_atomic(path, json.dumps({**payload, **environment}, indent=2) + "\n")
    print(f"wrote {path}")
