"""Every installed backend side by side, through the Segmenter, for the documented models.

    python benchmarks/backends.py [--size 512] [--threads 2] [--repeats 10]
        [--camvid RUN_OR_MODEL] [--camvid-int8 EXPORTED_DIR] [--models lraspp,unet]
        [--static] [--torchvision] [--out FILE]

Models: ``lraspp`` (MobileNetV3-Large), ``deeplabv3-mobilenet`` (DeepLabV3 over
MobileNetV3-Large at output stride 16, rates 12/24/36: torchvision's
``deeplabv3_mobilenet_v3_large``), ``unet`` (the paper's width, 64 to 1024), each with
21 classes and seeded random weights, and the ``camvid-cpu`` model when ``--camvid``
names it (its INT8 export joins its comparison with ``--camvid-int8``).

With ``--static``, each model's ONNX export at the fixed input size (``pixelwise export
--static-size``) joins its table on every backend that runs ONNX, as the rows
``BACKEND [NAME-static]``.

With ``--torchvision`` (in a virtualenv that has torchvision), ``lraspp`` and
``deeplabv3-mobilenet`` take the seeded random weights of their torchvision twins
(``lraspp_mobilenet_v3_large``, ``deeplabv3_mobilenet_v3_large``), and each twin joins
its table as the row ``torchvision``: torchvision's own model run eagerly through the
same Segmenter, timed in the same rounds.

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
from torch import nn

from pixelwise.allocator import keep_freed_memory
from pixelwise.api import bench, export_model
from pixelwise.data.base import DatasetInfo, default_colours
from pixelwise.data.transforms import Normalization
from pixelwise.inference.backends import installed_backends
from pixelwise.inference.benchmark import timing_table
from pixelwise.inference.segmenter import Segmenter
from pixelwise.models import build_model
from pixelwise.models.saving import ModelCard, read_card, save_model

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
# our model -> its twin's builder in torchvision.models.segmentation
TORCHVISION_TWINS = {
    "lraspp": "lraspp_mobilenet_v3_large",
    "deeplabv3-mobilenet": "deeplabv3_mobilenet_v3_large",
}


def save_random_model(folder: Path, arguments: dict, weights: Path | None = None) -> Path:
    """A saved model of seeded random weights (or torchvision-format ``weights``), 21
    classes, ImageNet normalisation."""
    torch.manual_seed(0)
    model = build_model(num_classes=NUM_CLASSES, weights=weights, **arguments).eval()
    info = DatasetInfo(tuple(f"class{i}" for i in range(NUM_CLASSES)), default_colours(NUM_CLASSES))
    return save_model(folder, model, ModelCard(model.config, info, Normalization.default(3)))


class TorchvisionLogits(nn.Module):
    """A torchvision segmentation model's ``out`` logits ``(N, 21, H, W)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def torchvision_twin(name: str, folder: Path) -> tuple[Path, nn.Module]:
    """The seeded random torchvision twin of ``name``, and its weights saved in ``folder``."""
    from torchvision.models import segmentation

    torch.manual_seed(0)
    builder = getattr(segmentation, TORCHVISION_TWINS[name])
    twin = builder(weights=None, weights_backbone=None, num_classes=NUM_CLASSES).eval()
    weights = folder / f"{name}-torchvision.pth"
    torch.save(twin.state_dict(), weights)
    return weights, TorchvisionLogits(twin)


def static_export(path: Path, out: Path, size: tuple[int, int]) -> Path:
    """The saved model at ``path`` exported to ONNX in ``out`` for ``size`` images only."""
    return export_model(path, out, "onnx", static_size=size, progress=False)


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
    parser.add_argument(
        "--static", action="store_true", help="time each model's static-size ONNX export too"
    )
    parser.add_argument(
        "--torchvision", action="store_true", help="time torchvision's twins beside ours"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    keep_freed_memory()  # as the pixelwise command does
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
        twins = {}
        if args.torchvision:
            twins = {n: torchvision_twin(n, Path(folder)) for n in names if n in TORCHVISION_TWINS}
        weights = {name: twin_weights for name, (twin_weights, _) in twins.items()}
        paths = {
            name: save_random_model(Path(folder) / name, MODELS[name], weights.get(name))
            for name in names
        }
        if args.camvid is not None:
            paths["camvid-cpu"] = args.camvid
        for name, path in paths.items():
            exported = [args.camvid_int8] if name == "camvid-cpu" and args.camvid_int8 else []
            if args.static:
                exported.append(static_export(path, Path(folder) / f"{name}-static", size))
            others = {}
            if name in twins:
                others["torchvision"] = Segmenter(twins[name][1], read_card(path), "cpu")
            rows = bench(path, size, args.threads, args.repeats, exported=exported, others=others)
            print(f"\n{name} at {args.size}x{args.size}, {args.threads} threads")
            print(timing_table(rows))
            results[name] = [row.to_dict() for row in rows]
            save_results(args.out, payload)  # after each model, so a stopped run keeps its rows


if __name__ == "__main__":
    main()
