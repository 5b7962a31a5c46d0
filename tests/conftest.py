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


def save_tiny_unet(
    folder: Path,
    num_classes: int = 3,
    channels: int = 3,
    info: object = None,
    input_scale: float = 1.0,
) -> Path:
    """A tiny U-Net (base width 4, depth 2) with non-trivial BatchNorm statistics and a
    sharpened head (so that its labels vary across an image), saved.

    ``info`` (a ``DatasetInfo``) names the classes; by default ``c0``, ``c1``, ...
    """
    import torch

    import pixelwise
    from pixelwise.data.base import DatasetInfo, default_colours
    from pixelwise.data.transforms import Normalization
    from pixelwise.models.saving import ModelCard, save_model

    torch.manual_seed(0)
    model = pixelwise.build_model("unet", num_classes, in_channels=channels, base_width=4, depth=2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        head = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        head.weight.mul_(5)
        model.eval()
        probe = model(torch.randn(1, channels, 32, 32, generator=torch.Generator().manual_seed(1)))
        head.bias.sub_(probe.mean(dim=(0, 2, 3)))
    if info is None:
        names = tuple(f"c{i}" for i in range(num_classes))
        info = DatasetInfo(names, default_colours(num_classes), channels=channels)
    card = ModelCard(model.config, info, Normalization.default(channels), input_scale=input_scale)
    save_model(folder, model, card)
    return folder


@pytest.fixture(scope="session")
def tiny_unet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny 3-class U-Net (see :func:`save_tiny_unet`)."""
    return save_tiny_unet(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def tiny_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny U-Net for the synthetic shapes' four classes, at working scale 0.5."""
    from pixelwise.data.base import DatasetInfo
    from pixelwise.data.synthetic import SHAPE_CLASSES, SHAPE_COLOURS

    info = DatasetInfo(SHAPE_CLASSES, SHAPE_COLOURS)
    folder = tmp_path_factory.mktemp("tiny") / "model"
    return save_tiny_unet(folder, len(SHAPE_CLASSES), info=info, input_scale=0.5)
