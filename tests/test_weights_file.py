"""The one reader and checker of weight files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import safetensors.torch
import torch

from pixelwise.errors import PixelwiseError
from pixelwise.models.weights_file import check_fit, read_shapes, read_weights, unwrap

STATE = {"a.weight": torch.arange(6.0).view(2, 3), "a.bias": torch.ones(2)}


class Opaque:
    """Not a tensor: ``torch.load(weights_only=True)`` must refuse to unpickle it."""


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bare.pth", STATE),
        ("model.pt", {"model": STATE, "epoch": 3}),
        ("lightning.ckpt", {"state_dict": STATE, "optimizer_states": []}),
    ],
)
def test_torch_files_bare_or_wrapped_read_alike(tmp_path: Path, name: str, content: dict) -> None:
    torch.save(content, tmp_path / name)
    state = read_weights(tmp_path / name)
    assert list(state) == list(STATE)
    assert all(torch.equal(state[key], STATE[key]) for key in STATE)


def test_safetensors_read_whole_or_header_only(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file(STATE, path)
    state = read_weights(path)
    assert all(torch.equal(state[key], STATE[key]) for key in STATE)
    assert read_shapes(path) == {"a.weight": (2, 3), "a.bias": (2,)}


def test_nothing_but_tensors_is_unpickled(tmp_path: Path) -> None:
    torch.save({"a.weight": torch.zeros(1), "extra": Opaque()}, tmp_path / "pickled.pth")
    with pytest.raises(PixelwiseError, match=r"cannot read weights .*pickled\.pth"):
        read_weights(tmp_path / "pickled.pth")


@pytest.mark.parametrize(
    ("loaded", "accepted"),
    [
        (STATE, True),
        ({"model": STATE}, True),
        ({"state_dict": STATE}, True),
        ([torch.zeros(1)], False),
        ({"a": torch.zeros(1), "b": 3}, False),
        ({1: torch.zeros(1)}, False),
    ],
)
def test_unwrap_accepts_names_to_tensors_only(loaded: object, accepted: bool) -> None:
    if accepted:
        assert list(unwrap(loaded, "f.pth")) == list(STATE)
    else:
        with pytest.raises(PixelwiseError, match=r"'f.pth' holds no state dict"):
            unwrap(loaded, "f.pth")


@pytest.mark.parametrize("reader", [read_weights, read_shapes])
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.safetensors", b""),
        ("garbage.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json"),
        ("huge-header.safetensors", b"\xff" * 8 + b"{}"),
    ],
)
def test_broken_safetensors_name_the_file(tmp_path: Path, reader, name: str, data: bytes) -> None:
    path = write_bytes(tmp_path / name, data)
    with pytest.raises(PixelwiseError, match=re.escape(f"cannot read weights '{path}': ")):
        reader(path)


@pytest.mark.parametrize("reader", [read_weights, read_shapes])
def test_missing_file_is_named(tmp_path: Path, reader) -> None:
    with pytest.raises(PixelwiseError, match=re.escape(f"not found: '{tmp_path / 'w'}'")):
        reader(tmp_path / "w")


def test_check_fit_lists_every_kind_once_in_one_message() -> None:
    expected = {f"k{i}": (2,) for i in range(9)} | {"conv.weight": (4, 3, 3, 3)}
    found = {"conv.weight": (4, 1, 3, 3), "k0": (2,), "extra": (1,)}
    with pytest.raises(PixelwiseError) as error:
        check_fit(found, expected, source="w.pth", target="encoder 'x'")
    assert str(error.value) == (
        "weights 'w.pth' do not fit encoder 'x': "
        "8 missing keys: k1, k2, k3, k4, k5, … and 3 more; "
        "1 unexpected key: extra; "
        "1 shape mismatch: conv.weight (file (4, 1, 3, 3), model (4, 3, 3, 3))"
    )
    check_fit(expected, expected, source="w.pth", target="encoder 'x'")  # a fit passes
