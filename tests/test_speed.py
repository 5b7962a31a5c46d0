"""Training speed settings: ``auto`` precision and memory format, what a bfloat16 run saves
and resumes, the decoded-image cache, and the timing columns of ``metrics.csv``."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import safetensors
import torch

import pixelwise
from pixelwise.cli import main
from pixelwise.config import RunConfig, TrainSection
from pixelwise.data.augment import build_augmentation
from pixelwise.data.cache import MemoryBudget, PairCache
from pixelwise.data.synthetic import SyntheticShapes
from pixelwise.data.transforms import Normalization, TensorDataset
from pixelwise.engine import speed
from pixelwise.errors import PixelwiseError
from tiny_run import write_config


@pytest.fixture
def cpu_bf16(monkeypatch: pytest.MonkeyPatch):
    """Make this CPU have bfloat16 instructions, or not, and no GPU in either case."""

    def set_to(has: bool) -> None:
        monkeypatch.setattr(speed, "cpu_has_bf16", lambda: has)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    return set_to


def resolved(name: str, **train: object) -> dict[str, str]:
    config = RunConfig()
    config = replace(config, model=replace(config.model, name=name),
                     train=replace(config.train, **train))  # fmt: skip
    _, choices = speed.resolve_speed(config)
    return {key: choice.value for key, choice in choices.items()}


def test_auto_picks_bfloat16_where_the_cpu_has_it(cpu_bf16) -> None:
    cpu_bf16(True)
    assert resolved("unet") == {"precision": "bf16-mixed", "memory_format": "channels_last"}
    assert resolved("segnet_basic")["precision"] == "bf16-mixed"


def test_auto_picks_bfloat16_for_depthwise_networks_too(cpu_bf16) -> None:
    cpu_bf16(True)
    assert resolved("lraspp") == {"precision": "bf16-mixed", "memory_format": "channels_last"}


def test_auto_keeps_float32_on_a_cpu_without_bfloat16(cpu_bf16) -> None:
    cpu_bf16(False)
    assert resolved("unet")["precision"] == "32-true"


def test_auto_on_a_gpu_follows_its_bfloat16_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for supported, expected in ((True, "bf16-mixed"), (False, "32-true")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda s=supported: s)
        assert resolved("lraspp", accelerator="gpu")["precision"] == expected


def test_given_settings_are_kept_and_float16_on_the_cpu_is_refused(cpu_bf16) -> None:
    cpu_bf16(True)
    given = resolved("unet", precision="32-true", memory_format="contiguous")
    assert given == {"precision": "32-true", "memory_format": "contiguous"}
    with pytest.raises(PixelwiseError, match=r"16-mixed .* for GPUs"):
        resolved("unet", precision="16-mixed", accelerator="cpu")


def test_a_classical_run_has_nothing_to_resolve() -> None:
    config = replace(RunConfig(), method=replace(RunConfig().method, name="otsu"))
    assert speed.resolve_speed(config) == (config, {})


def test_has_grouped_convolutions() -> None:
    assert speed.has_grouped_convolutions(pixelwise.build_model("lraspp", 3))
    assert not speed.has_grouped_convolutions(pixelwise.build_model("unet", 3, base_width=4))
    separable = pixelwise.build_model("deeplabv3", 3, encoder="resnet18", separable=True)
    assert speed.has_grouped_convolutions(separable)


def test_a_bf16_channels_last_run_saves_float32_and_resumes_as_it_began(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    flags = ["--precision", "bf16-mixed", "--memory-format", "channels_last"]
    config = write_config(tmp_path, epochs=1)
    assert main(["train", "--config", str(config), "--out", str(run), *flags]) == 0
    card = json.loads((run / "model" / "config.json").read_text())
    assert card["training"] == {"precision": "bf16-mixed", "memory_format": "channels_last"}
    with safetensors.safe_open(run / "model" / "model.safetensors", "pt") as weights:
        tensors = [weights.get_tensor(key) for key in weights.keys()]  # noqa: SIM118
    assert {t.dtype for t in tensors if t.is_floating_point()} == {torch.float32}
    assert all(t.is_contiguous() for t in tensors)
    labels = pixelwise.load(run).predict(np.zeros((32, 32, 3), np.uint8))
    assert labels.shape == (32, 32)
    exported = tmp_path / "exported"
    assert main(["export", str(run), "--format", "torchscript", "--out", str(exported)]) == 0

    assert main(["train", "--out", str(run), "--resume", "--precision", "32-true"]) == 2
    assert "--resume cannot change train.precision" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2"]) == 0
    with (run / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert "precision: bf16-mixed" in (run / "config.yaml").read_text()


def test_metrics_csv_times_the_training_steps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--config", str(write_config(tmp_path)), "--out", str(run)]) == 0
    with (run / "metrics.csv").open(newline="") as handle:
        (row,) = csv.DictReader(handle)
    assert float(row["train_images_per_second"]) > 0
    assert 0 <= float(row["data_wait"]) < 1


# --- the decoded-image cache ------------------------------------------------------------


def shapes(count: int = 6) -> SyntheticShapes:
    return SyntheticShapes("train", num_images=count, size=40, seed=2)


def test_cached_samples_equal_decoded_ones_under_augmentation() -> None:
    data = shapes()
    steps = [{"name": "scale_crop", "scale": [0.75, 1.25]}, {"name": "hflip"},
             {"name": "rotate", "limit": 15}, {"name": "elastic", "alpha": 34, "sigma": 4},
             {"name": "color_jitter", "brightness": 0.2}]  # fmt: skip
    norm = Normalization.default(3)

    def pipeline(cache: PairCache | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        augmentation = build_augmentation(steps, (24, 24), data.info.ignore_index, seed=5)
        dataset = TensorDataset(data, norm, augmentation, scale=0.75, cache=cache)
        return [dataset[i % len(data)] for i in range(3 * len(data))]  # three epochs

    cache = PairCache(MemoryBudget(2**30), data.info.ignore_index)
    for (a, b), (c, d) in zip(pipeline(None), pipeline(cache), strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)
    assert len(cache.pairs) == len(data)
    image, mask = cache.get(0)
    assert not image.flags.writeable and mask.dtype == np.int32  # as the resize gives it
    assert cache.pairs[0][1].dtype == np.uint8  # kept small: the ignore index 255 fits


def test_the_cache_keeps_what_its_budget_allows_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = shapes()
    one = 30 * 30 * 3 + 30 * 30  # an image and its uint8 mask at scale 0.75
    budget = MemoryBudget(limit=2 * one + one // 2)
    dataset = TensorDataset(data, Normalization.default(3), scale=0.75,
                            cache=PairCache(budget, data.info.ignore_index))  # fmt: skip
    with caplog.at_level(logging.INFO, logger="pixelwise"):
        first = [dataset[i] for i in range(len(data))]
        again = [dataset[i] for i in range(len(data))]
    assert len(dataset.cache.pairs) == 2 and budget.used == 2 * one
    assert caplog.text.count("fill the cache") == 1
    for (a, b), (c, d) in zip(first, again, strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)


def test_masks_keep_a_type_that_holds_the_ignore_index() -> None:
    cache = PairCache(MemoryBudget(2**20), ignore_index=300)
    cache.put(0, np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 2, np.int64))
    assert cache.pairs[0][1].dtype == np.uint16 and cache.get(0)[1].dtype == np.int64


def test_cache_mb_zero_keeps_nothing() -> None:
    assert TrainSection().precision == "auto"
    budget = MemoryBudget(0)
    cache = PairCache(budget, 255)
    cache.put(0, np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.int64))
    assert cache.get(0) is None and budget.full


def test_the_card_records_the_data_the_model_learned_from(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main(["train", "--config", str(write_config(tmp_path)), "--out", str(run)]) == 0
    card = json.loads((run / "model" / "config.json").read_text())
    assert card["data"]["name"] == "synthetic" and card["data"]["options"]["size"] == 32
    assert pixelwise.load(run).info.num_classes == 4
