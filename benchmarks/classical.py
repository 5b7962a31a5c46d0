"""Classical baselines (and optionally trained networks) on ISBI 2012 and CamVid val.

    python benchmarks/classical.py [--data-root ../shared/data] [--datasets isbi2012,camvid]
        [--network isbi2012=runs/isbi2012-cpu] [--out FILE]

Each classical method is fitted on the training split (ISBI 2012: slices 0-14; CamVid:
train) and scored on the validation split (ISBI 2012: slices 15-19; CamVid: val) by the
project's ``evaluate``: dataset-level mIoU and pixel accuracy, the ignore index
excluded. Fit time is the wall time of ``fit`` (reading the training images included);
predict time is the median over the validation images of ``Segmenter.labels`` (the
image already in memory). ``--network NAME=RUN_DIR`` adds a trained run's model for
dataset NAME, scored and timed the same way (it has no fit time here). The parameters
are fixed below, chosen by looking at the training split only. Prints one markdown
table per dataset and writes JSON (atomically).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import skimage
import sklearn
import torch
from results import save_results

from pixelwise import classical
from pixelwise.config import DataSection
from pixelwise.data.registry import load_split
from pixelwise.inference.evaluate import evaluate
from pixelwise.inference.segmenter import ImageLike, Segmenter
from pixelwise.models.saving import ClassicalCard

DEFAULT_OUT = Path(__file__).parent / "results" / "classical.json"


@dataclass(frozen=True)
class Benchmark:
    """One dataset: its folder under the data root, and the methods with their parameters."""

    folder: str
    methods: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


BENCHMARKS = {
    "isbi2012": Benchmark(
        "isbi2012",
        [
            ("threshold", {"value": 128}),
            ("otsu", {}),
            ("multiotsu", {"k": 3}),
            ("adaptive", {"block_size": 35, "method": "gaussian"}),
            ("kmeans", {"k": 4}),
            ("edges", {"detector": "canny", "sigma": 1.0}),
            ("region_growing", {"tolerance": 24, "vote": "balanced"}),
            ("watershed", {"sigma": 1.0}),
        ],
    ),
    "camvid": Benchmark(
        "camvid",
        [
            ("otsu", {}),
            ("multiotsu", {"k": 4, "vote": "pixels"}),
            ("kmeans", {"k": 8, "space": "lab"}),
            ("kmeans", {"k": 8, "space": "lab", "xy": True}),
            ("edges", {"detector": "canny", "sigma": 2.0}),
            ("region_growing", {"tolerance": 16}),
            ("watershed", {"sigma": 2.0}),
        ],
    ),
}


class TimedSegmenter(Segmenter):
    """A :class:`Segmenter` that records the seconds of every ``labels`` call."""

    def __init__(self, segmenter: Segmenter) -> None:
        wrapped = segmenter.method if segmenter.method is not None else segmenter.model
        super().__init__(wrapped, segmenter.card, segmenter.device)
        self.seconds: list[float] = []

    def labels(self, image: ImageLike) -> torch.Tensor:
        started = time.perf_counter()
        labels = super().labels(image)
        self.seconds.append(time.perf_counter() - started)
        return labels


def score(name: str, segmenter: Segmenter, val: Any, fit_s: float | None) -> dict[str, Any]:
    """One table row: ``segmenter``'s scores on ``val`` and its median time per image."""
    timed = TimedSegmenter(segmenter)
    scores = evaluate(timed, val, progress=False).scores
    return {
        "method": name,
        "miou": scores.miou,
        "pixel_accuracy": scores.pixel_accuracy,
        "fit_s": fit_s,
        "predict_ms": 1000 * statistics.median(timed.seconds),
    }


def classical_row(method_name: str, params: dict[str, Any], train: Any, val: Any) -> dict:
    """Fit ``method_name`` with ``params`` on ``train``, score it on ``val``."""
    method = classical.build(method_name, **params)
    started = time.perf_counter()
    method.fit(train, progress=False)
    fit_s = time.perf_counter() - started
    segmenter = Segmenter(method, ClassicalCard(method.to_dict(), train.info), "cpu")
    label = method_name + "".join(f" {k}={v}" for k, v in params.items())
    row = score(label, segmenter, val, fit_s)
    print(f"  {label}: mIoU {row['miou']:.3f}, fit {fit_s:.1f} s", flush=True)
    return row


def benchmark_dataset(name: str, root: Path, networks: dict[str, Path]) -> list[dict]:
    """Rows for dataset ``name``: every classical method, then the network if given."""
    data = DataSection(name=name, root=str(root / BENCHMARKS[name].folder))
    train, val = load_split(data, "train"), load_split(data, "val")
    print(f"{name}: {len(train)} train, {len(val)} val images", flush=True)
    rows = [classical_row(m, p, train, val) for m, p in BENCHMARKS[name].methods]
    if name in networks:
        segmenter = Segmenter.load(networks[name], device="cpu")
        rows.append(score(f"network {networks[name]}", segmenter, val, None))
    return rows


def format_table(name: str, rows: list[dict]) -> str:
    lines = [
        f"**{name}**",
        "",
        "| method | mIoU | pixel acc | fit (s) | predict (ms/image) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        fit = "-" if row["fit_s"] is None else f"{row['fit_s']:.1f}"
        lines.append(
            f"| {row['method']} | {row['miou']:.3f} | {row['pixel_accuracy']:.3f} | {fit} "
            f"| {row['predict_ms']:.0f} |"
        )
    return "\n".join(lines)


def parse_networks(pairs: list[str]) -> dict[str, Path]:
    networks = {}
    for pair in pairs:
        name, sep, run = pair.partition("=")
        if not sep or name not in BENCHMARKS:
            raise SystemExit(f"--network expects NAME=RUN_DIR with NAME in {list(BENCHMARKS)}")
        networks[name] = Path(run)
    return networks


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--datasets", default=",".join(BENCHMARKS), help="comma separated")
    parser.add_argument(
        "--network", action="append", default=[], metavar="NAME=RUN_DIR",
        help="also score a trained run on dataset NAME (repeatable)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    networks = parse_networks(args.network)
    results = {}
    for name in args.datasets.split(","):
        results[name] = benchmark_dataset(name, args.data_root, networks)
    print("\n\n".join(format_table(name, rows) for name, rows in results.items()))
    payload = {"scikit-image": skimage.__version__, "scikit-learn": sklearn.__version__}
    save_results(args.out, {**payload, "results": results})


if __name__ == "__main__":
    main()
