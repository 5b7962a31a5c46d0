"""Classical baselines: each method on constructed images, save/load, the CLI path, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image
from skimage.filters import threshold_otsu

import pixelwise
from pixelwise import classical
from pixelwise.classical.mapping import hungarian_mapping, joint_counts, majority_mapping
from pixelwise.classical.region import RegionGrowing
from pixelwise.classical.sampling import sample_pixels
from pixelwise.classical.thresholds import MultiOtsu, Otsu
from pixelwise.cli import main
from pixelwise.data.base import DatasetInfo, SegmentationDataset, default_colours
from pixelwise.data.registry import load_dataset
from pixelwise.data.synthetic import SyntheticShapes
from pixelwise.models.card import ClassicalCard
from pixelwise.models.saving import save_classical


class ArrayDataset(SegmentationDataset):
    """Given ``images (N, H, W, C)`` uint8 and ``masks (N, H, W)`` as a dataset."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, num_classes: int) -> None:
        names = tuple(f"c{i}" for i in range(num_classes))
        channels = images.shape[-1]
        self.info = DatasetInfo(names, default_colours(num_classes), channels=channels)
        self.images, self.masks = images, masks.astype(np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[index], self.masks[index]

    def stem(self, index: int) -> str:
        return f"{index}"


def three_levels(seed: int, levels: tuple[int, ...] = (40, 120, 200)) -> tuple[np.ndarray, ...]:
    """A gray ``(32, 48, 1)`` image of three vertical bands at ``levels`` (noise ±6) and
    its ``(32, 48)`` mask: the band index."""
    mask = np.repeat(np.arange(3), 16)[None].repeat(32, axis=0)
    noise = np.random.default_rng(seed).integers(-6, 7, mask.shape)
    image = (np.asarray(levels)[mask] + noise).astype(np.uint8)
    return image[:, :, None], mask


def three_level_data(n: int = 3) -> ArrayDataset:
    pairs = [three_levels(seed) for seed in range(n)]
    return ArrayDataset(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), 3)


@pytest.fixture(scope="module")
def shapes() -> SyntheticShapes:
    return SyntheticShapes("train", num_images=4, size=32, seed=1)


@pytest.mark.data
def test_otsu_threshold_equals_skimage_on_real_images(shared_data: Path) -> None:
    root = shared_data / "isbi2012"
    if not root.is_dir():
        pytest.skip(f"ISBI 2012 not found at '{root}'")
    train = load_dataset("isbi2012", "train", root=root)
    method = classical.build("otsu", max_fit_pixels=20_000).fit(train, progress=False)
    assert method.mapping.tolist() == [0, 1]  # dark is membrane, bright is cell
    for index in (0, 7, 14):
        gray = train[index][0][:, :, 0]
        expected = threshold_otsu(gray)
        assert method.threshold_of(gray) == pytest.approx(expected)
        np.testing.assert_array_equal(method.predict(gray), gray > expected)


def test_multiotsu_recovers_the_levels_of_a_three_level_image() -> None:
    data = three_level_data()
    method = MultiOtsu(k=3).fit(data, progress=False)
    image, mask = three_levels(seed=9)
    low, high = method.threshold_of(image[:, :, 0])
    assert 46 <= low <= 114 and 126 <= high <= 194  # between the noisy levels
    np.testing.assert_array_equal(method.predict(image), mask)


def test_majority_mapping_of_a_constructed_count_table() -> None:
    ids = np.array([0, 0, 0, 1, 1, 1, 1, 3])
    labels = np.array([1, 1, 0, 0, 0, 0, 1, 1])
    counts = joint_counts(ids, labels, num_ids=4, num_classes=2)
    assert counts.tolist() == [[1, 2], [3, 1], [0, 0], [0, 1]]
    assert majority_mapping(counts).tolist() == [1, 0, 0, 1]  # id 2 unseen: class 0 (4 vs 4)
    # class 0 has 4 pixels, class 1 has 4: balanced changes nothing here ...
    assert majority_mapping(counts, "balanced").tolist() == [1, 0, 0, 1]
    # ... but with a dominant class, a pixel vote gives it both bins
    skewed = np.array([[30, 9], [70, 1]])
    assert majority_mapping(skewed).tolist() == [0, 0]
    assert majority_mapping(skewed, "balanced").tolist() == [1, 0]


def test_hungarian_oracle_maps_one_to_one() -> None:
    counts = np.array([[5, 4, 0], [6, 0, 0], [0, 0, 3], [1, 0, 0]])
    # majority would give ids 0 and 1 both to class 0; one-to-one gives id 0 class 1
    assert majority_mapping(counts).tolist() == [0, 0, 2, 0]
    assert hungarian_mapping(counts).tolist() == [1, 0, 2, 0]  # id 3 unmatched: majority


