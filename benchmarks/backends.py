"""Every installed backend side by side, through the Segmenter, for the documented models.

    python benchmarks/backends.py [--size 512] [--threads 2] [--repeats 10]
        [--camvid RUN_OR_MODEL] [--camvid-int8 EXPORTED_DIR] [--models lraspp,unet]
        [--out FILE]

Models: ``lraspp`` (MobileNetV3-Large), ``deeplabv3-mobilenet`` (DeepLabV3 over
MobileNetV3-Large at output stride 16, rates 12/24/36: torchvision's
``deeplabv3_mobilenet_v3_large``), ``unet`` (the paper's width, 64 to 1024), each with
21 classes and seeded random weights, and the ``camvid-cpu`` model when ``--camvid``
names it (its INT8 export joins its comparison with ``--camvid-int8``).

For each model, :func:`pixelwise.api.bench` predicts one seeded random S×S image on
every backend in one process: interleaved rounds in alternating order, medians, the
ratio to eager PyTorch taken within each round, and each backend's logits checked
against eager's. Prints one table per model and writes JSON (atomically) after each.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from results import save_results

from pixelwise.api import bench
from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.transforms import Normalization
from pixelwise.inference.backends import installed_backends
from pixelwise.inference.benchmark import timing_table
from pixelwise.models import build_model
from pixelwise.models.saving import ModelCard, save_model

NUM_CLASSES = 21
DEFAULT_OUT = Path(__file__).parent / "results" / "backends.json"
# name -> build_model arguments
MODELS = {
    "lraspp": {"name": "lraspp"},
    "deeplabv3-mobilenet": {
        "name": "deeplabv3",
        "encoder": "mobilenet_v3_large",
        "output_stride": 16,
        "rates": [12, 24, 36],
    },
    "unet": {"name": "unet"},
}


def save_random_model(folder: Path, arguments: dict) -> Path:
    """A saved model of seeded random weights, 21 classes, ImageNet normalisation."""
    torch.manual_seed(0)
    model = build_model(num_classes=NUM_CLASSES, **arguments).eval()
    info = DatasetInfo(tuple(f"class{i}" for i in range(NUM_CLASSES)), default_colours(NUM_CLASSES))
    return save_model(folder, model, ModelCard(model.config, info, Normalization.default(3)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side (default 512)")
    parser.add_argument("--threads", type=int, default=2, help="threads per backend (default 2)")
    parser.add_argument("--repeats", type=int, default=10, help="rounds of blocks (default 10)")
    parser.add_argument(
        "--models", help=f"comma-separated, of: {', '.join(MODELS)} (default all; '' for none)"
    )
    parser.add_argument("--camvid", type=Path, help="the camvid-cpu run or model folder")
    parser.add_argument("--camvid-int8", type=Path, help="its INT8 ONNX export, timed beside it")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    names = list(MODELS) if args.models is None else [n for n in args.models.split(",") if n]
    size = (args.size, args.size)
    results: dict[str, list[dict]] = {}
    payload = {
        "size": list(size),
        "repeats": args.repeats,
        "backends": installed_backends(),
        "camvid_model": str(args.camvid) if args.camvid else None,
        "models": results,
    }
    with tempfile.TemporaryDirectory() as folder:
        paths = {name: save_random_model(Path(folder) / name, MODELS[name]) for name in names}
        if args.camvid is not None:
            paths["camvid-cpu"] = args.camvid
        for name, path in paths.items():
            exported = [args.camvid_int8] if name == "camvid-cpu" and args.camvid_int8 else []
            rows = bench(path, size, args.threads, args.repeats, exported=exported)
            print(f"\n{name} at {args.size}x{args.size}, {args.threads} threads")
            print(timing_table(rows))
            results[name] = [row.to_dict() for row in rows]
            save_results(args.out, payload)  # after each model, so a stopped run keeps its rows


if __name__ == "__main__":
    main()
