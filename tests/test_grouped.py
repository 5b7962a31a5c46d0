"""Grouped convolutions as they train on the CPU (``pixelwise.engine.grouped``): float32
under bfloat16 autocast, and the input gradient of dilated depthwise convolutions computed
by a forward convolution; the same values, gradients and saved weights as ``Conv2d``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file
from torch import nn

import pixelwise
from pixelwise.cli import main
from pixelwise.engine import speed
from pixelwise.engine.grouped import (
    DilatedDepthwiseConvolution,
    TrainingGroupedConv2d,
    train_grouped_convolutions_fast,
)
from pixelwise.models import build_model
from tiny_run import TINY


def test_grouped_convolutions_compute_in_float32_under_cpu_bfloat16() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 1), nn.Conv2d(8, 8, 3, padding=1, groups=8))
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 4, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pointwise = model[0](x)
        before = model[1](pointwise)
    trained = speed.training_network(model, torch.channels_last, on_cpu=True, bfloat16=True)
    assert trained[1].__class__ is TrainingGroupedConv2d
    assert trained[0].__class__ is nn.Conv2d  # a dense convolution stays as it was
    with torch.autocast("cpu", dtype=torch.bfloat16):
        after = trained[1](pointwise)
    assert before.dtype == torch.bfloat16 and after.dtype == torch.float32
    exact = F.conv2d(pointwise.float(), model[1].weight, model[1].bias, padding=1, groups=8)
    torch.testing.assert_close(after, exact)  # the float32 convolution of the same input
    assert trained.state_dict().keys() == reference.keys()  # saved weights as before


def test_in_float32_runs_grouped_convolutions_keep_the_input_type() -> None:
    conv = speed.training_network(
        nn.Conv2d(8, 8, 3, groups=8), torch.contiguous_format, on_cpu=True, bfloat16=False
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv(torch.randn(1, 8, 5, 5)).dtype == torch.bfloat16  # as a Conv2d does
    on_gpu = speed.training_network(
        nn.Conv2d(8, 8, 3, groups=8), torch.contiguous_format, on_cpu=False, bfloat16=True
    )
    assert on_gpu.__class__ is nn.Conv2d  # only the CPU's convolutions are changed


@pytest.mark.parametrize(
    ("kernel", "padding", "dilation", "bias", "layout"),
    [
        (5, 4, 2, False, torch.channels_last),  # MobileNetV3's last stage in LR-ASPP
        (3, 2, 2, True, torch.contiguous_format),
        ((3, 5), (3, 1), (3, 1), True, torch.channels_last),  # unequal per axis
        (3, 0, 2, False, torch.contiguous_format),  # no padding: a smaller output
    ],
)
def test_dilated_depthwise_gradients_equal_those_of_conv2d(
    kernel, padding, dilation, bias, layout
) -> None:
    torch.manual_seed(0)
    reference = nn.Conv2d(6, 6, kernel, padding=padding, dilation=dilation, groups=6, bias=bias)
    fast = train_grouped_convolutions_fast(
        nn.Conv2d(6, 6, kernel, padding=padding, dilation=dilation, groups=6, bias=bias),
        float32_under_bfloat16=False,
    )
    fast.load_state_dict(reference.state_dict())
    assert fast.is_dilated_depthwise()
    x = torch.randn(2, 6, 9, 11).contiguous(memory_format=layout)
    inputs = [x.clone().requires_grad_() for _ in range(2)]
    outputs = [conv(image) for conv, image in zip((reference, fast), inputs, strict=True)]
    assert outputs[1].grad_fn.name() == "DilatedDepthwiseConvolutionBackward"
    grad = torch.randn_like(outputs[0])
    gradients = [
        torch.autograd.grad(y, [image, *conv.parameters()], grad)
        for y, image, conv in zip(outputs, inputs, (reference, fast), strict=True)
    ]
    torch.testing.assert_close(outputs[1], outputs[0])
    for got, expected in zip(gradients[1], gradients[0], strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_dilated_depthwise_gradients_pass_gradcheck() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=2, dilation=2, groups=3, dtype=torch.float64)
    x = torch.randn(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    args = (x, conv.weight, conv.bias, conv.padding, conv.dilation)
    assert torch.autograd.gradcheck(DilatedDepthwiseConvolution.apply, args)


def test_without_gradients_it_is_a_plain_convolution(monkeypatch: pytest.MonkeyPatch) -> None:
    conv = train_grouped_convolutions_fast(
        nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4), float32_under_bfloat16=False
    )
    x = torch.randn(1, 4, 8, 8)
    called = []
    monkeypatch.setattr(DilatedDepthwiseConvolution, "apply", lambda *a: called.append(a))
    conv(x)
    assert len(called) == 1  # with gradients it takes the fast backward
    with torch.no_grad():  # prediction and export see Conv2d's own forward
        torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, 1, 2, 2, 4))
    assert len(called) == 1


def test_a_bfloat16_run_with_dilated_depthwise_convolutions_is_repeatable(
    tmp_path: Path,
) -> None:
    network = build_model("deeplabv3plus", 2, encoder="mobilenet_v2", separable=True)
    fast = train_grouped_convolutions_fast(network, float32_under_bfloat16=True)
    assert any(getattr(m, "is_dilated_depthwise", lambda: False)() for m in fast.modules())
    model = {"name": "deeplabv3plus", "encoder": "mobilenet_v2", "options": {"separable": True}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({**TINY, "model": model}))
    weights = []
    for name in ("first", "second"):
        flags = ["--out", str(tmp_path / name), "--precision", "bf16-mixed"]
        assert main(["train", "--config", str(config), *flags]) == 0
        weights.append(load_file(tmp_path / name / "model" / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    labels = pixelwise.load(tmp_path / "first").predict(np.zeros((32, 32, 3), np.uint8))
    assert labels.shape == (32, 32)  # float32 weights in a plain network
