"""Every architecture exports with free batch, height and width and matches eager PyTorch.

Each architecture (tiny widths, BatchNorm statistics randomised) is captured once and
written as ONNX (run by ONNX Runtime and by OpenVINO) and TorchScript; each backend's
logits must equal eager PyTorch's within rtol 1e-3 / atol 1e-5, with the same argmax
on at least 99.99% of pixels, at two sizes that differ from the traced example's; its
labels (OpenVINO's from an argmax inside the graph) must be its logits' argmax.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pytest
import torch
from torch import nn

from pixelwise.export.capture import EXAMPLE_SIZE, InputShape, capture
from pixelwise.export.onnx import OnnxRuntimeRunner, to_onnx
from pixelwise.export.openvino import OpenVinoRunner, read_onnx
from pixelwise.export.torchscript import TorchScriptRunner, to_torchscript
from pixelwise.inference.parity import ATOL, MIN_AGREEMENT, RTOL, compare_logits
from pixelwise.models import build_model, list_models

NUM_CLASSES = 5
SIZES = [(1, 97, 131), (2, 160, 224)]
SMALL_FCN = {"encoder": "resnet18", "fc_width": 8, "fc_kernel": 3}
CASES = {
    "fcn32s": ("fcn32s", SMALL_FCN),
    "fcn16s": ("fcn16s", SMALL_FCN),
    "fcn8s": ("fcn8s", SMALL_FCN),
    "segnet": ("segnet", {}),
    "segnet_basic": ("segnet_basic", {"width": 4, "kernel_size": 3, "depth": 3}),
    "unet": ("unet", {"base_width": 4, "depth": 3}),
    "unet-resnet18": ("unet", {"encoder": "resnet18", "decoder_channels": (8,) * 5}),
    "deeplabv3": ("deeplabv3", {"encoder": "resnet18"}),
    "deeplabv3plus": ("deeplabv3plus", {"encoder": "resnet18"}),
    "pspnet": ("pspnet", {"encoder": "resnet18", "channels": 8}),
    "lraspp": ("lraspp", {}),
    "patch": ("patch", {"width": 4, "hidden": 8}),
}
ONNX_MISSING = "onnxruntime/onnxscript not installed (pip install 'pixelwise[onnx]')"
OPENVINO_MISSING = "openvino not installed (pip install 'pixelwise[openvino]')"


def randomise_batchnorm(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine terms, so that folding them shows."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(size, generator=generator) - 0.5)
    return model.eval()


class Exported:
    """One architecture's eager model and its graph, converted on first use per format."""

    def __init__(self, name: str, options: dict) -> None:
        torch.manual_seed(0)
        self.model = randomise_batchnorm(build_model(name, NUM_CLASSES, **options))
        self.shape = InputShape.of(self.model, 3)
        self.program = capture(self.model, self.shape)

    @cached_property
    def onnx(self) -> bytes:
        return to_onnx(self.program)

    def runner(self, backend: str):
        if backend == "onnxruntime":
            pytest.importorskip("onnxruntime", reason=ONNX_MISSING)
            pytest.importorskip("onnxscript", reason=ONNX_MISSING)
            return OnnxRuntimeRunner(self.onnx, self.shape)
        if backend == "openvino":
            pytest.importorskip("onnxscript", reason=ONNX_MISSING)
            pytest.importorskip("openvino", reason=OPENVINO_MISSING)
            return OpenVinoRunner(read_onnx(self.onnx), self.shape)
        return TorchScriptRunner(to_torchscript(self.program), self.shape)


def test_every_architecture_has_a_case() -> None:
    assert {name for name, _ in CASES.values()} == set(list_models())


@pytest.fixture(scope="module", params=list(CASES))
def exported(request: pytest.FixtureRequest) -> Exported:
    name, options = CASES[request.param]
    return Exported(name, options)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "torchscript"])
def test_backend_matches_eager_at_sizes_other_than_the_traced_one(
    exported: Exported, backend: str
) -> None:
    runner = exported.runner(backend)
    for batch, height, width in SIZES:
        assert (height, width) != EXAMPLE_SIZE
        x = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(height))
        with torch.no_grad():
            expected = exported.model(x)
        logits = runner(x)
        assert logits.shape == (batch, NUM_CLASSES, height, width)
        torch.testing.assert_close(logits, expected, rtol=RTOL, atol=ATOL)
        assert compare_logits(expected, logits).agreement >= MIN_AGREEMENT
        labels = runner.labels(x)
        assert labels.dtype == torch.int64
        torch.testing.assert_close(labels, logits.argmax(1), rtol=0, atol=0)


def test_openvino_labels_break_ties_to_the_lowest_class() -> None:
    """Logits whose classes 3-5 repeat 0-2 exactly: the labels are torch's argmax, in 0-2."""
    pytest.importorskip("openvino", reason=OPENVINO_MISSING)
    import openvino as ov
    from openvino import opset13 as ops

    image = ops.parameter([-1, 3, -1, -1], np.float32, name="image")
    repeated = ov.Model([ops.concat([image, image], 1).output(0)], [image], "repeated")
    runner = OpenVinoRunner(repeated, InputShape(3))
    x = torch.randn(2, 3, 41, 53, generator=torch.Generator().manual_seed(0))
    labels = runner.labels(x)
    expected = torch.cat([x, x], 1).argmax(1)
    assert labels.max() <= 2
    torch.testing.assert_close(labels, expected, rtol=0, atol=0)
