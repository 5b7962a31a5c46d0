"""The planner: fingerprints measured on constructed data, each rule on constructed
fingerprints, plans written as commented YAML that trains, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pixelwise.cli import main
from pixelwise.config import DataSection, RunConfig
from pixelwise.data.base import DatasetInfo, SegmentationDataset, default_colours
from pixelwise.errors import PixelwiseError
from pixelwise.planner import plan as planning
from pixelwise.planner import rules
from pixelwise.planner.fingerprint import ClassFacts, Fingerprint, fingerprint


class Arrays(SegmentationDataset):
    """Given (image, mask) arrays as a dataset."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], classes: int = 2) -> None:
        names = tuple(f"c{i}" for i in range(classes))
        channels = pairs[0][0].shape[2]
        self.info = DatasetInfo(names, default_colours(classes), channels=channels)
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.pairs[index]

    def stem(self, index: int) -> str:
        return str(index)


def stripes(width: int, size: int = 96) -> np.ndarray:
    """Vertical stripes of class 1, ``width`` pixels wide, 3×``width`` apart."""
    mask = np.zeros((size, size), np.int64)
    for start in range(width, size - width, 3 * width):
        mask[:, start : start + width] = 1
    return mask


def test_the_fingerprint_measures_widths_objects_and_heights() -> None:
    image = np.full((96, 96, 1), 100, np.uint8)
    lines = fingerprint(Arrays([(image, stripes(5))] * 2), "lines", "train", progress=False)
    stripe = lines.classes[1]
    assert lines.images == lines.sampled == 2 and lines.channels == 1
    assert lines.intensity_mean == [100.0] and lines.intensity_std == [0.0]
    assert 4.5 <= stripe.width <= 5.5  # pixels per skeleton pixel: the stripes' 5
    assert stripe.object_pixels == 96 * 5
    top = np.zeros((96, 96), np.int64)
    top[:24] = 1  # class 1 keeps to the top quarter
    band = fingerprint(Arrays([(image, top)]), "band", "train", progress=False)
    assert band.classes[1].vertical_position < 0.15 < 0.6 < band.classes[0].vertical_position
    assert band.classes[1].object_pixels == 96 * 24


def test_the_fingerprint_samples_large_splits_and_says_so() -> None:
    image = np.zeros((16, 16, 3), np.uint8)
    pairs = [(image, stripes(2, 16)) for _ in range(12)]
    facts = fingerprint(Arrays(pairs), "made", "train", max_images=5, progress=False)
    assert (facts.images, facts.sampled) == (12, 5)


def test_a_single_class_or_an_empty_split_is_refused() -> None:
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(PixelwiseError, match="label 1 class"):
        fingerprint(Arrays([(image, np.zeros((16, 16), np.int64))]), "one", "train")
    with pytest.raises(PixelwiseError, match="no images to plan from"):
        fingerprint(_empty(), "none", "train")


def _empty() -> SegmentationDataset:
    empty = Arrays([(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.int64))])
    empty.pairs = []
    return empty


# --- the rules, on constructed fingerprints -------------------------------------------------


def facts(**overrides: object) -> Fingerprint:
    """A two-class fingerprint: 512x512 gray images, a thin class and a thick one."""
    thin = ClassFacts("thin", 0.25, 1.0, 60_000.0, 6.0, 0.5)
    thick = ClassFacts("thick", 0.75, 1.0, 4_000.0, 24.0, 0.5)
    fields = {
        "dataset": "made", "split": "train", "images": 15, "sampled": 15, "channels": 1,
        "size_median": [512, 512], "size_min": [512, 512], "size_max": [512, 512],
        "intensity_mean": [120.0], "intensity_std": [40.0], "ignored_share": 0.0,
        "read_seconds": 0.01, "classes": [thin, thick],
    }  # fmt: skip
    return Fingerprint(**{**fields, **overrides})


