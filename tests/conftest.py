"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder: ``$PIXELWISE_DATA``, else ``../shared/data`` beside the checkout.

    Skips the test when the folder is absent.
    """
    env = os.environ.get("PIXELWISE_DATA")
    root = Path(env) if env else Path(__file__).parents[2] / "shared" / "data"
    if not root.is_dir():
        pytest.skip(f"real data not found at '{root}' (set PIXELWISE_DATA to its folder)")
    return root
