"""Saved-model folders and the Segmenter: round trips, input forms, bad folders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelwise
from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.transforms import Normalization
from pixelwise.errors import PixelwiseError
from pixelwise.export.capture import InputShape
from pixelwise.export.runtime import GraphRunner
from pixelwise.inference.threads import torch_threads
from pixelwise.models.saving import ModelCard, save_model


def saved_model(folder: Path, channels: int = 3, num_classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    model = pixelwise.build_model("unet", num_classes, in_channels=channels, base_width=4, depth=2)
    with torch.no_grad():  # make BatchNorm statistics non-trivial, so a lost buffer would show
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    names = tuple(f"c{i}" for i in range(num_classes))
    info = DatasetInfo(names, default_colours(num_classes), ignore_index=255, channels=channels)
    save_model(folder, model, ModelCard(model.config, info, Normalization.default(channels)))
    return model.eval()


def test_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    model = saved_model(tmp_path / "m")
    segmenter = pixelwise.load(tmp_path / "m", device="cpu")
    image = np.random.default_rng(0).integers(0, 256, (23, 37, 3), dtype=np.uint8)
    x = Normalization.default(3).to_tensor(image)[None]
    with torch.no_grad():
        expected = model(x)[0].argmax(0).numpy()
    labels = segmenter.predict(image)
    assert labels.shape == (23, 37) and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, expected)
    assert torch.equal(segmenter.logits(image), model(x)[0])


def test_openvino_predicts_labels_from_inside_its_graph(tmp_path: Path) -> None:
    """At working scale 1, ``predict`` asks the backend for labels: OpenVINO's come from
    its labels model, equal to the argmax of its logits and to eager's labels."""
    pytest.importorskip(
        "onnxscript", reason="onnxscript not installed (pip install 'pixelwise[onnx]')"
    )
    pytest.importorskip(
        "openvino", reason="openvino not installed (pip install 'pixelwise[openvino]')"
    )
    saved_model(tmp_path / "m", num_classes=4)
    eager = pixelwise.load(tmp_path / "m", "cpu")
    segmenter = pixelwise.load(tmp_path / "m", "cpu", backend="openvino")
    image = np.random.default_rng(2).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    labels = segmenter.predict(image)
    assert ("labels", None) in segmenter.backend.requests
    np.testing.assert_array_equal(labels, segmenter.logits(image).argmax(0).numpy())
    assert np.mean(labels == eager.predict(image)) >= 0.999


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_normalisation_is_the_cards_mean_and_std(channels: int) -> None:
    normalization = Normalization(tuple(np.linspace(0.3, 0.6, channels)), (0.2,) * channels)
    image = np.random.default_rng(channels).integers(0, 256, (9, 11, channels), dtype=np.uint8)
    x = normalization.to_tensor(image[:, ::-1])  # a strided view is accepted too
    expected = (image[:, ::-1] / 255.0 - normalization.mean) / normalization.std
    assert x.shape == (channels, 9, 11) and x.dtype == torch.float32 and x.is_contiguous()
    np.testing.assert_allclose(x.numpy(), expected.transpose(2, 0, 1), rtol=0, atol=1e-6)


def test_predict_accepts_path_pil_and_array(tmp_path: Path) -> None:
    saved_model(tmp_path / "m")
    segmenter = pixelwise.load(tmp_path / "m", device="cpu")
    image = np.random.default_rng(1).integers(0, 256, (19, 21, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "x.png")
    from_array = segmenter.predict(image)
    np.testing.assert_array_equal(segmenter.predict(tmp_path / "x.png"), from_array)
    np.testing.assert_array_equal(segmenter.predict(Image.fromarray(image)), from_array)


def test_grayscale_model_takes_rgb_input(tmp_path: Path) -> None:
    saved_model(tmp_path / "m", channels=1)
    segmenter = pixelwise.load(tmp_path / "m", device="cpu")
    gray = np.random.default_rng(2).integers(0, 256, (16, 16), dtype=np.uint8)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(segmenter.predict(rgb), segmenter.predict(gray))


def test_folder_holds_json_and_safetensors_only(tmp_path: Path) -> None:
    saved_model(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["config.json", "model.safetensors"]
    card = json.loads((tmp_path / "m" / "config.json").read_text())
    assert card["architecture"]["name"] == "unet"
    assert card["classes"] == ["c0", "c1", "c2"] and card["ignore_index"] == 255
    assert len(card["normalization"]["mean"]) == 3


def test_saving_again_replaces_the_folder(tmp_path: Path) -> None:
    saved_model(tmp_path / "m", num_classes=3)
    saved_model(tmp_path / "m", num_classes=5)
    assert pixelwise.load(tmp_path / "m").info.num_classes == 5
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging or backup left behind


def test_bad_model_folders_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(PixelwiseError, match="not found"):
        pixelwise.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PixelwiseError, match="empty"):
        pixelwise.load(tmp_path / "empty")
    saved_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(PixelwiseError, match=r"config\.json"):
        pixelwise.load(tmp_path / "m")


class _RecordingRunner(GraphRunner):
    """A graph runtime stand-in: the eager model, noting PyTorch's threads at each call."""

    name = "recording"

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(InputShape(3, multiple=int(model.multiple)))
        self.model = model
        self.threads: list[int] = []

    def run(self, x: torch.Tensor) -> torch.Tensor:
        self.threads.append(torch.get_num_threads())
        with torch.no_grad():
            return self.model(x)


@pytest.fixture
def two_torch_threads() -> Iterator[None]:
    with torch_threads(2):
        yield


@pytest.mark.usefixtures("two_torch_threads")
def test_graph_runtime_runs_with_pytorch_on_one_thread(tmp_path: Path) -> None:
    """Around a graph runtime PyTorch works on one thread, and gets its count back after."""
    model = saved_model(tmp_path / "m")
    card = pixelwise.load(tmp_path / "m", device="cpu").card
    runner = _RecordingRunner(model)
    on_runtime = pixelwise.Segmenter(runner, card, "cpu")
    eager = pixelwise.load(tmp_path / "m", device="cpu")
    image = np.random.default_rng(4).integers(0, 256, (40, 36, 3), dtype=np.uint8)
    assert (on_runtime.torch_threads, eager.torch_threads) == (1, None)
    np.testing.assert_array_equal(on_runtime.predict(image), eager.predict(image))
    on_runtime.batch_probabilities(image[None])
    assert runner.threads == [1, 1]
    assert torch.get_num_threads() == 2
    with eager.own_threads():
        assert torch.get_num_threads() == 2