def test_the_width_floor_keeps_the_thinnest_class_visible() -> None:
    floor, name = rules.width_floor(facts())
    assert name == "thin" and floor == pytest.approx(1.5 / 6.0)
    assert rules.candidate_scales(facts()) == [1.0, 0.75, 0.5, 0.375, 0.25]
    hairline = facts(classes=[ClassFacts("hair", 0.3, 1.0, 100.0, 1.5, 0.5),
                              ClassFacts("rest", 0.7, 1.0, 900.0, 30.0, 0.5)])  # fmt: skip
    assert rules.candidate_scales(hairline) == [1.0]
    rare = facts(classes=[ClassFacts("speck", 0.001, 0.1, 4.0, 1.0, 0.5),
                          ClassFacts("rest", 0.999, 1.0, 900.0, 30.0, 0.5)])  # fmt: skip
    assert rules.width_floor(rare)[1] == "rest"  # too rare to set the floor


def test_enough_training_is_epochs_or_samples() -> None:
    assert rules.trains_enough(40, 10) and not rules.trains_enough(39, 10)
    assert rules.trains_enough(2, 8000)  # a large dataset: 16,000 samples in two epochs
    assert not rules.trains_enough(1, 8000)


def test_crops_batches_repeats_and_rates() -> None:
    assert rules.crop_for(facts(), 1.0) == (256, 256)
    assert rules.crop_for(facts(size_median=[360, 480]), 0.5) == (176, 240)
    assert rules.batch_for((176, 240)) == 8 and rules.batch_for((256, 256)) == 4
    assert rules.batch_for((16, 16)) == 16 and rules.batch_for((1024, 1024)) == 2
    assert rules.repeats_for(train_seconds=10.0, validation_seconds=1.0) == 1
    assert rules.repeats_for(train_seconds=1.0, validation_seconds=3.0) == 17
    assert rules.learning_rate(8) == 0.0028 and rules.learning_rate(4) == 0.002


def test_class_weights_follow_the_imbalance() -> None:
    balanced = {d.key: d.value for d in rules.loss_decisions(facts())}
    assert balanced == {"train.loss": "ce+dice", "train.class_weights": None}
    skewed = facts(classes=[ClassFacts("rare", 0.01, 1.0, 50.0, 5.0, 0.5),
                            ClassFacts("common", 0.99, 1.0, 9e4, 50.0, 0.5)])  # fmt: skip
    weights = {d.key: d.value for d in rules.loss_decisions(skewed)}
    assert weights["train.class_weights"] == "inverse_sqrt"


def test_augmentation_follows_the_view() -> None:
    top_down = rules.augmentation(facts(), (256, 256)).value
    assert [s["name"] for s in top_down] == ["crop", "hflip", "vflip", "rot90", "elastic",
                                              "color_jitter"]  # fmt: skip
    street = facts(channels=3, intensity_mean=[1.0] * 3, intensity_std=[1.0] * 3,
                   classes=[ClassFacts("sky", 0.3, 1.0, 9e4, 40.0, 0.15),
                            ClassFacts("road", 0.7, 1.0, 9e4, 40.0, 0.8)])  # fmt: skip
    upright = rules.augmentation(street, (176, 240)).value
    assert [s["name"] for s in upright] == ["scale_crop", "hflip", "color_jitter"]
    rgb_top_down = rules.augmentation(facts(channels=3), (176, 240)).value
    assert "elastic" not in {s["name"] for s in rgb_top_down}
    assert "rot90" not in {s["name"] for s in rgb_top_down}  # a crop that is not square


def test_normalization_is_the_datas_own() -> None:
    decision = rules.normalization(facts())
    assert decision.value == {"mean": [round(120 / 255, 4)], "std": [round(40 / 255, 4)]}


# --- plans ---------------------------------------------------------------------------------