def colour_blocks() -> ArrayDataset:
    """Four 16×16 colour blocks; red and green blocks are class 1, the rest class 0."""
    colours = np.array([[220, 30, 30], [30, 200, 40], [20, 30, 200], [240, 240, 240]])
    block = np.kron(np.array([[0, 1], [2, 3]]), np.ones((16, 16), int))
    noise = np.random.default_rng(0).integers(-5, 6, (32, 32, 3))
    image = np.clip(colours[block] + noise, 0, 255).astype(np.uint8)
    mask = np.isin(block, [0, 1]).astype(np.int64)
    return ArrayDataset(image[None], mask[None], 2)


def test_kmeans_is_deterministic_and_maps_clusters_by_majority() -> None:
    data = colour_blocks()
    first = classical.build("kmeans", k=4, seed=3).fit(data, progress=False)
    again = classical.build("kmeans", k=4, seed=3).fit(data, progress=False)
    np.testing.assert_array_equal(first.centres, again.centres)
    image, mask = data[0]
    np.testing.assert_array_equal(first.ids(image), again.ids(image))
    assert len(np.unique(first.ids(image))) == 4  # one cluster per block
    assert sorted(first.mapping.tolist()) == [0, 0, 1, 1]
    np.testing.assert_array_equal(first.predict(image), mask)
    quantized = first.quantize(image)
    assert quantized.shape == (32, 32, 3) and len(np.unique(quantized.reshape(-1, 3), axis=0)) == 4


def step_image() -> np.ndarray:
    """``(9, 9)`` uint8: value 50 in a 3×3 square at the top left, in a diagonal neighbour
    pixel (4, 4) that touches it only at a corner, and in a far square; 200 elsewhere."""
    image = np.full((9, 9), 200, np.uint8)
    image[1:4, 1:4] = 50
    image[4, 4] = 52
    image[6:9, 6:9] = 48
    return image


def test_region_growing_fills_exactly_the_seeded_region() -> None:
    image = step_image()
    ids = RegionGrowing(seeds=[[2, 2]], tolerance=10, connectivity=4).ids(image[:, :, None])
    expected = np.ones((9, 9), np.int64)  # id 1: reached by no seed
    expected[1:4, 1:4] = 0
    np.testing.assert_array_equal(ids, expected)
    ids8 = RegionGrowing(seeds=[[2, 2]], tolerance=10, connectivity=8).ids(image[:, :, None])
    expected[4, 4] = 0  # 8-connectivity reaches the diagonal neighbour, not the far square
    np.testing.assert_array_equal(ids8, expected)


def test_region_growing_from_fitted_class_means() -> None:
    data = three_level_data()
    method = classical.build("region_growing", tolerance=20).fit(data, progress=False)
    np.testing.assert_allclose(method.class_means, [40, 120, 200], atol=1.5)
    image, mask = three_levels(seed=5)
    np.testing.assert_array_equal(method.predict(image), mask)


def test_pixel_sample_respects_the_cap_and_the_ignore_index() -> None:
    images = np.zeros((4, 10, 10, 1), np.uint8)
    masks = np.zeros((4, 10, 10), np.int64)
    masks[:, :5] = 255
    data = ArrayDataset(images, masks, 2)
    values, labels = sample_pixels(data, lambda image, index: index, 60, seed=0, progress=False)
    assert len(values) == len(labels) == 60  # 15 of each image's 50 labelled pixels
    assert (values >= 50).all() and (labels == 0).all()  # rows 0-4 are ignored
    again, _ = sample_pixels(data, lambda image, index: index, 60, seed=0, progress=False)
    np.testing.assert_array_equal(values, again)


METHODS: dict[str, dict[str, Any]] = {
    "threshold": {"value": 100},
    "otsu": {},
    "multiotsu": {"k": 4},
    "adaptive": {"block_size": 7, "method": "mean"},
    "edges": {"detector": "sobel", "high": 0.05},
    "kmeans": {"k": 5, "space": "lab", "xy": True},
    "region_growing": {"seeds": [[3, 3], [20, 20]]},
    "watershed": {},
}


