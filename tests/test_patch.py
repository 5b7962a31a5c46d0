"""The sliding-window patch classifier: its dense form equals classifying every window."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pixelwise.models.patch  # noqa: F401  (registers "patch")
from pixelwise.errors import PixelwiseError
from pixelwise.models import build_model

SMALL = {"width": 4, "hidden": 8}


def small_patch_model(**options: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("patch", 3, **{**SMALL, **options}).eval()


@pytest.mark.parametrize(
    ("padding_mode", "torch_mode"), [("reflect", "reflect"), ("zeros", "constant")]
)
def test_dense_output_equals_classifying_each_window(padding_mode: str, torch_mode: str) -> None:
    model = small_patch_model(padding_mode=padding_mode)
    x = torch.randn(2, 3, 20, 23)
    half = 31 // 2
    padded = F.pad(x, (half,) * 4, mode=torch_mode)
    with torch.no_grad():
        dense = model(x)
        for i, j in [(0, 0), (19, 22), (7, 11), (0, 22), (13, 3)]:
            window = padded[:, :, i : i + 31, j : j + 31]
            torch.testing.assert_close(
                dense[:, :, i, j], model.classify_patches(window), atol=1e-5, rtol=1e-5
            )


@pytest.mark.parametrize("patch_size", [19, 27, 35])
def test_other_patch_sizes_keep_the_equivalence(patch_size: int) -> None:
    model = small_patch_model(patch_size=patch_size, padding_mode="zeros")
    x = torch.randn(1, 3, 9, 10)
    half = patch_size // 2
    with torch.no_grad():
        window = F.pad(x, (half,) * 4)[:, :, 4 : 4 + patch_size, 5 : 5 + patch_size]
        torch.testing.assert_close(
            model(x)[:, :, 4, 5], model.classify_patches(window), atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize(("h", "w"), [(97, 131), (1, 1), (1, 40), (5, 2)])
def test_any_size_gives_logits_at_every_pixel(h: int, w: int) -> None:
    model = small_patch_model()
    with torch.no_grad():
        assert model(torch.randn(1, 3, h, w)).shape == (1, 3, h, w)


def test_reflect_padding_of_one_pixel_is_that_pixel_everywhere() -> None:
    model = small_patch_model()
    x = torch.randn(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(
            model(x)[:, :, 0, 0], model.classify_patches(x.expand(1, 3, 31, 31))
        )


def test_receptive_field_is_exactly_the_window() -> None:
    """With positive weights and input every ReLU passes, so the input gradient of one
    output pixel is nonzero exactly where some path of maxima reaches: inside the 31×31
    window, and (over a few random images) out to each of its four edges."""
    model = small_patch_model()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    torch.manual_seed(1)
    x = torch.rand(4, 3, 45, 47).requires_grad_()
    model(x)[:, :, 22, 20].sum().backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1)), as_tuple=True)
    assert (rows.min().item(), rows.max().item()) == (22 - 15, 22 + 15)
    assert (cols.min().item(), cols.max().item()) == (20 - 15, 20 + 15)
    assert (x.grad >= 0).all()


def test_forward_backward_and_determinism() -> None:
    model = small_patch_model()
    x = torch.randn(1, 3, 97, 131)
    model.train()
    out = model(x)
    out.square().mean().backward()
    assert not torch.isnan(out).any()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_default_options_and_parameters() -> None:
    model = build_model("patch", 2)
    assert model.config["patch_size"] == 31 and model.config["padding_mode"] == "reflect"
    expected = (3 * 32 * 25 + 32) + (32 * 32 * 25 + 32) + (32 * 128 * 16 + 128) + (128 * 2 + 2)
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"patch_size": 30}, r"patch_size 30 .* 19, 23, 27, 31, 35"),
        ({"patch_size": 15}, "patch_size 15"),
        ({"padding_mode": "wrap"}, "unknown padding mode 'wrap'; choose from: reflect, zeros"),
    ],
)
def test_bad_options_name_the_value(options: dict, fragment: str) -> None:
    with pytest.raises(PixelwiseError, match=fragment):
        build_model("patch", 2, **options)


def test_patches_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(ValueError, match="31×31"):
        small_patch_model().classify_patches(torch.randn(1, 3, 30, 31))
