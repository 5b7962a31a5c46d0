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


@pytest.fixture(scope="module")
def tiny_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny U-Net (base width 4, depth 2) for the synthetic shapes' four classes,
    with non-trivial BatchNorm statistics and a working scale of 0.5."""
    import torch

    import pixelwise
    from pixelwise.data.base import DatasetInfo
    from pixelwise.data.synthetic import SHAPE_CLASSES, SHAPE_COLOURS
    from pixelwise.data.transforms import Normalization
    from pixelwise.models.saving import ModelCard, save_model

    torch.manual_seed(0)
    model = pixelwise.build_model("unet", len(SHAPE_CLASSES), base_width=4, depth=2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    info = DatasetInfo(SHAPE_CLASSES, SHAPE_COLOURS)
    card = ModelCard(model.config, info, Normalization.default(3), input_scale=0.5)
    folder = tmp_path_factory.mktemp("tiny") / "model"
    save_model(folder, model.eval(), card)
    return folder