@pytest.mark.parametrize("name", METHODS)
def test_save_load_round_trip_gives_identical_predictions(
    name: str, shapes: SyntheticShapes, tmp_path: Path
) -> None:
    method = classical.build(name, **METHODS[name], max_fit_pixels=2_000).fit(
        shapes, progress=False
    )
    save_classical(tmp_path / "model", ClassicalCard(method.to_dict(), shapes.info))
    assert not (tmp_path / "model" / "model.safetensors").exists()
    segmenter = pixelwise.load(tmp_path / "model", device="cpu")
    assert isinstance(segmenter, pixelwise.Segmenter) and segmenter.method is not None
    saved = json.loads((tmp_path / "model" / "config.json").read_text())["classical"]
    assert saved["method"] == name and saved["params"] == method.params
    for index in range(len(shapes)):
        image = shapes[index][0]
        np.testing.assert_array_equal(segmenter.predict(image), method.predict(image))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "kmeans", "--param", "k=1"], "'k' must be an integer >= 2; got 1"),
        (["--method", "kmeans", "--param", "space=hsv"], "one of rgb, lab; got 'hsv'"),
        (["--method", "snakes"], "unknown classical method 'snakes'; choose from: threshold"),
        (["--method", "otsu", "--param", "k=3"], "method 'otsu' takes no parameter 'k'"),
        (["--method", "otsu", "--model", "unet"], "not both"),
    ],
)
def test_bad_methods_and_params_fail_before_data_loads(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    missing = str(tmp_path / "no-such-data")  # loading data would fail differently
    out = tmp_path / "run"
    code = main(["train", *argv, "--data", "camvid", "--data-root", missing, "--out", str(out)])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error
    assert not out.exists()


@pytest.fixture(scope="module")
def kmeans_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A k-means run on tiny shapes, fitted and scored through the CLI."""
    root = tmp_path_factory.mktemp("classical")
    config = {
        "data": {
            "name": "synthetic",
            "options": {"size": 32, "seed": 3},
            "split_options": {"train": {"num_images": 6}, "val": {"num_images": 3}},
        },
        "method": {"name": "kmeans", "params": {"k": 6}},
    }
    (root / "km.yaml").write_text(yaml.safe_dump(config))
    run = root / "run"
    argv = ["train", "--config", str(root / "km.yaml"), "--param", "seed=2", "--out", str(run)]
    assert main(argv) == 0
    return run


def test_cli_train_writes_a_classical_run(kmeans_run: Path) -> None:
    resolved = yaml.safe_load((kmeans_run / "config.yaml").read_text())
    assert resolved["method"]["name"] == "kmeans"
    assert resolved["method"]["params"]["k"] == 6 and resolved["method"]["params"]["seed"] == 2
    card = json.loads((kmeans_run / "model" / "config.json").read_text())
    assert card["format"] == "pixelwise-model" and card["classical"]["method"] == "kmeans"
    assert len(card["classical"]["state"]["centres"]) == 6 and len(card["classes"]) == 4
    assert sorted(p.name for p in (kmeans_run / "model").iterdir()) == ["config.json"]
    metrics = json.loads((kmeans_run / "eval-val" / "metrics.json").read_text())
    for key in ("miou", "pixel_accuracy", "mean_accuracy", "fwiou", "mean_dice", "per_class"):
        assert key in metrics
    assert metrics["split"] == "val" and metrics["num_pixels"] == 3 * 32 * 32
    assert metrics["mapping"].startswith("fitted")


def test_cli_evaluate_same_scores_and_oracle_labelled(
    kmeans_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["evaluate", str(kmeans_run), "--out", str(tmp_path / "e")]) == 0
    again = json.loads((tmp_path / "e" / "metrics.json").read_text())
    first = json.loads((kmeans_run / "eval-val" / "metrics.json").read_text())
    assert again["miou"] == first["miou"]
    assert main(["evaluate", str(kmeans_run), "--oracle-mapping"]) == 0
    assert "ORACLE" in capsys.readouterr().out
    oracle = json.loads((kmeans_run / "eval-val-oracle" / "metrics.json").read_text())
    assert oracle["mapping"].startswith("ORACLE")


def test_cli_predict_writes_labels_and_quantized_images(
    kmeans_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    picture = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(picture).save(inputs / "a.png")
    out = tmp_path / "out"
    assert (
        main(["predict", str(kmeans_run), str(inputs), "--out", str(out), "--save-quantized"]) == 0
    )
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "a.png",
        "quantized",
        "quantized/a.png",
    ]
    segmenter = pixelwise.load(kmeans_run)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a.png")), segmenter.predict(picture))
    quantized = np.asarray(Image.open(out / "quantized" / "a.png"))
    np.testing.assert_array_equal(quantized, segmenter.method.quantize(picture))


def test_save_quantized_needs_kmeans(
    shapes: SyntheticShapes, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    save_classical(
        tmp_path / "otsu", ClassicalCard(Otsu().fit(shapes, progress=False).to_dict(), shapes.info)
    )
    argv = ["predict", str(tmp_path / "otsu"), str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--save-quantized"]) == 2
    assert "--save-quantized needs a kmeans model" in capsys.readouterr().err
