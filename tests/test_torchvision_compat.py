"""The encoders against torchvision itself: same weights file, same input -> same feature maps.

Needs torchvision (skipped without it). Each reference classifier gets random weights
and random BatchNorm statistics, is saved as a ``.pth`` file, and that file is loaded
into the encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

torchvision = pytest.importorskip("torchvision")

from pixelwise.models.encoders import ENCODERS, build_encoder  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "torchvision_keys.json"
SIZES = ((97, 131), (64, 64))
DILATION = {16: [False, False, True], 8: [False, True, True]}
CASES = [(name, 32) for name in ENCODERS] + [
    ("resnet50", 16),
    ("resnet50", 8),
    ("resnet101", 16),
    ("resnet101", 8),
    ("mobilenet_v3_large", 16),
]


def reference_classifier(name: str, output_stride: int) -> nn.Module:
    """torchvision's classifier, dilated the torchvision way, with random BatchNorm statistics."""
    options: dict = {}
    if output_stride != 32 and name.startswith("resnet"):
        options["replace_stride_with_dilation"] = DILATION[output_stride]
    elif output_stride != 32:
        options["dilated"] = True
    model = getattr(torchvision.models, name)(weights=None, **options)
    if name.startswith("vgg"):  # a small stand-in for the 120M-parameter head, dropped on loading
        model.classifier = nn.Sequential(nn.Linear(512, 10))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, std=0.1)
            m.running_mean.normal_(std=0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def reference_maps(model: nn.Module, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
    """torchvision's own layers, run in order; the last entry is the output of its whole body.

    ResNet: stem, layer1..layer4 (the last is what the classifier pools). VGG and
    MobileNet: ``features[i]`` for the earlier taps, then ``features(x)``.
    """
    if hasattr(model, "layer4"):
        maps = [model.relu(model.bn1(model.conv1(x)))]
        x = model.maxpool(maps[0])
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
            x = layer(x)
            maps.append(x)
        return maps
    maps = []
    for i, layer in enumerate(model.features):
        x = layer(x)
        if i in taps[:-1]:
            maps.append(x)
    return [*maps, x]


@pytest.mark.parametrize(("name", "output_stride"), CASES)
def test_feature_maps_equal_torchvision(name: str, output_stride: int, tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = reference_classifier(name, output_stride)
    torch.save(reference.state_dict(), tmp_path / f"{name}.pth")
    encoder = build_encoder(name, weights=tmp_path / f"{name}.pth", output_stride=output_stride)
    encoder.eval()
    for h, w in SIZES:
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            ours = encoder(x)
            theirs = reference_maps(reference, x, getattr(encoder, "taps", ()))
        diffs = [(a - b).abs().max().item() for a, b in zip(ours, theirs, strict=True)]
        shape = tuple(theirs[-1].shape)
        print(f"{name} os{output_stride} {h}x{w}: last map {shape}, max abs diff {diffs[-1]:.3g}")
        assert [m.shape for m in ours] == [m.shape for m in theirs]
        assert max(diffs) < 1e-5


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_dilated_basic_block_resnets_equal_timm(name: str, output_stride: int) -> None:
    """torchvision cannot dilate ResNet-18/34; timm's ResNet (same keys) can, and must agree."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    state = reference_classifier(name, 32).state_dict()
    reference = timm.create_model(name, pretrained=False, output_stride=output_stride).eval()
    reference.load_state_dict(state)
    encoder = build_encoder(name, output_stride=output_stride).eval()
    encoder.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")})
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        ours, theirs = encoder(x)[-1], reference.forward_features(x)
    diff = (ours - theirs).abs().max().item()
    print(
        f"{name} os{output_stride} vs timm: last map {tuple(theirs.shape)}, max abs diff {diff:.3g}"
    )
    assert ours.shape == theirs.shape
    assert diff < 1e-5


def test_fixture_matches_installed_torchvision() -> None:
    """tests/fixtures/torchvision_keys.json is what make_torchvision_keys.py writes today."""
    fixture = json.loads(FIXTURE.read_text())["classifiers"]
    for name in ENCODERS:
        with torch.device("meta"):
            model = getattr(torchvision.models, name)(weights=None)
        expected = {
            k: list(v.shape)
            for k, v in model.state_dict().items()
            if not k.startswith(("fc.", "classifier."))
        }
        assert fixture[name] == expected, name
