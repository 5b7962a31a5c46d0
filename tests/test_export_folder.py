"""Exported folders: written whole, loaded like model folders, checked against their card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import pixelwise
from pixelwise.cli import main
from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.transforms import Normalization
from pixelwise.errors import PixelwiseError
from pixelwise.export import export_model
from pixelwise.export.capture import InputShape, capture
from pixelwise.export.extras import require
from pixelwise.inference.parity import compare_logits
from pixelwise.models.saving import ModelCard, read_card
from pixelwise.ownership import MANIFEST

pytest.importorskip(
    "onnxruntime", reason="onnxruntime not installed (pip install 'pixelwise[onnx]')"
)
pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'pixelwise[onnx]')")


@pytest.fixture(scope="module")
def saved(tiny_saved_model: Path) -> Path:
    return tiny_saved_model


@pytest.fixture(scope="module")
def exported(saved: Path) -> dict[str, Path]:
    """The saved model exported once in every format whose runtime is installed."""
    model, card = pixelwise.models.saving.load_model(saved)
    formats = ["onnx", "torchscript"]
    try:
        require("openvino", "the openvino test")
        formats.append("openvino")
    except PixelwiseError:
        pass
    return {f: export_model(model, card, saved.parent / f, f, source=saved) for f in formats}


def image(seed: int, height: int = 97, width: int = 131) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_exported_folder_holds_the_card_and_the_graph(saved: Path, exported: dict) -> None:
    source = json.loads((saved / "config.json").read_text())
    for fmt, folder in exported.items():
        card = json.loads((folder / "config.json").read_text())
        record = card.pop("export")
        assert card == source  # classes, colours, normalisation, input scale, ignore index
        assert record["format"] == fmt
        assert record["input"] == {
            "channels": 3,
            "static_size": None,
            "min_side": 32,
            "multiple": 4,
        }
        files = sorted(p.name for p in folder.iterdir())
        assert files == sorted([MANIFEST, "config.json", *record["files"]])
        for name, stamp in record["files"].items():
            assert (folder / name).stat().st_size == stamp["size"]


def test_load_runs_an_exported_folder_like_the_model(saved: Path, exported: dict) -> None:
    """Working-scale resize and normalisation come from the card, outside the graph."""
    eager = pixelwise.load(saved, device="cpu")
    for fmt, folder in exported.items():
        segmenter = pixelwise.load(folder, device="cpu")
        assert segmenter.backend.name == {"onnx": "onnxruntime", "torchscript": "torch"}.get(
            fmt, "openvino"
        )
        for seed, size in enumerate([(97, 131), (160, 224)]):
            picture = image(seed, *size)
            parity = compare_logits(eager.logits(picture), segmenter.logits(picture))
            assert parity.close, (fmt, parity)
            assert segmenter.predict(picture).shape == size


def test_eager_model_runs_on_every_installed_backend(saved: Path) -> None:
    from pixelwise.inference.backends import BF16_BACKENDS, installed_backends

    picture = image(3)
    eager = pixelwise.load(saved, device="cpu")
    for backend in installed_backends():
        if backend == "torch-compile" or backend in BF16_BACKENDS:
            continue  # compiling takes minutes (the slow test below); bf16: test_bfloat16
        segmenter = pixelwise.load(saved, device="cpu", backend=backend)
        assert segmenter.backend.name == backend
        assert compare_logits(eager.logits(picture), segmenter.logits(picture)).close, backend


@pytest.mark.slow
def test_torch_compile_backend_matches_eager(saved: Path) -> None:
    picture = image(4)
    eager = pixelwise.load(saved, device="cpu")
    compiled = pixelwise.load(saved, device="cpu", backend="torch-compile")
    assert compare_logits(eager.logits(picture), compiled.logits(picture)).close


def test_graph_takes_no_input_smaller_than_its_minimum(exported: dict) -> None:
    segmenter = pixelwise.load(exported["onnx"], device="cpu")
    with pytest.raises(PixelwiseError, match="at least 32 pixels"):
        segmenter.predict(image(0, 40, 100))  # 20×50 at the working scale


def test_a_format_runs_only_on_its_backends(exported: dict) -> None:
    with pytest.raises(PixelwiseError, match="runs on: torch"):
        pixelwise.load(exported["torchscript"], backend="onnxruntime")
    with pytest.raises(PixelwiseError, match="unknown backend 'tensorrt'"):
        pixelwise.load(exported["onnx"], backend="tensorrt")


def test_exported_folder_cannot_seed_training(exported: dict) -> None:
    with pytest.raises(PixelwiseError, match="exported onnx graph, not the model's weights"):
        read_card(exported["onnx"])


def copy_of(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    return copy


def test_truncated_graph_is_exit_2_naming_the_file(
    exported: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = copy_of(exported["onnx"], tmp_path)
    graph = folder / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    picture = tmp_path / "x.png"
    Image.fromarray(image(0)).save(picture)
    argv = ["predict", str(folder), str(picture), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and str(graph) in err and "truncated" in err
    assert len(err.strip().splitlines()) == 1


def test_changed_graph_is_caught_by_its_checksum(exported: dict, tmp_path: Path) -> None:
    folder = copy_of(exported["torchscript"], tmp_path)
    graph = folder / "model.pt"
    data = bytearray(graph.read_bytes())
    data[-30] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(PixelwiseError, match="SHA-256"):
        pixelwise.load(folder)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "openvino"])
def test_graph_that_does_not_match_its_card_names_the_file(
    exported: dict, tmp_path: Path, fmt: str
) -> None:
    if fmt not in exported:
        pytest.skip("openvino not installed (pip install 'pixelwise[openvino]')")
    folder = copy_of(exported[fmt], tmp_path)
    config = folder / "config.json"
    card = json.loads(config.read_text())
    graph = str(folder / next(iter(card["export"]["files"])))
    card["classes"].append("extra")  # a card consistent in itself, but not with the graph
    card["colours"].append([1, 2, 3])
    card["architecture"]["num_classes"] = 5
    config.write_text(json.dumps(card))
    with pytest.raises(PixelwiseError, match="lists 5 classes") as raised:
        pixelwise.load(folder)
    assert graph in str(raised.value)
    card["classes"].pop(), card["colours"].pop()
    card["architecture"]["num_classes"] = 4
    card["channels"] = card["architecture"]["in_channels"] = 1
    card["normalization"] = {"mean": [0.5], "std": [0.2]}
    config.write_text(json.dumps(card))
    with pytest.raises(PixelwiseError, match="1-channel inputs") as raised:
        pixelwise.load(folder)
    assert graph in str(raised.value)


def test_malformed_export_record_names_config_json(exported: dict, tmp_path: Path) -> None:
    folder = copy_of(exported["onnx"], tmp_path)
    config = folder / "config.json"
    card = json.loads(config.read_text())
    card["export"]["format"] = "tflite"
    config.write_text(json.dumps(card))
    with pytest.raises(PixelwiseError, match=r"config\.json.*unknown export format 'tflite'"):
        pixelwise.load(folder)


def test_export_never_replaces_what_it_did_not_write(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["export", str(saved), "--format", "onnx", "--out", str(saved)]) == 2
    assert "saved model's weights" in capsys.readouterr().err
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["export", str(saved), "--format", "torchscript", "--out", str(foreign)]) == 2
    assert "not written by pixelwise export" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_exporting_again_replaces_an_exported_folder(saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "ts"
    argv = ["export", str(saved), "--format", "torchscript", "--out", str(out)]
    assert main(argv) == 0
    assert main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ts"]
    assert pixelwise.load(out).backend.name == "torch"


def test_missing_extra_is_one_error_line_naming_the_install(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pixelwise.export.extras as extras

    monkeypatch.setattr(extras, "installed", lambda module: module != "onnxruntime")
    argv = ["export", str(saved), "--format", "onnx", "--int8", "--calibrate-on", "synthetic"]
    assert main([*argv, "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == 'error: INT8 quantisation needs the onnxruntime package: pip install "pixelwise[onnx]"'
    )
    assert not (tmp_path / "q").exists()


class SizeDependent(nn.Module):
    """Takes a different path on even and odd widths: no graph holds for both."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.config = {"name": "size_dependent", "num_classes": 2, "in_channels": 3}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2:
            return self.conv(x)
        return -self.conv(x)


