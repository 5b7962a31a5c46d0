"""Our DeepLabV3 and LR-ASPP compute what torchvision's do, given torchvision's weights.

Runs only where torchvision is installed: each torchvision model (with its auxiliary
head where it has one, which loading must drop) gets random BatchNorm statistics, its
state dict is saved as a ``.pth`` and loaded into ours through ``build_model(...,
weights=path)``, and the eval-mode logits are compared at several sizes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pixelwise.models import build_model

segmentation = pytest.importorskip("torchvision.models.segmentation")

SIZES = [(97, 131), (64, 64), (224, 224)]
NO_WEIGHTS = {"weights": None, "weights_backbone": None, "num_classes": 21}
CASES = {
    "deeplabv3_resnet50": (
        lambda: segmentation.deeplabv3_resnet50(**NO_WEIGHTS, aux_loss=True),
        {"name": "deeplabv3", "num_classes": 21},
    ),
    "deeplabv3_mobilenet_v3_large": (
        lambda: segmentation.deeplabv3_mobilenet_v3_large(**NO_WEIGHTS, aux_loss=True),
        {
            "name": "deeplabv3",
            "num_classes": 21,
            "encoder": "mobilenet_v3_large",
            "output_stride": 16,
            "rates": [12, 24, 36],
        },
    ),
    "lraspp_mobilenet_v3_large": (
        lambda: segmentation.lraspp_mobilenet_v3_large(**NO_WEIGHTS),
        {"name": "lraspp", "num_classes": 21},
    ),
}


def randomise_batchnorm(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)


@pytest.mark.parametrize("case", CASES)
def test_same_logits_as_torchvision(case: str, tmp_path: Path) -> None:
    make_reference, options = CASES[case]
    torch.manual_seed(0)
    reference = make_reference()
    randomise_batchnorm(reference)
    reference.eval()
    has_aux = any(key.startswith("aux_classifier.") for key in reference.state_dict())
    assert has_aux == case.startswith("deeplabv3")
    path = tmp_path / f"{case}.pth"
    torch.save(reference.state_dict(), path)
    ours = build_model(**options, weights=path).eval()
    reference_params = sum(
        p.numel() for name, p in reference.named_parameters() if "aux_classifier" not in name
    )
    assert sum(p.numel() for p in ours.parameters()) == reference_params
    worst = 0.0
    for size in SIZES:
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            expected, actual = reference(x)["out"], ours(x)
        assert actual.shape == expected.shape == (1, 21, *size)
        assert expected.std() > 0.01
        diff = (actual - expected).abs().max().item()
        print(f"{case} {size[0]}x{size[1]}: max abs diff {diff:.3g}")
        worst = max(worst, diff)
    assert worst < 1e-4