@pytest.fixture
def timed(monkeypatch: pytest.MonkeyPatch) -> dict[int, float]:
    """Deterministic timings: images per second by base width; 5 ms a prediction."""
    speeds = {32: 40.0, 16: 160.0}
    monkeypatch.setattr(planning, "training_speed", lambda model, *a, **k: speeds[
        model.config["base_width"]])  # fmt: skip
    monkeypatch.setattr(planning, "prediction_seconds", lambda *a, **k: 0.005)
    return speeds


def shapes_data() -> DataSection:
    return DataSection("synthetic", options={"size": 48, "num_images": 24})


def test_a_plan_is_commented_yaml_that_reads_back_as_its_config(timed) -> None:
    planned = planning.make_plan(shapes_data(), minutes=2, progress=False)
    text = planning.plan_yaml(planned)
    assert RunConfig.from_dict(yaml.safe_load(text)) == planned.config
    comments = text.count("\n  #") + text.count("\n    #")
    assert comments >= len({d.key for d in planned.decisions})  # every decision explained
    chosen = {d.key: d.value for d in planned.decisions}
    assert chosen["model.options.base_width"] == 32  # 40 img/s fits the minimum epochs
    config = planned.config
    assert config.train.epochs >= rules.MIN_EPOCHS and config.train.minutes == 2
    assert config.data.scale == 1.0 and config.data.crop == [48, 48]


def test_a_short_budget_trades_width_then_resolution(timed) -> None:
    timed[32], timed[16] = 1.0, 2.0  # slow machine: nothing fits at full scale
    planned = planning.make_plan(shapes_data(), minutes=2, progress=False)
    assert [(c.scale, c.base_width) for c in planned.candidates][:2] == [(1.0, 32), (1.0, 16)]
    assert planned.config.data.scale < 1.0 or planned.config.train.epochs < rules.MIN_EPOCHS


def test_plan_writes_the_plan_and_fingerprint_and_keeps_a_users_file(
    timed, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "plans" / "shapes.yaml"
    argv = ["plan", "--data", "synthetic", "--data-option", "size=48", "--data-option",
            "num_images=24", "--minutes", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "# Train it with: pixelwise train --config" in capsys.readouterr().out
    document = json.loads((out.parent / "fingerprint.json").read_text())
    assert document["fingerprint"]["images"] == 24 and document["plan"]["candidates"]
    assert main(argv) == 0  # its own files: replaced
    (out.parent / "fingerprint.json").write_text("mine")
    assert main(argv) == 2
    assert "fingerprint.json" in capsys.readouterr().err
    assert (out.parent / "fingerprint.json").read_text() == "mine"


def test_plan_needs_minutes_and_two_classes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["plan", "--data", "synthetic"]) == 2
    assert "--minutes M" in capsys.readouterr().err
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for i in range(4):
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(images / f"{i}.png")
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(masks / f"{i}.png")
    argv = [
        "plan",
        "--data",
        "folder",
        "--images",
        str(images),
        "--masks",
        str(masks),
        "--classes",
        "a,b",
        "--minutes",
        "1",
        "--out",
        str(tmp_path / "p" / "plan.yaml"),
    ]
    assert main(argv) == 2
    assert "label 1 class(es)" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_train_auto_keeps_the_plan_in_the_run(
    timed, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    argv = ["train", "--auto", "--data", "synthetic", "--data-option", "size=32",
            "--data-option", "num_images=8", "--minutes", "0.5", "--out", str(run),
            "--epochs", "1", "--model-option", "base_width=4"]  # fmt: skip
    assert main(argv) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("# pixelwise plan: synthetic train")  # shown before training
    plan = yaml.safe_load((run / "plan.yaml").read_text())
    assert plan["train"]["epochs"] == 1 and plan["model"]["options"]["base_width"] == 4
    assert json.loads((run / "fingerprint.json").read_text())["fingerprint"]["images"] == 8
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["normalization"] == plan["data"]["normalization"]
    assert (run / "model" / "model.safetensors").is_file()
