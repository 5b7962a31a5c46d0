"""Upsampling variants checked against their textbook definitions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixelwise.errors import PixelwiseError
from pixelwise.models.blocks import ConvNormAct
from pixelwise.models.upsample import (
    UPSAMPLE_MODES,
    bed_of_nails,
    bilinear_transposed,
    make_upsample,
)


def conv1d_matrix(kernel: torch.Tensor, length: int, stride: int, padding: int) -> torch.Tensor:
    """The ``(out, in)`` matrix ``C`` with ``conv1d(x) == C @ x`` for one channel."""
    k = kernel.numel()
    out_length = (length + 2 * padding - k) // stride + 1
    matrix = torch.zeros(out_length, length)
    for row in range(out_length):
        for tap in range(k):
            col = row * stride + tap - padding
            if 0 <= col < length:
                matrix[row, col] = kernel[tap]
    return matrix


@pytest.mark.parametrize(("k", "stride", "padding"), [(3, 1, 1), (4, 2, 1), (3, 2, 0), (5, 3, 2)])
def test_transposed_conv1d_is_multiplication_by_the_transposed_matrix(k, stride, padding) -> None:
    torch.manual_seed(0)
    kernel = torch.randn(k, dtype=torch.float64)
    length = 11
    matrix = conv1d_matrix(kernel, length, stride, padding).double()
    x = torch.randn(length, dtype=torch.float64)
    assert torch.allclose(
        F.conv1d(x.view(1, 1, -1), kernel.view(1, 1, -1), stride=stride, padding=padding).flatten(),
        matrix @ x,
    )
    y = torch.randn(matrix.shape[0], dtype=torch.float64)
    transposed = F.conv_transpose1d(
        y.view(1, 1, -1),
        kernel.view(1, 1, -1),
        stride=stride,
        padding=padding,
        output_padding=length - ((matrix.shape[0] - 1) * stride - 2 * padding + k),
    )
    assert torch.allclose(transposed.flatten(), matrix.T @ y)


def test_transposed_conv2d_is_multiplication_by_the_transposed_matrix() -> None:
    """Build the 2D convolution's matrix column by column from unit impulses."""
    torch.manual_seed(1)
    kernel = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    h, w, stride = 6, 5, 2
    impulses = torch.eye(h * w, dtype=torch.float64).view(h * w, 1, h, w)
    columns = F.conv2d(impulses, kernel, stride=stride, padding=1)  # (h·w, 1, h', w')
    matrix = columns.flatten(1).T  # (h'·w', h·w)
    y = torch.randn(1, 1, *columns.shape[-2:], dtype=torch.float64)
    transposed = F.conv_transpose2d(y, kernel, stride=stride, padding=1, output_padding=(1, 0))
    assert transposed.shape[-2:] == (h, w)
    assert torch.allclose(transposed.flatten(), matrix.T @ y.flatten())


@pytest.mark.parametrize("scale", [2, 4, 8, 32])
def test_bilinear_transposed_matches_bilinear_interpolation_inside(scale: int) -> None:
    torch.manual_seed(2)
    x = torch.randn(1, 3, 7, 9)
    layer = bilinear_transposed(3, scale)
    with torch.no_grad():
        learned = layer(x)
    fixed = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    assert learned.shape == fixed.shape == (1, 3, 7 * scale, 9 * scale)
    inside = (slice(None), slice(None), slice(scale, -scale), slice(scale, -scale))
    assert torch.allclose(learned[inside], fixed[inside], atol=1e-5)
    assert not torch.allclose(learned, fixed, atol=1e-5)  # the border differs (zero padding)