def test_architecture_needing_a_static_size_says_so(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SizeDependent().eval()
    with pytest.raises(PixelwiseError, match=r"size_dependent cannot be exported.*--static-size"):
        capture(model, InputShape(3))
    card = ModelCard(
        model.config,
        DatasetInfo(("a", "b"), default_colours(2)),
        Normalization.default(3),
    )
    (tmp_path / "source").mkdir()
    out = export_model(
        model, card, tmp_path / "s", "onnx", tmp_path / "source", static_size=(48, 63)
    )
    segmenter = pixelwise.load(out)
    picture = image(0, 48, 63)
    x = Normalization.default(3).to_tensor(picture)[None]
    with torch.no_grad():
        torch.testing.assert_close(segmenter.logits(picture), model(x)[0], rtol=1e-3, atol=1e-5)
    with pytest.raises(PixelwiseError, match="exported for 48×63 inputs"):
        segmenter.predict(image(0, 48, 64))


def test_openvino_compiles_a_static_size_export_per_batch_size(saved: Path, tmp_path: Path) -> None:
    pytest.importorskip(
        "openvino", reason="openvino not installed (pip install 'pixelwise[openvino]')"
    )
    model, card = pixelwise.models.saving.load_model(saved)
    out = export_model(model, card, tmp_path / "s", "onnx", saved, static_size=(52, 76))
    static, eager = pixelwise.load(out, "cpu", "openvino"), pixelwise.load(saved, "cpu")
    pictures = np.stack([image(seed, 52, 76) for seed in (1, 2)])
    for batch in (pictures, pictures[:1]):
        expected = eager.batch_probabilities(batch)
        torch.testing.assert_close(
            static.batch_probabilities(batch), expected, rtol=1e-3, atol=1e-5
        )
    assert np.mean(static.predict(pictures[0]) == eager.predict(pictures[0])) >= 0.999
    assert sorted(static.backend.requests) == [("logits", 1), ("logits", 2)]
    with pytest.raises(PixelwiseError, match="exported for 26×38 inputs"):
        static.predict(image(0, 54, 76))
