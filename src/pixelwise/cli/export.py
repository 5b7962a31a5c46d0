"""``pixelwise export``: write a model as an ONNX, TorchScript or OpenVINO folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from pixelwise.cli.common import command, model_dir_argument
from pixelwise.errors import PixelwiseError


def add_parser(commands: argparse._SubParsersAction) -> None:
    from pixelwise.export.capture import MIN_SIDE
    from pixelwise.export.onnx import DEFAULT_OPSET
    from pixelwise.export.record import FORMATS

    export = command(
        commands,
        "export",
        "write a model as an ONNX, TorchScript or OpenVINO graph with its config.json; "
        "load, predict and evaluate take the folder like a model folder",
    )
    model_dir_argument(export)
    export.add_argument(
        "--format", required=True, choices=FORMATS, help=f"graph format: {', '.join(FORMATS)}"
    )
    export.add_argument("--out", required=True, help="new folder for the exported model")
    export.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})"
    )
    export.add_argument(
        "--static-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="fix the graph to images of H×W pixels (default: free batch, height and width, "
        f"at least {MIN_SIDE} pixels a side at the working scale)",
    )
    export.add_argument("--int8", action="store_true", help="ONNX only: static INT8 quantisation")
    export.add_argument(
        "--calibrate-on",
        metavar="DATA",
        help="--int8 calibration images from the training split of: a run directory or "
        "YAML run config (its data), or a dataset name with --data-root",
    )
    export.add_argument("--data-root", help="dataset folder for --calibrate-on NAME")
    export.add_argument(
        "--calibration-images",
        type=int,
        default=64,
        metavar="N",
        help="images drawn for calibration (default 64)",
    )
    export.add_argument("--seed", type=int, default=0, help="which images are drawn")
    export.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from pixelwise.api import export_model

    out = export_model(
        args.model_dir,
        args.out,
        args.format,
        opset=args.opset,
        static_size=tuple(args.static_size) if args.static_size else None,
        calibrate_on=_calibration_data(args),
        calibration_images=args.calibration_images,
        seed=args.seed,
    )
    int8 = " (INT8)" if args.int8 else ""
    print(f"exported {args.model_dir} as {args.format}{int8} to {out}")
    return 0


def _calibration_data(args: argparse.Namespace):
    """``--calibrate-on``: a run directory or YAML run config (its data section), or a
    dataset name with ``--data-root``; None without it."""
    from pixelwise.config import DataSection, load_config

    if args.calibrate_on is None:
        if args.int8:
            raise PixelwiseError("--int8 needs --calibrate-on DATA (calibration images)")
        return None
    if not args.int8:
        raise PixelwiseError("--calibrate-on applies to --int8 exports")
    source = Path(args.calibrate_on)
    if (source / "config.yaml").is_file():
        return load_config(source / "config.yaml").data
    if source.suffix in (".yaml", ".yml"):
        return load_config(source).data
    return DataSection(name=args.calibrate_on, root=args.data_root)
