"""The exportable forms of max-unpooling and adaptive pooling equal PyTorch's own ops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pixelwise.models.blocks import exporting, pad_to_multiple
from pixelwise.models.pspnet import AdaptiveAvgPool, pool_by_matrices
from pixelwise.models.upsample import max_unpool2d, unpool_by_scatter


@pytest.mark.parametrize(("height", "width"), [(8, 8), (7, 9), (1, 2), (33, 18)])
def test_scatter_unpooling_equals_max_unpool2d(height: int, width: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, height, width)
    pooled, indices = F.max_pool2d(x, 2, return_indices=True, ceil_mode=True)
    values = torch.randn_like(pooled)  # a decoder map, not the pooled values themselves
    expected = F.max_unpool2d(values, indices, 2, output_size=(height, width))
    assert torch.equal(unpool_by_scatter(values, indices, (height, width)), expected)


def test_scatter_unpooling_keeps_the_first_maximum_of_ties() -> None:
    """Equal values in a window: pooling picks the first; unpooling puts it back there."""
    x = torch.zeros(1, 1, 4, 6)
    x[..., 2:, 2:4] = 5.0
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    out = unpool_by_scatter(pooled + 1, indices, (4, 6))
    expected = F.max_unpool2d(pooled + 1, indices, 2, output_size=(4, 6))
    assert torch.equal(out, expected)
    assert out[0, 0, 0, 0] == 1 and out[0, 0, 2, 2] == 6 and out[0, 0, 3, 3] == 0


def test_scatter_unpooling_matches_where_windows_overlap() -> None:
    """3×3 windows with stride 2 can pick one pixel twice; both forms write the last value."""
    torch.manual_seed(1)
    x = torch.randn(2, 4, 9, 11)
    pooled, indices = F.max_pool2d(x, 3, 2, return_indices=True)
    assert any(row.unique().numel() < row.numel() for row in indices.flatten(2).flatten(0, 1))
    values = torch.randn_like(pooled)
    expected = F.max_unpool2d(values, indices, 3, 2, output_size=(9, 11))
    assert torch.equal(unpool_by_scatter(values, indices, (9, 11)), expected)


def test_scatter_unpooling_passes_the_same_gradient() -> None:
    torch.manual_seed(2)
    pooled, indices = F.max_pool2d(torch.randn(1, 2, 6, 8), 2, return_indices=True)
    a, b = pooled.clone().requires_grad_(), pooled.clone().requires_grad_()
    weight = torch.randn(1, 2, 6, 8)
    (F.max_unpool2d(a, indices, 2) * weight).sum().backward()
    (unpool_by_scatter(b, indices, (6, 8)) * weight).sum().backward()
    assert torch.equal(a.grad, b.grad)


def test_eager_unpooling_is_pytorchs_own_op() -> None:
    assert not exporting()
    pooled, indices = F.max_pool2d(torch.randn(1, 1, 6, 6), 2, return_indices=True)
    assert torch.equal(max_unpool2d(pooled, indices, 2), F.max_unpool2d(pooled, indices, 2))


@pytest.mark.parametrize(
    ("height", "width", "bins"), [(13, 17, 6), (64, 64, 3), (97, 131, 2), (5, 4, 6), (1, 1, 3)]
)
def test_matrix_pooling_equals_adaptive_average_pooling(height: int, width: int, bins: int) -> None:
    """Windows overlap when a side does not divide, and repeat when bins exceed the side."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, height, width)
    expected = F.adaptive_avg_pool2d(x, bins)
    torch.testing.assert_close(pool_by_matrices(x, bins), expected, rtol=1e-6, atol=1e-6)
    assert torch.equal(AdaptiveAvgPool(bins)(x), expected)


def test_padding_to_a_multiple_changes_nothing_when_aligned() -> None:
    x = torch.randn(1, 2, 8, 12)
    assert torch.equal(pad_to_multiple(x, 4), x)
    padded = pad_to_multiple(torch.ones(1, 1, 5, 6), 4)
    assert padded.shape == (1, 1, 8, 8) and padded.sum() == 30
