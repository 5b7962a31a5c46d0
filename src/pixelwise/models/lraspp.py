"""LR-ASPP, the Lite Reduced ASPP head of MobileNetV3 (Howard et al., 2019).

Two maps of a MobileNet encoder dilated to output stride 16: ``low``, the output of
the first block at stride 8 (``features[4]`` of MobileNetV3-Large, 40 channels), and
``high``, the output of the last block (960 channels, stride 16). The head gates a
1×1 conv-BN-ReLU of ``high`` by a sigmoid of its globally pooled 1×1 conv
(squeeze-and-excitation style), upsamples that to ``low``'s size and adds the 1×1
classifiers of both. The logits are resized bilinearly to the input's size; nothing is
padded. With the defaults it is torchvision's ``lraspp_mobilenet_v3_large`` module for
module.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelwise.models.blocks import ConvNormAct, GlobalAveragePool, check_choice, resize
from pixelwise.models.deeplab import EncoderHeadModel, build_dilated_encoder
from pixelwise.models.registry import register

LRASPP_ENCODERS = ("mobilenet_v3_large", "mobilenet_v2")


class LRASPPHead(nn.Module):
    """``[low (N, low, H/8, W/8), high (N, high, h, w)] -> (N, classes, H/8, W/8)`` logits."""

    def __init__(
        self, *, low_channels: int, high_channels: int, num_classes: int, inter_channels: int
    ) -> None:
        super().__init__()
        self.cbr = ConvNormAct(high_channels, inter_channels, kernel_size=1)
        self.scale = nn.Sequential(
            GlobalAveragePool(),
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        low, high = features
        x = resize(self.cbr(high) * self.scale(high), low.shape[-2:])
        return self.low_classifier(low) + self.high_classifier(x)


@register("lraspp", "LR-ASPP (Howard 2019): MobileNetV3-Large at output stride 16, light head")
class LRASPP(EncoderHeadModel):
    """LR-ASPP: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits.

    ``encoder`` is a MobileNet (``mobilenet_v3_large`` or ``mobilenet_v2``);
    ``inter_channels`` is the width of the gated high-level branch.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        encoder: str = "mobilenet_v3_large",
        inter_channels: int = 128,
        output_stride: int = 16,
    ) -> None:
        check_choice("LR-ASPP encoder", encoder, LRASPP_ENCODERS)
        mobilenet = build_dilated_encoder(
            encoder, output_stride=output_stride, in_channels=in_channels
        )
        low, high = mobilenet.stage_starts[2], len(mobilenet.features) - 1
        head = LRASPPHead(
            low_channels=mobilenet.features[low].out_channels,
            high_channels=mobilenet.features[high].out_channels,
            num_classes=num_classes,
            inter_channels=inter_channels,
        )
        super().__init__(encoder=mobilenet, classifier=head)
        self.blocks = (low, high)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[low, high]``: outputs of the first stride-8 block and of the last block."""
        return self.encoder.forward_blocks(x, self.blocks)
