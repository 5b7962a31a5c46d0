"""The one image reader: scaling of 16-bit and float pixels, orientation, pages, pixel limits."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from pixelwise.data.folder import folder_dataset
from pixelwise.data.io import read_mask
from pixelwise.data.reader import PixelScaling, ReadOptions, read_header, read_image
from pixelwise.errors import PixelwiseError
from pixelwise.models.saving import load_model

RNG = np.random.default_rng(0)


def test_16bit_png_is_divided_by_257_gray_and_colour(tmp_path: Path) -> None:
    gray = RNG.integers(0, 65536, (13, 17), dtype=np.uint16)
    colour = RNG.integers(0, 65536, (13, 17, 3), dtype=np.uint16)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    cv2.imwrite(str(tmp_path / "colour.png"), colour[:, :, ::-1])  # cv2 writes BGR
    expected_gray = np.floor(gray / 257 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "gray.png", 1)[:, :, 0], expected_gray)
    expected = np.floor(colour / 257 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "colour.png"), expected)
    assert read_image(tmp_path / "gray.png").max() > 200  # not all 255, not all 0


def test_uint16_max_for_12_bit_data(tmp_path: Path) -> None:
    data = RNG.integers(0, 4096, (8, 9), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "twelve.tif", data)
    options = ReadOptions(PixelScaling(uint16_max=4095))
    expected = np.floor(data.astype(np.float64) * 255 / 4095 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "twelve.tif", 1, options)[..., 0], expected)
    data[0, 0] = 4096
    tifffile.imwrite(tmp_path / "over.tif", data)
    with pytest.raises(PixelwiseError, match="above uint16_max 4095"):
        read_image(tmp_path / "over.tif", 1, options)


def test_float_tiff_in_range_scales_and_out_of_range_is_an_error(tmp_path: Path) -> None:
    values = RNG.random((10, 12, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "unit.tif", values, photometric="rgb")
    np.testing.assert_array_equal(
        read_image(tmp_path / "unit.tif"), np.rint(values * 255).astype(np.uint8)
    )
    tifffile.imwrite(tmp_path / "wide.tif", values * 1000, photometric="rgb")
    with pytest.raises(PixelwiseError, match=r"wide\.tif.*outside the float range \[0, 1\]"):
        read_image(tmp_path / "wide.tif")
    told = ReadOptions(PixelScaling(float_range=(0.0, 1000.0)))
    np.testing.assert_allclose(read_image(tmp_path / "wide.tif", 3, told), values * 255, atol=1)
    values[0, 0, 0] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", values, photometric="rgb")
    with pytest.raises(PixelwiseError, match="NaN"):
        read_image(tmp_path / "nan.tif")


def test_signed_integers_are_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "signed.tif", np.zeros((4, 4), np.int16))
    with pytest.raises(PixelwiseError, match=r"signed\.tif.*int16"):
        read_image(tmp_path / "signed.tif")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pil(tmp_path: Path, orientation: int) -> None:
    pixels = RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[274] = orientation
    image.save(tmp_path / "photo.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "photo.png")))
    got = read_image(tmp_path / "photo.png")
    np.testing.assert_array_equal(got, expected)
    assert got.shape[:2] == ((20, 12) if orientation >= 5 else (12, 20))
    assert read_header(tmp_path / "photo.png").height == got.shape[0]


def test_tiff_orientation_tag_is_applied(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 256, (6, 10), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rot.tif", pixels, extratags=[(274, "H", 1, 6, True)])
    np.testing.assert_array_equal(read_image(tmp_path / "rot.tif", 1)[..., 0], np.rot90(pixels, -1))


def test_multipage_tiff_needs_a_page(tmp_path: Path) -> None:
    pages = RNG.integers(0, 256, (3, 8, 9), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "stack.tif") as writer:
        for page in pages:
            writer.write(page)
    with pytest.raises(PixelwiseError, match=r"stack\.tif' has 3 pages; choose one with --page"):
        read_image(tmp_path / "stack.tif", 1)
    second = read_image(tmp_path / "stack.tif", 1, ReadOptions(page=1))
    np.testing.assert_array_equal(second[..., 0], pages[1])
    with pytest.raises(PixelwiseError, match="--page 3 is not one"):
        read_image(tmp_path / "stack.tif", 1, ReadOptions(page=3))


def test_max_pixels_is_explicit(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(PixelwiseError, match=r"big\.png' is 40x30 \(1,200 pixels\).*--max-pixels"):
        read_image(tmp_path / "big.png", options=ReadOptions(max_pixels=1199))
    assert read_image(tmp_path / "big.png", options=ReadOptions(max_pixels=1200)).shape == (
        30,
        40,
        3,
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    """A PNG of a few hundred bytes declaring 100,000 × 100,000 pixels."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b""))
    assert (tmp_path / "bomb.png").stat().st_size < 500
    with pytest.raises(PixelwiseError, match=r"bomb\.png' is 100000x100000"):
        read_image(tmp_path / "bomb.png")
    with pytest.raises(PixelwiseError, match="above the limit"):
        read_mask(tmp_path / "bomb.png")


def test_corrupt_and_truncated_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(PixelwiseError, match=r"cannot read image '.*junk\.png'"):
        read_image(tmp_path / "junk.png")
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(PixelwiseError, match=r"t\.png"):
        read_image(tmp_path / "t.png")


def test_datasets_read_16bit_images_by_the_same_rule(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    values = RNG.integers(0, 65536, (9, 11), dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.zeros((9, 11), np.uint8)).save(tmp_path / "masks" / "a.png")
    dataset = folder_dataset(tmp_path / "images", tmp_path / "masks", classes=["x", "y"])
    image, _ = dataset[0]
    np.testing.assert_array_equal(image, read_image(tmp_path / "images" / "a.png"))
    assert image[..., 0].tolist() == np.floor(values / 257 + 0.5).astype(np.uint8).tolist()


def test_model_card_records_the_scaling_and_old_cards_load(tiny_unet: Path, tmp_path: Path) -> None:
    card = json.loads((tiny_unet / "config.json").read_text())
    assert card["pixel_scaling"] == {
        "uint8": "as stored",
        "uint16_max": 65535,
        "float_range": [0, 1],
    }
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.safetensors").write_bytes((tiny_unet / "model.safetensors").read_bytes())
    del card["pixel_scaling"]
    (old / "config.json").write_text(json.dumps(card))
    assert load_model(old)[1].pixel_scaling == PixelScaling()
