"""Tiled prediction: window placement, blending against a naive reference, band-bounded memory."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

import pixelwise
from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.reader import PixelScaling, read_header
from pixelwise.data.regions import ArraySource, TiffRegionSource
from pixelwise.inference import tiling
from pixelwise.inference.outputs import ImageOutputs, labels_from
from pixelwise.inference.tiling import (
    BandAccumulator,
    TileOptions,
    blend_weights,
    predict_tiled,
    window_spans,
)

RNG = np.random.default_rng(0)


def test_window_spans_cover_the_axis_and_end_at_its_border() -> None:
    assert window_spans(100, 40, 30) == [(0, 40), (30, 40), (60, 40)]
    assert window_spans(100, 40, 40) == [(0, 40), (40, 40), (60, 40)]
    assert window_spans(30, 40, 30) == [(0, 30)]
    for length, window, stride in [(517, 64, 48), (64, 64, 1), (65, 64, 48)]:
        spans = window_spans(length, window, stride)
        assert spans[0][0] == 0 and sum(spans[-1]) == length
        assert all(0 < b[0] - a[0] <= stride for a, b in itertools.pairwise(spans))


def test_aligned_windows_start_on_the_grid_and_the_last_one_reaches_the_border() -> None:
    options = TileOptions((256, 256), 0.25)
    assert options.strides(360, 480, align=32) == (192, 192)  # 0.75 · 256 = 192 = 6 · 32
    spans = window_spans(360, 256, 192, align=32)
    assert spans == [(0, 256), (96, 264)]  # 96 = 3 · 32; 264 = 256 + 8 reaches row 360
    spans = window_spans(1000, 256, 160, align=32)
    assert all(start % 32 == 0 for start, _ in spans) and sum(spans[-1]) == 1000
    assert max(size for _, size in spans) < 256 + 32


def test_blend_weights() -> None:
    gaussian = blend_weights(9, 12, "gaussian")
    assert gaussian.max() == 1 and gaussian.min() > 0
    assert torch.equal(gaussian, gaussian.flip(0)) and torch.equal(gaussian, gaussian.flip(1))
    sigma = 9 / 8
    expected_edge = np.exp(-0.5 * (4 / sigma) ** 2)  # 4 px from the centre row, centre column
    assert gaussian[0, 5:7].max().item() == pytest.approx(expected_edge, rel=1e-3)
    assert torch.equal(blend_weights(5, 6, "constant"), torch.ones(5, 6))


def _context_probabilities(windows: np.ndarray) -> torch.Tensor:
    """A stand-in network whose output depends on the whole window (its mean), ``K = 3``."""
    x = torch.from_numpy(windows).float().permute(0, 3, 1, 2) / 255
    context = x.mean(dim=(1, 2, 3), keepdim=True)
    logits = torch.cat([x[:, :1] + context, x[:, 1:2] * 2, 1 - x[:, 2:3]], dim=1)
    return torch.softmax(logits * 3, dim=1)


def _naive_blend(pixels: np.ndarray, options: TileOptions, align: int = 1) -> np.ndarray:
    """Full-size weighted sums over every window: the reference, in float64."""
    height, width = pixels.shape[:2]
    window_h, window_w = options.window(height, width)
    stride_y, stride_x = options.strides(height, width, align)
    sums, weights = np.zeros((3, height, width)), np.zeros((height, width))
    for y, h in window_spans(height, window_h, stride_y, align):
        for x, w in window_spans(width, window_w, stride_x, align):
            weight = blend_weights(h, w, options.blend).double().numpy()
            window = pixels[None, y : y + h, x : x + w]
            sums[:, y : y + h, x : x + w] += (
                _context_probabilities(window)[0].double().numpy() * weight
            )
            weights[y : y + h, x : x + w] += weight
    return sums / weights


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
@pytest.mark.parametrize(
    ("tile", "overlap", "batch", "align"),
    [((16, 20), 0.25, 3, 1), ((20, 13), 0.5, 1, 1), ((16, 24), 0.25, 2, 8)],
)
def test_tiled_blend_equals_the_naive_reference(
    blend: str, tile: tuple[int, int], overlap: float, batch: int, align: int
) -> None:
    pixels = RNG.integers(0, 256, (53, 47, 3), dtype=np.uint8)
    options = TileOptions(tile, overlap, blend, batch)
    result = np.full((3, 53, 47), np.nan)
    seen_rows = []

    def receive(first_row: int, rows: torch.Tensor) -> None:
        seen_rows.extend(range(first_row, first_row + rows.shape[1]))
        result[:, first_row : first_row + rows.shape[1]] = rows.numpy()

    predict_tiled(ArraySource(pixels), _context_probabilities, 3, options, receive, align)
    assert seen_rows == list(range(53))  # every row once, in order
    np.testing.assert_allclose(result, _naive_blend(pixels, options, align), atol=1e-5)


def test_band_holds_one_tile_row_whatever_the_height(monkeypatch: pytest.MonkeyPatch) -> None:
    bands: list[BandAccumulator] = []

    class Recording(BandAccumulator):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            bands.append(self)

    monkeypatch.setattr(tiling, "BandAccumulator", Recording)
    chunks = []
    for height in (40, 400):
        pixels = RNG.integers(0, 256, (height, 30, 3), dtype=np.uint8)
        predict_tiled(
            ArraySource(pixels),
            _context_probabilities,
            3,
            TileOptions((16, 16), 0.25),
            lambda first, rows: chunks.append(rows.shape),
        )
    assert [tuple(b.scores.shape) for b in bands] == [(3, 16, 30), (3, 16, 30)]
    assert all(shape[1] <= bands[0].chunk_rows and shape[2] == 30 for shape in chunks)


def test_band_accumulator_pops_weighted_means_and_moves_down() -> None:
    band = BandAccumulator(2, 4, 3, chunk_rows=1)
    ones = torch.ones(2, 4, 3)
    band.add(ones * 2, 0, 0, torch.full((4, 3), 0.5))
    band.add(ones[:, :2] * 4, 2, 0, torch.ones((2, 3)))  # rows 2..3 only: a 2-row window
    popped = list(band.pop(3))
    assert [first for first, _ in popped] == [0, 1, 2]
    assert popped[0][1].unique().tolist() == [2.0]
    assert popped[2][1].unique().tolist() == [pytest.approx((2 * 0.5 + 4) / 1.5)]
    assert band.top == 3
    assert band.weights[0].tolist() == [1.5, 1.5, 1.5] and band.weights[1:].sum() == 0
    with pytest.raises(ValueError, match="outside the band"):
        band.add(torch.ones(2, 4, 3), 0, 0, torch.ones(4, 3))


def test_tiled_equals_whole_on_a_tiny_unet(tiny_unet: Path) -> None:
    """Within tolerance: the whole image's own border padding (a U-Net pads to a multiple of
    its stride) and near-ties make the only differences."""
    segmenter = pixelwise.load(tiny_unet, device="cpu")
    assert segmenter.alignment((48, 56)) == 4  # depth 2: two poolings, output stride 4
    image = RNG.integers(0, 256, (90, 100, 3), dtype=np.uint8)
    whole = segmenter.probabilities(image)
    assert len(whole.argmax(0).unique()) > 1
    tiled = segmenter.probabilities(image, tiling=TileOptions((48, 56), 0.5, "gaussian", 2))
    difference = (tiled - whole).abs()
    assert difference.mean() < 0.002 and difference[:, :80, :90].max() < 0.005
    assert (tiled.argmax(0) == whole.argmax(0)).float().mean() > 0.97
    constant = segmenter.probabilities(image, tiling=TileOptions((48, 56), 0.5, "constant", 2))
    assert (constant - whole).abs().mean() > difference.mean()  # gaussian blends better


def test_overlap_below_the_receptive_field_warns(
    tiny_unet: Path, caplog: pytest.LogCaptureFixture
) -> None:
    segmenter = pixelwise.load(tiny_unet, device="cpu")
    field, is_global = segmenter.receptive_field((64, 64))
    assert not is_global and 10 < field[0] < 64
    segmenter.check_overlap(TileOptions((64, 64), 0.1), 200, 200)
    assert "below the model's receptive field" in caplog.text
    caplog.clear()
    segmenter.check_overlap(TileOptions((64, 64), 0.9), 200, 200)
    assert caplog.text == ""


def test_huge_tiff_is_streamed_band_by_band_into_a_tiled_label_tiff(tmp_path: Path) -> None:
    """A synthetic tiled TIFF, read by region, blended by a stand-in network, and written
    as a tiled label TIFF: the result equals the per-pixel argmax of the naive blend."""
    height, width = 700, 90
    pixels = RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)

    def tiles():
        for y in range(0, height, 64):
            for x in range(0, width, 64):
                yield pixels[y : y + 64, x : x + 64]

    tifffile.imwrite(
        tmp_path / "huge.tif", tiles(), shape=pixels.shape, dtype=np.uint8, tile=(64, 64),
        photometric="rgb", compression="zlib",
    )  # fmt: skip
    source = TiffRegionSource(read_header(tmp_path / "huge.tif"), 3, PixelScaling())
    info = DatasetInfo(("a", "b", "c"), default_colours(3))
    options = TileOptions((32, 40), 0.25, "gaussian", 4)
    label_path = tmp_path / "out" / "huge.tif"
    with ImageOutputs({"labels": label_path}, height, width, info, as_tiff=True) as outputs:
        predict_tiled(
            source,
            _context_probabilities,
            3,
            options,
            lambda first, rows: outputs.put(first, labels_from(rows, 3), rows),
        )
        outputs.finish(outputs_receipt(tmp_path), tmp_path / "out")
    source.close()
    with tifffile.TiffFile(label_path) as written:
        page = written.pages[0]
        assert page.is_tiled and page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        labels = page.asarray()
        assert page.colormap[:, 1].tolist() == [c * 257 for c in default_colours(3)[1]]
    expected = _naive_blend(pixels, options).argmax(0)
    assert (labels == expected).mean() > 0.999  # float32 vs float64 ties aside
    assert list(tmp_path.joinpath("out").iterdir()) == [label_path]  # no temporaries left


def outputs_receipt(tmp_path: Path):
    from pixelwise.inference.outputs import Receipt

    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "input.png")
    return Receipt.for_input(tmp_path / "input.png", "settings")
