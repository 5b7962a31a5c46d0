"""PSPNet: the paper's head over a dilated encoder, and the pyramid pooling module."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.encoders import build_encoder
from pixelwise.models.pspnet import PyramidPooling

SMALL = {"encoder": "resnet18", "channels": 16}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_params(cin: int, cout: int, k: int, bias: bool) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def test_resnet50_pspnet_has_the_papers_head() -> None:
    """Encoder + pyramid (2048 -> 4×512, no BN for the 1×1 bin) + 3×3 to 512 + classifier."""
    model = build_model("pspnet", 21)
    encoder = n_params(build_encoder("resnet50", output_stride=8))
    pyramid = conv_params(2048, 512, 1, True) + 3 * (conv_params(2048, 512, 1, False) + 2 * 512)
    head = conv_params(4096, 512, 3, False) + 2 * 512 + conv_params(512, 21, 1, True)
    assert n_params(model) == encoder + pyramid + head
    assert model.encoder.reductions[-1] == 8
    assert model.config["bins"] == (1, 2, 3, 6) and model.config["encoder"] == "resnet50"


def test_pyramid_pooling_concatenates_input_and_context() -> None:
    torch.manual_seed(0)
    module = PyramidPooling(64, bins=(1, 3)).eval()
    x = torch.randn(2, 64, 13, 17)
    with torch.no_grad():
        out = module(x)
    assert module.out_channels == 64 + 2 * 32
    assert out.shape == (2, 128, 13, 17)
    torch.testing.assert_close(out[:, :64], x)
    global_context = out[:, 64:96]
    torch.testing.assert_close(
        global_context, global_context[..., :1, :1].expand_as(global_context)
    )
    assert not torch.equal(out[:, 96:, 0, 0], out[:, 96:, -1, -1])


def test_pyramid_pooling_trains_on_a_single_image() -> None:
    """A 1×1 bin holds one value per channel; BatchNorm there would fail on a batch of one."""
    torch.manual_seed(0)
    module = PyramidPooling(8).train()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in module.branches[0].modules())
    assert all(isinstance(branch[1][1], nn.BatchNorm2d) for branch in module.branches[1:])
    module(torch.randn(1, 8, 5, 7)).sum().backward()


def test_pspnet_trains_on_odd_size_without_padding() -> None:
    torch.manual_seed(0)
    model = build_model("pspnet", 5, **SMALL).train()
    seen: list[torch.Size] = []
    model.encoder.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].shape))
    x = torch.randn(1, 3, 97, 131)
    out = model(x)
    assert out.shape == (1, 5, 97, 131)
    assert seen == [x.shape]
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_pspnet_is_deterministic_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = build_model("pspnet", 3).eval()
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        first, second = model(x), model(x)
    assert first.shape == (1, 3, 97, 131)
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)


def test_separable_head_convolution_has_fewer_parameters() -> None:
    plain = build_model("pspnet", 3, **SMALL)
    separable = build_model("pspnet", 3, separable=True, **SMALL)
    cin = 512 + 4 * 128
    dense = conv_params(cin, 16, 3, False)
    depthwise = cin * 9 + 2 * cin + conv_params(cin, 16, 1, False)
    assert n_params(plain) - n_params(separable) == dense - depthwise


def test_config_survives_json_and_rebuilds_the_model() -> None:
    model = build_model("pspnet", 4, bins=[1, 2, 4], output_stride=16, **SMALL)
    twin = build_model(**json.loads(json.dumps(model.config)))
    twin.load_state_dict(model.state_dict())
    assert len(twin.pyramid.branches) == 3
    assert twin.encoder.reductions == (2, 4, 8, 16, 16)


@pytest.mark.parametrize("bins", [(), (0, 2)])
def test_bad_bins_name_the_value(bins: tuple[int, ...]) -> None:
    with pytest.raises(PixelwiseError, match="bins"):
        build_model("pspnet", 2, bins=bins, **SMALL)
