"""Test-time augmentation: parsing, undoing each view, batching, the exact mirror property."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelwise
from pixelwise.cli import main
from pixelwise.data.dihedral import ALL, HFLIP, IDENTITY
from pixelwise.errors import PixelwiseError
from pixelwise.inference.tta import TTA, tta_probabilities

RNG = np.random.default_rng(0)


def test_parse_modes_and_combinations() -> None:
    assert TTA.parse(["hflip"]).transforms == (IDENTITY, HFLIP)
    assert len(TTA.parse(["flips"]).transforms) == 4
    assert set(TTA.parse(["d4"]).transforms) == set(ALL) and len(ALL) == 8
    combined = TTA.parse(["hflip", "scales:0.75,1,1.25"])
    assert combined.scales == (0.75, 1.0, 1.25) and combined.views == 6
    assert TTA.parse(["hflip", "d4"]).views == 8
    with pytest.raises(PixelwiseError, match="unknown TTA mode 'vflip'"):
        TTA.parse(["vflip"])
    with pytest.raises(PixelwiseError, match="scales must be numbers"):
        TTA.parse(["scales:a,b"])
    with pytest.raises(PixelwiseError, match="distinct and in"):
        TTA.parse(["scales:1,1"])


def test_each_d4_view_is_undone_and_views_of_one_size_share_a_pass() -> None:
    """A per-pixel network is equivariant to every flip and turn, so every view, undone,
    gives the plain probabilities; a non-square image makes two sizes: two passes."""
    weight = torch.randn(4, 3, 1, 1, generator=torch.Generator().manual_seed(0))
    calls = []

    def per_pixel(x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return torch.nn.functional.conv2d(x, weight)

    x = torch.randn(2, 3, 7, 11)
    plain = torch.softmax(per_pixel(x), dim=1)
    calls.clear()
    merged = tta_probabilities(per_pixel, x, (7, 11), TTA.parse(["d4"]))
    torch.testing.assert_close(merged, plain)
    assert sorted(calls) == [(8, 3, 7, 11), (8, 3, 11, 7)]


def test_a_wrong_undo_would_show() -> None:
    """A position-dependent network: hflip TTA differs from plain, by the mirrored term."""

    def ramp(x: torch.Tensor) -> torch.Tensor:
        position = torch.linspace(0, 3, x.shape[-1])
        return torch.stack([position.expand_as(x[:, 0]), -position.expand_as(x[:, 0])], dim=1)

    x = torch.zeros(1, 3, 4, 6)
    merged = tta_probabilities(ramp, x, (4, 6), TTA.parse(["hflip"]))
    expected = (torch.softmax(ramp(x), 1) + torch.softmax(ramp(x), 1).flip(3)) / 2
    torch.testing.assert_close(merged, expected)


def test_scales_resize_back_to_the_image() -> None:
    x = torch.randn(1, 3, 10, 14)
    merged = tta_probabilities(lambda v: v[:, :2] * 5, x, (10, 14), TTA.parse(["scales:0.5,2"]))
    assert merged.shape == (1, 2, 10, 14)
    torch.testing.assert_close(merged.sum(dim=1), torch.ones(1, 10, 14))


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (20, 91)])
def test_hflip_tta_mirrors_exactly(tiny_unet: Path, shape: tuple[int, int]) -> None:
    segmenter = pixelwise.load(tiny_unet, device="cpu")
    image = RNG.integers(0, 256, (*shape, 3), dtype=np.uint8)
    mirror = np.ascontiguousarray(image[:, ::-1])
    tta = TTA.parse(["hflip"])
    assert torch.equal(
        segmenter.probabilities(image, tta).flip(2), segmenter.probabilities(mirror, tta)
    )
    labels = segmenter.predict(image, tta)
    np.testing.assert_array_equal(labels[:, ::-1], segmenter.predict(mirror, tta))
    assert not np.array_equal(labels, labels[:, ::-1])  # the property is not trivially true


def test_cli_tta_gives_the_api_labels(tiny_unet: Path, tmp_path: Path) -> None:
    image = RNG.integers(0, 256, (30, 41, 3), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(image).save(tmp_path / "in" / "a.png")
    argv = ["predict", str(tiny_unet), str(tmp_path / "in"), "--out", str(tmp_path / "out")]
    assert main([*argv, "--tta", "flips", "scales:0.75,1", "--workers", "0"]) == 0
    segmenter = pixelwise.load(tiny_unet, device="cpu")
    expected = segmenter.predict(image, TTA.parse(["flips", "scales:0.75,1"]))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png")), expected)
