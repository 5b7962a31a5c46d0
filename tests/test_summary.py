"""Model summary: MACs and parameters against a hand count, receptive field against gradients."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model
from pixelwise.models.summary import ModelSummary, summary


class FunctionalConv(nn.Module):
    """A dilated 3×3 convolution called as a function with the module's own weight."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, channels, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, padding=2, dilation=2)


def test_macs_and_parameters_match_a_hand_count() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 16×16 out
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=4, bias=False),  # 8×8 out
        nn.ConvTranspose2d(8, 4, 2, stride=2),  # 16×16 out
        FunctionalConv(4),  # 16×16 out
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),
    )
    net[0].requires_grad_(False)
    result = summary(net, (16, 16))
    assert result.macs == (
        16 * 16 * 8 * 3 * 3 * 3  # conv: output elements × in channels × 3×3
        + 8 * 8 * 8 * 2 * 3 * 3  # grouped: 8 / 4 = 2 input channels per output
        + 8 * 8 * 8 * 4 * 2 * 2  # transposed: input elements × out channels × 2×2
        + 16 * 16 * 4 * 4 * 3 * 3  # the functional convolution
        + 10 * 4  # linear: outputs × inputs
    )  # BatchNorm, ReLU and pooling are not counted
    first = 8 * 3 * 9 + 8
    total = first + 2 * 8 + 8 * 2 * 9 + (8 * 4 * 4 + 4) + 4 * 4 * 9 + (4 * 10 + 10)
    assert (result.parameters, result.trainable_parameters) == (total, total - first)
    assert result.in_channels == 3 and result.name == "Sequential"


# --- receptive field against the extent of the input gradient ---------------------------------


def with_positive_paths(model: nn.Module) -> nn.Module:
    """A float64 copy with positive constant weights, zero biases, average instead of max pooling.

    With a positive input, every dependency then shows as a non-zero gradient: nothing is
    cut by ReLU or cancelled, and average pooling (same window) passes gradient to every
    element where max pooling passes it to one.
    """
    model = copy.deepcopy(model).double().eval()
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                pool = nn.AvgPool2d(child.kernel_size, child.stride, child.padding)
                setattr(module, name, pool)
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.constant_(module.weight, 1.0 / module.weight[0].numel())
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def gradient_extent(
    model: nn.Module, in_channels: int, size: tuple[int, int], steps: int
) -> tuple[int, int]:
    """Largest (H, W) span of non-zero input gradient of one output pixel near the centre.

    The ``steps`` output pixels on the diagonal from the centre each get their own sample
    of the batch; with ``steps`` = the output stride, every alignment of each axis to the
    coarsest grid is measured.
    """
    torch.manual_seed(0)
    model = with_positive_paths(model)
    x = torch.rand(steps, in_channels, *size, dtype=torch.float64) + 0.5
    x.requires_grad_(True)
    out = model(x)
    h, w = out.shape[-2] // 2, out.shape[-1] // 2
    picks = [out[b, 0, h + b, w + b] for b in range(steps)]
    torch.stack(picks).sum().backward()
    spans = []
    for grad in x.grad.abs().sum(dim=1):
        rows, cols = grad.nonzero().unbind(dim=1)
        spans.append((int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1))
    return max(s[0] for s in spans), max(s[1] for s in spans)