def test_max_unpooling_returns_values_to_their_argmax_positions() -> None:
    x = torch.tensor(
        [[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 2.0, 1.0, 1.0], [9.0, 1.0, 3.0, 7.0]]
    ).view(1, 1, 4, 4)
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    assert pooled.flatten().tolist() == [5.0, 8.0, 9.0, 7.0]
    unpooled = make_upsample("unpool", 1, 1, has_indices=True)(pooled, indices)
    expected = torch.tensor(
        [[0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 8.0, 0.0], [0.0, 0.0, 0.0, 0.0], [9.0, 0.0, 0.0, 7.0]]
    ).view(1, 1, 4, 4)
    assert torch.equal(unpooled, expected)


def test_unpool_restores_odd_sizes_with_output_size() -> None:
    x = torch.randn(2, 3, 7, 9)
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    out = make_upsample("unpool", 3, 3, has_indices=True)(pooled, indices, output_size=(7, 9))
    assert out.shape == x.shape
    assert torch.equal(out[out != 0], x[out != 0])


def test_unpool_without_indices_is_a_build_time_user_error() -> None:
    with pytest.raises(PixelwiseError, match="indices"):
        make_upsample("unpool", 4, 4)


def test_bed_of_nails_is_zero_insertion() -> None:
    x = torch.arange(1.0, 7.0).view(1, 1, 2, 3)
    out = bed_of_nails(x, 2)
    expected = torch.zeros(1, 1, 4, 6)
    expected[..., ::2, ::2] = x
    assert torch.equal(out, expected)
    assert torch.equal(make_upsample("bed_of_nails", 1, 1, scale=3)(x)[..., ::3, ::3], x)
    assert make_upsample("bed_of_nails", 1, 1, scale=3)(x).count_nonzero() == x.numel()


def test_fixed_interpolation_modes_match_functional_interpolate() -> None:
    x = torch.randn(1, 2, 5, 6)
    for mode in ("nearest", "bilinear", "bicubic"):
        align = None if mode == "nearest" else False
        reference = F.interpolate(x, scale_factor=2, mode=mode, align_corners=align)
        assert torch.equal(make_upsample(mode, 2, 2)(x), reference)


def test_pixel_shuffle_rearranges_channels_into_space() -> None:
    layer = make_upsample("pixel_shuffle", 3, 2, scale=2)
    conv = layer.core[0]
    x = torch.randn(1, 3, 4, 5)
    with torch.no_grad():
        out = layer(x)
        channels = conv(x)  # (1, 2·4, 4, 5): channel c·4 + 2i + j goes to offset (i, j)
    assert out.shape == (1, 2, 8, 10)
    assert torch.equal(out[0, 1, 1::2, 0::2], channels[0, 1 * 4 + 2])


@pytest.mark.parametrize("mode", UPSAMPLE_MODES)
@pytest.mark.parametrize("scale", [2, 4])
def test_every_mode_upsamples_and_changes_channels(mode: str, scale: int) -> None:
    layer = make_upsample(mode, 6, 4, scale=scale, has_indices=True)
    x = torch.randn(2, 6, 3, 5, requires_grad=True)
    indices = None
    if mode == "unpool":
        source = torch.randn(2, 4, 3 * scale, 5 * scale)
        _, indices = F.max_pool2d(source, scale, return_indices=True)
    out = layer(x, indices)
    assert out.shape == (2, 4, 3 * scale, 5 * scale)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_unknown_upsample_mode_names_the_choices() -> None:
    with pytest.raises(PixelwiseError, match="bed_of_nails"):
        make_upsample("lanczos", 2, 2)


def test_separable_conv_is_depthwise_then_pointwise() -> None:
    standard = ConvNormAct(32, 64, dilation=2)
    separable = ConvNormAct(32, 64, dilation=2, separable=True)
    depthwise = separable[0]
    assert depthwise.groups == 32 and depthwise.dilation == (2, 2)
    count = sum(p.numel() for p in separable.parameters() if p.dim() == 4)
    assert count == 32 * 9 + 32 * 64
    assert count < sum(p.numel() for p in standard.parameters() if p.dim() == 4) / 7
    x = torch.randn(1, 32, 9, 11)
    assert separable(x).shape == standard(x).shape == (1, 64, 9, 11)
