"""DeepLabV3 (Chen et al., 2017) and DeepLabV3+ (Chen et al., 2018).

Both run a dilated encoder (atrous convolution instead of the last strides, so the
deepest map has output stride 8 or 16) and atrous spatial pyramid pooling (ASPP):
parallel 1×1 and dilated 3×3 convolutions plus image pooling over the deepest map.
The rates are 6/12/18 at output stride 16 and doubled, 12/24/36, at 8.

- ``deeplabv3``: ASPP, a 3×3 conv and a 1×1 classifier on the deepest map. With the
  defaults (ResNet-50, output stride 8) it is torchvision's ``deeplabv3_resnet50``
  without the auxiliary head, module for module. torchvision's
  ``deeplabv3_mobilenet_v3_large`` uses rates 12/24/36 at output stride 16:
  ``build_model("deeplabv3", 21, encoder="mobilenet_v3_large", output_stride=16,
  rates=[12, 24, 36])`` reproduces it.
- ``deeplabv3plus``: adds the decoder: the reduction-4 encoder map reduced to 48
  channels by a 1×1 conv, concatenated with the ASPP output upsampled to its size,
  then two 3×3 convs of 256 channels and the classifier (default output stride 16).

``separable=True`` makes the 3×3 convolutions of ASPP and decoder depthwise-separable,
as in the DeepLabV3+ paper. Nothing is padded: the logits are bilinearly resized to
the input's size. In training, the batch needs two or more images (BatchNorm after
image pooling sees one value per image and channel).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pixelwise.errors import PixelwiseError
from pixelwise.models.blocks import ConvNormAct, GlobalAveragePool, resize
from pixelwise.models.encoders import build_encoder
from pixelwise.models.encoders.base import Encoder
from pixelwise.models.encoders.mobilenet import MobileNetEncoder
from pixelwise.models.registry import register

OUTPUT_STRIDES = (8, 16)
ASPP_CHANNELS = 256
LOW_LEVEL_CHANNELS = 48
BASE_RATES = (6, 12, 18)  # at output stride 16


def build_dilated_encoder(name: str, *, output_stride: int, in_channels: int) -> Encoder:
    """Encoder ``name`` whose deepest map has ``output_stride`` 8 or 16 (dilated)."""
    if output_stride not in OUTPUT_STRIDES:
        choices = ", ".join(map(str, OUTPUT_STRIDES))
        raise PixelwiseError(f"unsupported output_stride {output_stride!r}; choose from: {choices}")
    return build_encoder(name, output_stride=output_stride, in_channels=in_channels)


def aspp_rates(output_stride: int, rates: Sequence[int] | None) -> tuple[int, ...]:
    """``rates`` if given, else 6/12/18 scaled to ``output_stride`` (12/24/36 at 8)."""
    if rates is None:
        return tuple(rate * 16 // output_stride for rate in BASE_RATES)
    return tuple(rates)


class ASPPPooling(nn.Sequential):
    """Image pooling: global average, 1×1 conv-BN-ReLU, spread back over ``H×W``.

    ``(N, in, H, W) -> (N, out, H, W)``, constant over ``H×W``.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            GlobalAveragePool(), *ConvNormAct(in_channels, out_channels, kernel_size=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize(super().forward(x), x.shape[-2:])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: ``(N, in, H, W) -> (N, 256, H, W)``.

    Branches ``convs``: a 1×1 conv, one dilated 3×3 conv per rate, image pooling; each
    gives 256 channels. ``project`` concatenates them and maps back to 256 channels
    with a 1×1 conv-BN-ReLU and dropout 0.5.
    """

    def __init__(self, in_channels: int, *, rates: Sequence[int], separable: bool = False) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [
                ConvNormAct(in_channels, ASPP_CHANNELS, kernel_size=1),
                *(
                    ConvNormAct(in_channels, ASPP_CHANNELS, dilation=rate, separable=separable)
                    for rate in rates
                ),
                ASPPPooling(in_channels, ASPP_CHANNELS),
            ]
        )
        branches = len(self.convs) * ASPP_CHANNELS
        self.project = nn.Sequential(
            *ConvNormAct(branches, ASPP_CHANNELS, kernel_size=1), nn.Dropout(0.5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    """DeepLabV3's head: ASPP, 3×3 conv-BN-ReLU (256), 1×1 classifier.

    Takes the encoder's maps and uses the deepest, ``(N, in, h, w) -> (N, classes, h, w)``.
    """

    def __init__(
        self, *, in_channels: int, num_classes: int, rates: Sequence[int], separable: bool
    ) -> None:
        super().__init__(
            ASPP(in_channels, rates=rates, separable=separable),
            *ConvNormAct(ASPP_CHANNELS, ASPP_CHANNELS, separable=separable),
            nn.Conv2d(ASPP_CHANNELS, num_classes, 1),
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return super().forward(features[-1])


class DeepLabV3PlusHead(nn.Module):
    """DeepLabV3+'s ASPP and decoder over the deepest map and the reduction-4 map.

    ``aspp`` turns the deepest map ``(N, in, h, w)`` into ``(N, 256, h, w)``, which is
    upsampled to the low-level map's ``(H/4, W/4)``; ``reduce`` maps the low-level map
    to 48 channels; ``decoder`` takes both concatenated to ``(N, classes, H/4, W/4)``.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        low_level_channels: int,
        low_level_index: int,
        num_classes: int,
        rates: Sequence[int],
        separable: bool,
    ) -> None:
        super().__init__()
        self.low_level_index = low_level_index
        self.aspp = ASPP(in_channels, rates=rates, separable=separable)
        self.reduce = ConvNormAct(low_level_channels, LOW_LEVEL_CHANNELS, kernel_size=1)
        self.decoder = nn.Sequential(
            ConvNormAct(ASPP_CHANNELS + LOW_LEVEL_CHANNELS, ASPP_CHANNELS, separable=separable),
            ConvNormAct(ASPP_CHANNELS, ASPP_CHANNELS, separable=separable),
            nn.Conv2d(ASPP_CHANNELS, num_classes, 1),
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        low_level = self.reduce(features[self.low_level_index])
        context = resize(self.aspp(features[-1]), low_level.shape[-2:])
        return self.decoder(torch.cat([context, low_level], dim=1))


class EncoderHeadModel(nn.Module):
    """An ``encoder`` and a head (``classifier``) whose logits are resized.

    ``(N, in_channels, H, W) -> (N, num_classes, H, W)``: the head maps the encoder's
    feature list to logits at a reduced size, resized bilinearly to ``H×W``.
    """

    def __init__(self, *, encoder: Encoder, classifier: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = classifier

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder maps the head takes."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize(self.classifier(self.features(x)), x.shape[-2:])

    def torchvision_prefixes(self) -> dict[str, str]:
        """``state_dict`` key prefixes of torchvision's segmentation models -> ours.

        torchvision calls the encoder ``backbone``. Its MobileNet-based models use the
        classifier's ``features`` itself as the backbone (``backbone.<i>.…``) where ours
        keeps the encoder whole (``encoder.features.<i>.…``).
        """
        if isinstance(self.encoder, MobileNetEncoder):
            return {"backbone.": "encoder.features."}
        return {"backbone.": "encoder."}


@register("deeplabv3", "DeepLabV3 (Chen 2017): dilated ResNet-50 at output stride 8, ASPP 12/24/36")
class DeepLabV3(EncoderHeadModel):
    """DeepLabV3: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits.

    ``rates=None`` takes 6/12/18 at ``output_stride=16`` and 12/24/36 at 8.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        encoder: str = "resnet50",
        output_stride: int = 8,
        rates: list[int] | None = None,
        separable: bool = False,
    ) -> None:
        dilated = build_dilated_encoder(
            encoder, output_stride=output_stride, in_channels=in_channels
        )
        head = DeepLabHead(
            in_channels=dilated.channels[-1],
            num_classes=num_classes,
            rates=aspp_rates(output_stride, rates),
            separable=separable,
        )
        super().__init__(encoder=dilated, classifier=head)


@register(
    "deeplabv3plus",
    "DeepLabV3+ (Chen 2018): DeepLabV3 at output stride 16 plus a decoder over the /4 map",
)
class DeepLabV3Plus(EncoderHeadModel):
    """DeepLabV3+: ``(N, in_channels, H, W) -> (N, num_classes, H, W)`` logits.

    ``rates=None`` takes 6/12/18 at ``output_stride=16`` and 12/24/36 at 8.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        encoder: str = "resnet50",
        output_stride: int = 16,
        rates: list[int] | None = None,
        separable: bool = False,
    ) -> None:
        dilated = build_dilated_encoder(
            encoder, output_stride=output_stride, in_channels=in_channels
        )
        low_level = dilated.reductions.index(4)
        head = DeepLabV3PlusHead(
            in_channels=dilated.channels[-1],
            low_level_channels=dilated.channels[low_level],
            low_level_index=low_level,
            num_classes=num_classes,
            rates=aspp_rates(output_stride, rates),
            separable=separable,
        )
        super().__init__(encoder=dilated, classifier=head)