class ZeroInsertion(nn.Module):
    """Bed of nails ×2 by strided assignment: ``(N, C, H, W) -> (N, C, 2H, 2W)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(*x.shape[:2], 2 * x.shape[2], 2 * x.shape[3])
        out[..., ::2, ::2] = x
        return out


class ReshapeShuffle(nn.Module):
    """Pixel shuffle ×2 written with view, permute and reshape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return x.reshape(n, c // 4, 2 * h, 2 * w)


class ChannelsLast(nn.Module):
    """A 3×3 conv, then a norm and a linear layer over channels in ``(N, H, W, C)`` layout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(4)
        self.mix = nn.Linear(4, 4)
        self.head = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mix(self.norm(self.conv(x).permute(0, 2, 3, 1)))
        return self.head(x.permute(0, 3, 1, 2))


def dilated_stack() -> nn.Module:
    # H: 1 + 2·2 = 5, +2·1 = 7 (jump 2), +4·2 = 15 (4), +1·4 = 19 (8), +2·3·8 = 67
    # W: the last convolution is 3×1, so 19
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=2, dilation=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(4, 4, 5, stride=2, padding=2),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 3, (3, 1), padding=(3, 0), dilation=3),
    )


def transposed_net() -> nn.Module:
    # 3 (jump 2), 7 (jump 4). The k3 up-conv adds one step of 4 on odd outputs only, the k4
    # one takes two neighbours, one of them even: 11, where adding both layers' worst cases
    # would say 7 + 4 + 2 = 13.
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1),
    )


def upsampling_net(up: nn.Module, channels: int) -> nn.Module:
    """4 channels at stride 2, ``up`` (×2, to ``channels``), then a 3×3 conv.

    Field 3 (jump 2); the upsampling keeps 3 (jump 1); the conv reaches 2 more pixels.
    """
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), up, nn.Conv2d(channels, 2, 3, padding=1)
    )


def small_unet(**options: object) -> nn.Module:
    # 5, pool 6 (2), 14, pool 16 (4), 32; up ×2 adds nothing (2), 40; up (1), 44
    return build_model("unet", 2, base_width=4, depth=2, **options)


def unet_depth_3() -> nn.Module:
    # Summing layer by layer gives 96: 68 at the bottom (jump 8), then +16, +8, +4. But an
    # up-conv gives two neighbours the same source, so the fields of the outputs do not
    # advance evenly, and the 3×3 convs after it reach further: 100.
    return build_model("unet", 2, base_width=2, depth=3)


CASES = {
    "dilated conv/pool stack": (dilated_stack, 2, (128, 128), (67, 19), 8),
    "transposed convs": (transposed_net, 1, (64, 64), (11, 11), 4),
    "zero insertion": (lambda: upsampling_net(ZeroInsertion(), 4), 1, (32, 32), (5, 5), 2),
    "pixel shuffle": (lambda: upsampling_net(nn.PixelShuffle(2), 1), 1, (32, 32), (5, 5), 2),
    "reshape shuffle": (lambda: upsampling_net(ReshapeShuffle(), 1), 1, (32, 32), (5, 5), 2),
    "channels last": (ChannelsLast, 1, (32, 32), (7, 7), 2),
    "U-Net": (small_unet, 3, (64, 64), (44, 44), 4),
    "U-Net, depth 3": (unet_depth_3, 3, (128, 128), (100, 100), 8),
    # bilinear ×2 reaches one or two more elements of the coarse map, depending on parity
    "U-Net, bilinear, sum": (
        lambda: small_unet(upsample="bilinear", fusion="sum"),
        3,
        (64, 64),
        (52, 52),
        4,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_receptive_field_is_the_extent_of_the_input_gradient(case: str) -> None:
    make, channels, size, field, stride = CASES[case]
    torch.manual_seed(0)
    model = make()
    result = summary(model, size)
    assert result.receptive_field == field  # the worked-out value ...
    assert gradient_extent(model, channels, size, steps=stride) == field  # ... is what it sees
    assert result.output_stride == stride and not result.receptive_field_global


def test_unpooling_puts_values_back_where_they_were_pooled() -> None:
    class SegNetLike(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(1, 1, 3, padding=1) for _ in range(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pooled, indices = F.max_pool2d(self.convs[0](x), 2, return_indices=True)
            return self.convs[2](F.max_unpool2d(self.convs[1](pooled), indices, 2))

    # 3, pool 4 (jump 2), conv 8, unpool adds nothing (jump 1), conv 10
    result = summary(SegNetLike(), (32, 32))
    assert result.receptive_field == (10, 10) and result.output_stride == 2


def test_output_stride_is_the_largest_jump_inside() -> None:
    stack = [nn.Conv2d(3 if i == 0 else 4, 4, 3, stride=2, padding=1) for i in range(3)]
    up = nn.Upsample(scale_factor=8, mode="nearest")
    result = summary(nn.Sequential(*stack, up), (97, 131))  # odd sizes: 49, 25, 13 and 66, 33, 17
    assert result.output_stride == 8
    assert result.receptive_field == (15, 15)  # 3, +2·2, +2·4; nearest upsampling adds none


def test_a_field_larger_than_the_image_is_cut_at_its_borders() -> None:
    assert summary(small_unet(), (64, 64)).receptive_field == (44, 44)
    cut = summary(small_unet(), (32, 24))  # some pixel still sees all of it, but not every one
    assert cut.receptive_field == (32, 24) and not cut.receptive_field_global
    tiny = summary(small_unet(), (16, 12))  # every output pixel sees the whole image
    assert tiny.receptive_field == (16, 12) and tiny.receptive_field_global


class ImagePooling(nn.Module):
    """A stride-2 map and image-level context from global pooling, fused (ASPP, SE)."""

    def __init__(self, pooling: str) -> None:
        super().__init__()
        self.pooling = pooling
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.pooling == "squeeze-excite":
            return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))
        context = self.fc(F.adaptive_avg_pool2d(x, 1))
        return torch.cat([x, F.interpolate(context, size=x.shape[-2:], mode="bilinear")], dim=1)


@pytest.mark.parametrize("pooling", ["adaptive", "squeeze-excite"])
def test_global_pooling_makes_the_field_the_whole_input(pooling: str) -> None:
    result = summary(ImagePooling(pooling), (40, 56))
    assert result.receptive_field_global
    assert result.receptive_field == (40, 56)
    assert result.output_stride == 2  # the pooled 1×1 grid is context, not a feature map


def test_adaptive_pooling_to_the_same_size_is_not_global() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.AdaptiveAvgPool2d(7))
    result = summary(net, (14, 14))
    assert not result.receptive_field_global and result.receptive_field == (3, 3)


def test_channels_come_from_the_config_and_training_flags_are_kept() -> None:
    model = build_model("unet", 2, in_channels=1, base_width=4, depth=1)
    model.train()
    norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    norm.eval()
    result = summary(model, (37, 30))
    assert result.in_channels == 1 and result.name == "unet"
    assert model.training and not norm.training
    assert result.receptive_field == (18, 18)  # 5, pool 6 (jump 2), +4 +4, up, +2 +2


def test_report_as_text_and_dict() -> None:
    result = summary(small_unet(), (64, 48))
    assert isinstance(result, ModelSummary)
    text = str(result)
    for fragment in ("unet", "64 x 48", f"{result.parameters:,}", "44 x 44 px", "stride    4"):
        assert fragment in text, (fragment, text)
    data = result.to_dict()
    assert data["receptive_field"] == [44, 44] and data["input_size"] == [64, 48]
    assert data["macs"] == result.macs > 0


@pytest.mark.parametrize("size", [(0, 32), (32,), (32.0, 32)])
def test_bad_input_size_is_a_user_error(size: tuple) -> None:
    with pytest.raises(PixelwiseError, match="input size"):
        summary(small_unet(), size)
