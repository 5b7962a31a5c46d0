"""TIFF regions: only the touched tiles or strips are decoded, and regions equal the whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from pixelwise.data.reader import PixelScaling, read_header, read_image
from pixelwise.data.regions import TiffRegionSource, readable_by_region

PIXELS = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
REGIONS = [((0, 70), (0, 90)), ((5, 37), (11, 80)), ((63, 70), (85, 90)), ((31, 33), (0, 1))]

LAYOUTS = {
    "tiled": {"tile": (16, 32), "compression": "zlib"},
    "strips": {"rowsperstrip": 8, "compression": "zlib"},
    "bigtiff": {"tile": (32, 16), "bigtiff": True},
    "one strip": {},
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_regions_equal_slices_of_the_whole(tmp_path: Path, layout: str) -> None:
    tifffile.imwrite(tmp_path / "x.tif", PIXELS, photometric="rgb", **LAYOUTS[layout])
    header = read_header(tmp_path / "x.tif")
    whole = read_image(tmp_path / "x.tif")
    np.testing.assert_array_equal(whole, PIXELS)
    source = TiffRegionSource(header, 3, PixelScaling())
    try:
        for rows, cols in REGIONS:
            region = source.read(rows, cols)
            np.testing.assert_array_equal(region, whole[rows[0] : rows[1], cols[0] : cols[1]])
    finally:
        source.close()


def test_planar_16bit_tiles_are_scaled_per_region(tmp_path: Path) -> None:
    values = np.random.default_rng(1).integers(0, 65536, (3, 40, 50), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "p.tif", values, photometric="rgb", planarconfig="separate", tile=(16, 16)
    )
    source = TiffRegionSource(read_header(tmp_path / "p.tif"), 3, PixelScaling())
    expected = np.floor(np.moveaxis(values, 0, -1) / 257 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(source.read((3, 30), (17, 49)), expected[3:30, 17:49])
    source.close()


def test_only_touched_tiles_are_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tifffile.imwrite(tmp_path / "t.tif", PIXELS, photometric="rgb", tile=(16, 16))
    source = TiffRegionSource(read_header(tmp_path / "t.tif"), 3, PixelScaling())
    decoded = []
    page_decode = source._page.decode

    def counting(data, index, **kwargs):
        decoded.append(index)
        return page_decode(data, index, **kwargs)

    monkeypatch.setattr(type(source._page), "decode", property(lambda self: counting))
    source.read((16, 32), (16, 40))  # tile row 1, tile columns 1 and 2 (6 columns per row)
    assert sorted(decoded) == [7, 8]
    source.close()


def test_readable_by_region_needs_small_segments(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "tiled.tif", PIXELS, photometric="rgb", tile=(16, 16))
    assert readable_by_region(read_header(tmp_path / "tiled.tif"))
    from PIL import Image

    Image.fromarray(PIXELS).save(tmp_path / "x.png")
    assert not readable_by_region(read_header(tmp_path / "x.png"))
