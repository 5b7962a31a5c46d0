"""The ``pixelwise`` command. It parses arguments and calls library functions, nothing more.

Mistakes a user can make end as one ``error: ...`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from pixelwise.errors import PixelwiseError


def _data_flags(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        required=required,
        help="dataset: synthetic, folder, camvid, isbi2012, voc, cityscapes, coco",
    )
    group.add_argument(
        "--data-root", help="dataset folder (camvid, isbi2012, voc, cityscapes, coco)"
    )
    group.add_argument("--images", help="folder data: image folder")
    group.add_argument("--masks", help="folder data: mask folder, matched to images by file stem")
    group.add_argument("--mask-values", help="folder data: stored value -> class, e.g. 0:0,255:1")
    group.add_argument("--classes", help="folder data: class names, comma separated")
    group.add_argument("--ignore-index", type=int, help="folder data: mask value to ignore")
    group.add_argument(
        "--val-slices", help="isbi2012: validation slice numbers, e.g. 15,16,17,18,19"
    )


def _data_options(args: argparse.Namespace) -> dict[str, Any]:
    """Dataset options given as flags, keyed as :func:`pixelwise.data.load_dataset` takes them."""
    from pixelwise.data.datasets import parse_mask_values

    options: dict[str, Any] = {
        "images": args.images,
        "masks": args.masks,
        "ignore_index": args.ignore_index,
        "mask_values": parse_mask_values(args.mask_values) if args.mask_values else None,
        "classes": args.classes.split(",") if args.classes else None,
        "val_slices": _int_list(args.val_slices, "--val-slices") if args.val_slices else None,
    }
    return {k: v for k, v in options.items() if v is not None}


def _number_list(text: str, flag: str, kind: type[int] | type[float]) -> list:
    try:
        return [kind(part) for part in text.split(",")]
    except ValueError:
        raise PixelwiseError(
            f"{flag} expects comma-separated {kind.__name__}s, got {text!r}"
        ) from None


def _int_list(text: str, flag: str) -> list[int]:
    return _number_list(text, flag, int)


def _float_list(text: str, flag: str) -> tuple[float, ...]:
    return tuple(_number_list(text, flag, float))


def _devices(text: str) -> int | str:
    """``--devices``: a count, or ``auto``."""
    return text if text == "auto" else int(text)


def _model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model options (a model rejects those it does not take)")
    group.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture option, e.g. base_width=32 (repeatable)",
    )
    group.add_argument("--upsample", metavar="MODE", help="upsampling, e.g. bilinear, transposed")
    group.add_argument("--fusion", metavar="concat|sum", help="how skip connections are merged")
    group.add_argument("--output-stride", type=int, metavar="N", help="encoder output stride")
    group.add_argument(
        "--separable",
        action="store_true",
        default=None,
        help="depthwise-separable convolutions",
    )


def _key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict, each value parsed as YAML (``k=6`` gives the int 6)."""
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PixelwiseError(f"{flag} expects KEY=VALUE, got {pair!r}")
        try:
            options[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise PixelwiseError(f"{flag} {key}: cannot parse the value {value!r}") from None
    return options


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """Model options from ``--model-option KEY=VALUE`` pairs; the named flags win over them."""
    options = _key_values(args.model_option, "--model-option")
    named = {
        "upsample": args.upsample,
        "fusion": args.fusion,
        "output_stride": args.output_stride,
        "separable": args.separable,
    }
    return options | {key: value for key, value in named.items() if value is not None}


def _train_config(args: argparse.Namespace):
    """The run configuration: the YAML file (or the run's own, on resume), then the flags."""
    from pixelwise.config import RunConfig, load_config, merge
    from pixelwise.data.stats import parse_class_weights
    from pixelwise.rundir import RunDir

    if args.config:
        config = load_config(args.config)
    elif args.resume and args.out:
        config = load_config(RunDir(Path(args.out)).config)
    else:
        config = RunConfig()
    class_weights = parse_class_weights(args.class_weights) if args.class_weights else None
    overrides = {
        "model.name": args.model,
        "model.encoder": args.encoder,
        "model.encoder_weights": args.encoder_weights,
        "data.name": args.data,
        "data.root": args.data_root,
        "data.crop": args.crop,
        "data.scale": args.scale,
        "data.batch_size": args.batch_size,
        "data.num_workers": args.workers,
        "train.epochs": args.epochs,
        "train.lr": args.lr,
        "train.loss": args.loss,
        "train.class_weights": class_weights,
        "train.accelerator": args.accelerator,
        "train.devices": args.devices,
        "train.num_nodes": args.num_nodes,
        "train.strategy": args.strategy,
        "train.precision": args.precision,
        "train.optimizer": args.optimizer,
        "train.warmup_steps": args.warmup_steps,
        "train.encoder_lr_mult": args.encoder_lr_mult,
        "train.freeze_encoder_epochs": args.freeze_encoder_epochs,
        "train.init_from": args.init_from,
        "seed": args.seed,
        "out": args.out,
    }
    overrides |= {f"data.options.{k}": v for k, v in _data_options(args).items()}
    overrides |= {f"model.options.{k}": v for k, v in _model_options(args).items()}
    overrides |= {"method.name": args.method}
    overrides |= {f"method.params.{k}": v for k, v in _key_values(args.param, "--param").items()}
    return merge(config, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.api import train
    from pixelwise.report.table import per_class_table

    if args.method and args.model:
        raise PixelwiseError("give --model (a network) or --method (a classical method), not both")
    config = _train_config(args)
    run, evaluation = train(config, resume=args.resume, overwrite=args.overwrite)
    print(per_class_table(evaluation.scores))
    print(f"run directory: {run.root}\nmetrics: {evaluation.metrics_path}")
    return 0


def _eval_data(args: argparse.Namespace):
    """The data to score on: the flags, or else the data the run was trained on."""
    from pixelwise.config import DataSection, load_config
    from pixelwise.models.saving import read_any_card, resolve_model_dir

    if args.data is None:
        run_config = resolve_model_dir(args.model_dir).parent / "config.yaml"
        if not run_config.exists():
            raise PixelwiseError(f"'{args.model_dir}' is not a run directory: give --data")
        return load_config(run_config).data
    options = _data_options(args)
    if args.data == "folder":
        info = read_any_card(resolve_model_dir(args.model_dir)).info
        options.setdefault("classes", list(info.classes))
        options.setdefault("ignore_index", info.ignore_index)
    return DataSection(name=args.data, root=args.data_root, options=options)


def _instance_classes(text: str | None, model_dir: str) -> tuple[int, ...] | None:
    """``--instances``: class names or indices, comma separated; ``all`` for every class."""
    from pixelwise.models.saving import read_any_card, resolve_model_dir

    if text is None:
        return None
    classes = read_any_card(resolve_model_dir(model_dir)).info.classes
    if text == "all":
        return tuple(range(len(classes)))
    chosen = []
    for item in text.split(","):
        if item in classes:
            chosen.append(classes.index(item))
        elif item.isdigit() and int(item) < len(classes):
            chosen.append(int(item))
        else:
            raise PixelwiseError(
                f"--instances: unknown class {item!r}; the model's classes: {', '.join(classes)}"
            )
    return tuple(chosen)


def _evaluation_options(args: argparse.Namespace):
    from pixelwise.inference.evaluate import EvaluationOptions
    from pixelwise.metrics.crops import DEFAULT_FACTORS

    crops = None
    if args.crops is not None:
        crops = DEFAULT_FACTORS if args.crops == "default" else _float_list(args.crops, "--crops")
    return EvaluationOptions(
        per_image=args.per_image,
        boundary_tolerance=args.boundary,
        crop_factors=crops,
        instance_classes=_instance_classes(args.instances, args.model_dir),
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pixelwise.api import ORACLE_MAPPING, evaluate_model
    from pixelwise.report.table import per_class_table

    data = _eval_data(args)
    split = args.split or ("all" if data.name == "folder" else data.val_split)
    options = _evaluation_options(args)
    evaluation = evaluate_model(
        args.model_dir, data, split, out=args.out, options=options, oracle=args.oracle_mapping
    )
    if args.oracle_mapping:
        print(ORACLE_MAPPING)
    print(per_class_table(evaluation.scores))
    print(f"metrics: {evaluation.metrics_path}")
    return 0


_MEMORY_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _memory(text: str) -> int:
    """``--max-memory``: bytes, or a number with K, M, G or T (powers of 1024), e.g. 4G."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise PixelwiseError(f"--max-memory expects a size such as 4G or 512M, got {text!r}")
    return int(float(match[1]) * _MEMORY_UNITS[match[2].upper()])


def _max_pixels(text: str) -> int | None:
    """``--max-pixels``: a pixel count, or ``none`` for no limit."""
    if text.lower() == "none":
        return None
    if not text.isdigit() or int(text) < 1:
        raise PixelwiseError(f"--max-pixels expects a positive pixel count or none, got {text!r}")
    return int(text)


def _tile_mode(values: list[str]) -> tuple[str, tuple[int, int] | None]:
    """``--tile``: ``auto``, ``none``, or the tile size ``H W`` (one number: a square)."""
    if values in (["auto"], ["none"]):
        return ("auto" if values == ["auto"] else "never"), None
    if 1 <= len(values) <= 2 and all(v.isdigit() and int(v) > 0 for v in values):
        sizes = [int(v) for v in values]
        return "always", (sizes[0], sizes[-1])
    raise PixelwiseError(f"--tile expects auto, none or a tile size H W, got {' '.join(values)}")


def _predict_options(args: argparse.Namespace):
    from pixelwise.inference.outputs import OutputRequest
    from pixelwise.inference.predict import PredictOptions
    from pixelwise.inference.tiling import TileOptions
    from pixelwise.inference.tta import TTA

    mode, size = _tile_mode(args.tile)
    tiling = TileOptions(size or (512, 512), args.overlap, args.blend, args.tile_batch)
    outputs = OutputRequest(args.overlay, args.probabilities, args.save_quantized)
    return PredictOptions(
        tile=mode,
        tiling=tiling,
        max_memory=_memory(args.max_memory),
        tta=TTA.parse(args.tta) if args.tta else None,
        page=args.page,
        max_pixels=_max_pixels(args.max_pixels),
        uint16_max=args.uint16_max,
        float_range=tuple(args.float_range) if args.float_range else None,
        outputs=outputs,
        batch_size=args.batch_size,
        workers=args.workers,
        summary=args.summary,
        force=args.force,
        skip_bad=args.skip_bad,
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from pixelwise.api import predict_files
    from pixelwise.inference.predict import describe

    report = predict_files(args.model_dir, args.inputs, args.out, _predict_options(args))
    print("\n".join(describe(report)) + f"; outputs in {args.out}")
    return 0


def cmd_data_inspect(args: argparse.Namespace) -> int:
    """Print the inspection; exit 0 whenever the report was written, problems or not."""
    from pixelwise.data.inspect import inspect_data
    from pixelwise.report.dataset import frequency_table

    split = args.split or ("all" if args.data == "folder" else "train")
    out = Path(args.out or f"inspect-{args.data}-{split}")
    report = inspect_data(args.data, split, out, args.data_root, **_data_options(args))
    sizes = ", ".join(f"{size} ({count})" for size, count in report.image_sizes.items())
    print(f"{report.dataset} {report.split}: {report.num_samples} samples; image sizes: {sizes}")
    print(frequency_table(report))
    print(f"{len(report.problems)} problem(s)")
    for problem in report.problems:
        print(f"  {problem.kind}: {problem.message}")
    print(f"report: {out / 'report.json'}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from pixelwise.classical import list_methods
    from pixelwise.models import list_encoders, list_models

    print("architectures:")
    for name, description in list_models().items():
        print(f"  {name:<12} {description}")
    print("encoders:")
    for name in list_encoders():
        print(f"  {name}")
    print("  timm:<name>  any timm model (pip install timm)")
    print("classical methods (train --method NAME --param KEY=VALUE):")
    for name, description in list_methods().items():
        print(f"  {name:<15} {description}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    import json

    from pixelwise.models import build_model
    from pixelwise.models.summary import summary

    options = _model_options(args)
    model = build_model(args.model, args.num_classes, encoder=args.encoder, **options).eval()
    result = summary(model, args.input_size)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    from pixelwise.demo import demo_config, run_demo
    from pixelwise.report.table import per_class_table

    started = time.perf_counter()
    given = {k: v for k, v in vars(args).items() if k not in ("command", "handler")}
    config = demo_config(**given)
    run, evaluation, picture = run_demo(config)
    print(per_class_table(evaluation.scores))
    print(f"run directory: {run.root}\nmetrics: {evaluation.metrics_path}\npicture: {picture}")
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from pixelwise.api import serve
    from pixelwise.serve.options import ServeOptions

    pixels = _max_pixels(args.max_pixels)
    if pixels is None:
        raise PixelwiseError("--max-pixels must be a pixel count for a server, not none")
    options = ServeOptions(
        host=args.host,
        port=args.port,
        max_upload_mb=args.max_upload_mb,
        max_pixels=pixels,
        workers=args.workers,
        queue=args.queue,
        token=args.token or os.environ.get("PIXELWISE_TOKEN") or None,
        backend=args.backend,
        max_memory=_memory(args.max_memory),
    )
    serve(args.models, options)
    return 0


def _add_serve_parser(commands: argparse._SubParsersAction) -> None:
    from pixelwise.serve import options as defaults

    serve = commands.add_parser(
        "serve",
        help='serve models over HTTP: a REST API and a web page (pip install "pixelwise[serve]")',
    )
    serve.add_argument(
        "models", nargs="+", metavar="MODEL",
        help="saved-model folder, run directory or classical method folder; NAME=PATH names it "
        "(default name: the folder's)",
    )  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    serve.add_argument(
        "--backend", help="how networks run, passed to the model loader (default: its own)"
    )
    limits = serve.add_argument_group("limits")
    limits.add_argument(
        "--max-upload-mb", type=float, default=defaults.DEFAULT_MAX_UPLOAD_MB, metavar="MB",
        help=f"largest request body in MiB (default {defaults.DEFAULT_MAX_UPLOAD_MB:g})",
    )  # fmt: skip
    limits.add_argument(
        "--max-pixels", default=str(defaults.DEFAULT_MAX_PIXELS), metavar="N",
        help=f"largest image in pixels, checked on its header (default "
        f"{defaults.DEFAULT_MAX_PIXELS})",
    )  # fmt: skip
    limits.add_argument(
        "--max-memory", default="1G", metavar="SIZE",
        help="memory one prediction may use before it is tiled, e.g. 1G (default 1G)",
    )  # fmt: skip
    limits.add_argument(
        "--workers", type=int, default=1, metavar="N", help="images predicted at once (default 1)"
    )
    limits.add_argument(
        "--queue", type=int, default=defaults.DEFAULT_QUEUE, metavar="N",
        help=f"requests that may wait for a worker; more are answered 503 (default "
        f"{defaults.DEFAULT_QUEUE})",
    )  # fmt: skip
    limits.add_argument(
        "--token", metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on the API and /metrics (default: "
        "$PIXELWISE_TOKEN; none)",
    )  # fmt: skip
    serve.set_defaults(handler=cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixelwise", description=__doc__.splitlines()[0])
    from pixelwise import __version__
    from pixelwise.data.reader import DEFAULT_MAX_PIXELS
    from pixelwise.data.stats import WEIGHT_METHODS
    from pixelwise.losses import LOSS_NAMES

    parser.add_argument("--version", action="version", version=f"pixelwise {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="train and evaluate a U-Net on generated shapes (CPU, minutes)"
    )
    demo.add_argument("--out", default=argparse.SUPPRESS, help="run directory (default: runs/demo)")
    demo.add_argument(
        "--seed", type=int, default=argparse.SUPPRESS, help="seed for data and training"
    )
    demo.add_argument("--num-train", type=int, default=argparse.SUPPRESS, help="training images")
    demo.add_argument("--num-val", type=int, default=argparse.SUPPRESS, help="validation images")
    demo.add_argument("--size", type=int, default=argparse.SUPPRESS, help="image side in pixels")
    demo.add_argument("--epochs", type=int, default=argparse.SUPPRESS, help="training epochs")
    demo.set_defaults(handler=cmd_demo)

    train = commands.add_parser("train", help="train a model into a run directory")
    train.add_argument("--config", help="YAML run configuration; flags override it")
    train.add_argument("--model", help="architecture (see `pixelwise models`)")
    train.add_argument(
        "--method",
        help="fit a classical method instead of a network: threshold, otsu, multiotsu, "
        "adaptive, edges, kmeans, region_growing, watershed (see `pixelwise models`)",
    )
    train.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="classical method parameter, e.g. k=6 (repeatable; values are read as YAML)",
    )
    train.add_argument("--encoder", help="encoder name, for models that take one")
    train.add_argument(
        "--encoder-weights",
        metavar="PATH|imagenet",
        help="torchvision-format classifier weights loaded into the encoder before training",
    )
    _model_flags(train)
    _data_flags(train, required=False)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="learning rate")
    train.add_argument(
        "--optimizer",
        metavar="adamw|sgd",
        help="adamw (cosine schedule, default) or sgd (momentum 0.9, poly schedule)",
    )
    train.add_argument(
        "--warmup-steps", type=int, metavar="N", help="adamw: linear warmup steps (default: 0)"
    )
    train.add_argument(
        "--encoder-lr-mult", type=float, metavar="X", help="encoder learning rate = lr × X"
    )
    train.add_argument(
        "--freeze-encoder-epochs",
        type=int,
        metavar="N",
        help="freeze the encoder (weights and BatchNorm statistics) for the first N epochs",
    )
    train.add_argument(
        "--init-from",
        metavar="MODEL_DIR",
        help="start from the matching weights of a saved model or run of the same architecture "
        "(the data's classes may differ; the head is reinitialised)",
    )
    train.add_argument(
        "--loss",
        metavar="SPEC",
        help=f"loss name or weighted sum, e.g. ce+0.5*dice; names: {', '.join(LOSS_NAMES)} "
        "(default: ce)",
    )
    train.add_argument(
        "--class-weights",
        metavar="SPEC",
        help=f"{', '.join(WEIGHT_METHODS)} (computed from the training split), "
        "or one weight per class, e.g. 1,2.5,0.3",
    )
    train.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), help="training crop size")
    train.add_argument(
        "--scale",
        type=float,
        metavar="F",
        help="working resolution: train on images resized by F; predictions are still "
        "made at full size (default: 1)",
    )
    train.add_argument("--workers", type=int, help="data loader processes (default: 0 on CPU)")
    train.add_argument("--accelerator", help="cpu, gpu or auto (default: auto)")
    train.add_argument(
        "--devices", type=_devices, help="devices per node: a count or auto (default: 1)"
    )
    train.add_argument("--num-nodes", type=int, help="machines taking part (default: 1)")
    train.add_argument("--strategy", help="auto, ddp, ddp_spawn, fsdp, ... (default: auto)")
    train.add_argument("--precision", help="32, bf16-mixed, 16-mixed, bf16-true, ... (default: 32)")
    train.add_argument("--seed", type=int)
    train.add_argument("--out", help="run directory")
    train.add_argument(
        "--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt"
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in OUT")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser(
        "evaluate", help="score a model on labelled data; write metrics.json"
    )
    evaluate.add_argument("model_dir", metavar="RUN_OR_MODEL_DIR")
    _data_flags(evaluate, required=False)
    evaluate.add_argument("--split", help="split to score (default: val; 'all' for folder data)")
    evaluate.add_argument("--out", help="output folder (default: RUN/eval-<split>)")
    evaluate.add_argument(
        "--oracle-mapping",
        action="store_true",
        help="classical methods: map ids to classes one-to-one on the scored data itself "
        "(Hungarian); reported as an oracle, in RUN/eval-<split>-oracle by default",
    )
    extras = evaluate.add_argument_group("extra scores (written into metrics.json)")
    extras.add_argument(
        "--per-image", action="store_true", help="also average the scores over images"
    )
    extras.add_argument(
        "--boundary", type=float, nargs="?", const=2.0, metavar="PX",
        help="boundary F1 with a tolerance of PX pixels (default 2)",
    )  # fmt: skip
    extras.add_argument(
        "--crops", nargs="?", const="default", metavar="F,F,...",
        help="scores on central crops (default factors 1.0, 0.9, ..., 0.1)",
    )  # fmt: skip
    extras.add_argument(
        "--instances", nargs="?", const="all", metavar="CLASSES",
        help="object-level scores of connected components: class names or indices, "
        "comma separated (default: every class)",
    )  # fmt: skip
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser(
        "predict", help="write class-label PNGs (or TIFFs) for images; resumable"
    )
    predict.add_argument("model_dir", metavar="MODEL_OR_RUN_DIR")
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    predict.add_argument(
        "--out", required=True, help="output folder (not an input folder; a subfolder is fine)"
    )
    predict.add_argument("--overlay", action="store_true", help="also write overlay/<stem>.png")
    predict.add_argument(
        "--probabilities",
        action="store_true",
        help="also write confidence/<stem>.png (top probability × 255) and, for at most 32 "
        "classes, probabilities/<stem>.npy ((H, W, K) float16)",
    )
    predict.add_argument(
        "--summary", action="store_true", help="write summary.jsonl: size, time, class fractions"
    )
    predict.add_argument(
        "--save-quantized",
        action="store_true",
        help="kmeans only: also write quantized/<stem>.png, each pixel in its cluster's colour",
    )
    tiles = predict.add_argument_group("tiles and memory")
    tiles.add_argument(
        "--tile", nargs="+", default=["auto"], metavar="auto|none|H W",
        help="auto: whole images, tiles for those over --max-pixels or --max-memory "
        "(default); none: always whole; H W: always tiles of H×W pixels (default size 512 512)",
    )  # fmt: skip
    tiles.add_argument(
        "--overlap", type=float, default=0.25, metavar="F",
        help="tile overlap as a fraction of the tile (default 0.25)",
    )  # fmt: skip
    tiles.add_argument(
        "--blend", default="gaussian", choices=["gaussian", "constant"],
        help="weights of overlapping tiles (default gaussian)",
    )  # fmt: skip
    tiles.add_argument(
        "--tile-batch", type=int, default=4, metavar="N", help="tiles per forward pass (default 4)"
    )
    tiles.add_argument(
        "--max-memory", default="4G", metavar="SIZE",
        help="memory budget of --tile auto and of batches, e.g. 4G, 512M (default 4G)",
    )  # fmt: skip
    tiles.add_argument(
        "--tta", nargs="+", metavar="MODE",
        help="test-time augmentation, combinable: hflip, flips, d4, scales:0.75,1,1.25",
    )  # fmt: skip
    reading = predict.add_argument_group("reading images")
    reading.add_argument(
        "--max-pixels", default=str(DEFAULT_MAX_PIXELS), metavar="N|none",
        help=f"largest image read whole, in pixels (default {DEFAULT_MAX_PIXELS}, PIL's); "
        "larger ones are tiled by --tile auto and written as TIFF",
    )  # fmt: skip
    reading.add_argument("--page", type=int, metavar="N", help="page of multipage files (0-based)")
    reading.add_argument(
        "--float-range", type=float, nargs=2, metavar=("LO", "HI"),
        help="value range of float images, mapped to 0..255 (default: the model's, 0 1)",
    )  # fmt: skip
    reading.add_argument(
        "--uint16-max", type=int, metavar="N",
        help="16-bit value meaning full scale (default: the model's, 65535: divide by 257)",
    )  # fmt: skip
    runs = predict.add_argument_group("batches and resuming")
    runs.add_argument(
        "--batch-size", type=int, default=4, metavar="N",
        help="images of one size per forward pass (default 4, fewer if --max-memory says so)",
    )  # fmt: skip
    runs.add_argument(
        "--workers", type=int, default=2, metavar="N",
        help="processes decoding images ahead (default 2; 0: in the main process)",
    )  # fmt: skip
    runs.add_argument(
        "--force", action="store_true", help="redo images whose outputs are already complete"
    )
    runs.add_argument(
        "--skip-bad", action="store_true",
        help="log unreadable images to OUT/errors.jsonl and go on (default: exit 2 before "
        "any work)",
    )  # fmt: skip
    predict.set_defaults(handler=cmd_predict)

    models = commands.add_parser("models", help="list architectures and encoders")
    models.set_defaults(handler=cmd_models)

    summary = commands.add_parser(
        "summary", help="parameters, MACs, receptive field and output stride of a model"
    )
    summary.add_argument("model", metavar="NAME", help="architecture (see `pixelwise models`)")
    summary.add_argument("--encoder", help="encoder name, for models that take one")
    summary.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=[512, 512],
        metavar=("H", "W"),
        help="input height and width (default: 512 512)",
    )
    summary.add_argument("--num-classes", type=int, default=21, help="output classes (default: 21)")
    _model_flags(summary)
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(handler=cmd_summary)

    data = commands.add_parser("data", help="look at datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    inspect = data_commands.add_parser(
        "inspect",
        help="sizes, class frequencies, sample masks and every problem found; exits 0 when "
        "the report is written, even if it lists problems",
    )
    _data_flags(inspect, required=True)
    inspect.add_argument("--split", help="split to inspect (default: train; 'all' for folder)")
    inspect.add_argument(
        "--out", help="folder for report.json and the pictures (default: inspect-DATA-SPLIT)"
    )
    inspect.set_defaults(handler=cmd_data_inspect)
    _add_serve_parser(commands)
    return parser


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*treespec.*deprecated.*")
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    try:
        return args.handler(args)
    except PixelwiseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
