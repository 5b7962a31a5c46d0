"""Images read from bytes and file objects by the same rules as files; PNG text chunks."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from pixelwise.data.io import encode_png, write_png_atomic
from pixelwise.data.png_chunks import add_text_chunk, remove_text_chunk
from pixelwise.data.reader import (
    ImageSource,
    ReadOptions,
    UnsupportedImageError,
    read_header,
    read_image,
)
from pixelwise.data.regions import TiffRegionSource
from pixelwise.errors import PixelwiseError

RNG = np.random.default_rng(3)


def _files(tmp_path: Path) -> dict[str, Path]:
    """One file per reader path: 8-bit PNG, EXIF-rotated JPEG, 16-bit colour PNG, tiled TIFF."""
    picture = RNG.integers(0, 256, (21, 34, 3), dtype=np.uint8)
    files = {name: tmp_path / name for name in ("rgb.png", "rot.jpg", "deep.png", "tiled.tif")}
    Image.fromarray(picture).save(files["rgb.png"])
    exif = Image.Exif()
    exif[274] = 6
    Image.fromarray(picture).save(files["rot.jpg"], exif=exif, quality=95)
    deep = RNG.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    cv2.imwrite(str(files["deep.png"]), deep[:, :, ::-1])
    tifffile.imwrite(files["tiled.tif"], np.zeros((64, 48, 3), np.uint8) + picture[:1, :1],
                     tile=(16, 16), photometric="rgb")  # fmt: skip
    return files


def test_bytes_and_file_objects_read_as_the_file(tmp_path: Path) -> None:
    for name, path in _files(tmp_path).items():
        expected = read_image(path)
        data = path.read_bytes()
        np.testing.assert_array_equal(read_image(data), expected, err_msg=name)
        np.testing.assert_array_equal(read_image(io.BytesIO(data)), expected, err_msg=name)
        with open(path, "rb") as handle:
            np.testing.assert_array_equal(read_image(handle), expected, err_msg=name)
        assert read_header(data).source.path is None


def test_exif_orientation_is_applied_to_bytes(tmp_path: Path) -> None:
    path = _files(tmp_path)["rot.jpg"]
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    assert read_image(path.read_bytes()).shape == expected.shape == (34, 21, 3)


def test_tiff_in_memory_is_read_by_region(tmp_path: Path) -> None:
    path = _files(tmp_path)["tiled.tif"]
    header = read_header(path.read_bytes())
    source = TiffRegionSource(header, 3, ReadOptions().scaling)
    try:
        np.testing.assert_array_equal(source.read((10, 40), (5, 30)), read_image(path)[10:40, 5:30])
    finally:
        source.close()


def test_in_memory_errors_name_the_given_name() -> None:
    with pytest.raises(UnsupportedImageError, match=r"'notes\.txt': not an image format"):
        read_header(ImageSource.of(b"plain text", "notes.txt"))
    with pytest.raises(UnsupportedImageError, match=r"'<bytes>'"):
        read_image(b"")
    data = encode_png(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    with pytest.raises(PixelwiseError, match=r"cannot read image 'cut\.png'") as caught:
        read_image(ImageSource.of(data[: len(data) // 2], "cut.png"))
    assert not isinstance(caught.value, UnsupportedImageError)
    with pytest.raises(PixelwiseError, match=r"'big\.png' is 40x40 \(1,600 pixels\)"):
        read_image(ImageSource.of(data, "big.png"), options=ReadOptions(max_pixels=1000))


def test_signed_pixels_are_unsupported_images(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "signed.tif", np.zeros((4, 4), np.int16))
    with pytest.raises(UnsupportedImageError, match="int16 pixels"):
        read_image(tmp_path / "signed.tif")


def test_a_text_chunk_goes_in_and_out_byte_for_byte() -> None:
    labels = RNG.integers(0, 3, (12, 9), dtype=np.uint8)
    palette = [(0, 0, 0), (255, 0, 0), (0, 0, 255)]
    plain = encode_png(labels, palette)
    marked = encode_png(labels, palette, {"receipt": '{"input": "a.png"}'})
    assert remove_text_chunk(marked, "receipt") == plain
    assert add_text_chunk(plain, "receipt", '{"input": "a.png"}') == marked
    assert remove_text_chunk(marked, "other") == marked
    with Image.open(io.BytesIO(marked)) as image:
        assert image.info["receipt"] == '{"input": "a.png"}'  # read from the header
        image.verify()  # every chunk's CRC
    with Image.open(io.BytesIO(marked)) as image:
        np.testing.assert_array_equal(np.asarray(image), labels)
    text_at, data_at = marked.index(b"tEXt"), marked.index(b"IDAT")
    assert text_at < data_at


def test_encoding_is_deterministic_and_matches_the_written_file(tmp_path: Path) -> None:
    array = RNG.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    write_png_atomic(tmp_path / "a.png", array, text={"k": "v"})
    assert (tmp_path / "a.png").read_bytes() == encode_png(array, text={"k": "v"})
    assert encode_png(array) == encode_png(array.copy())


def test_malformed_png_chunks_are_value_errors() -> None:
    plain = encode_png(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="no PNG signature"):
        add_text_chunk(b"GIF89a", "k", "v")
    with pytest.raises(ValueError, match="truncated"):
        remove_text_chunk(plain[:-3], "k")
    no_data = plain[: plain.index(b"IDAT") - 4] + plain[-12:]
    with pytest.raises(ValueError, match="without an IDAT"):
        add_text_chunk(no_data, "k", "v")
