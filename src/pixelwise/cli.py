"""pixelwise: semantic segmentation with the classic networks, from training to prediction.

Every command has --help. Mistakes a user can make end as one ``error: ...`` line and
exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from pixelwise.allocator import keep_freed_memory
from pixelwise.errors import PixelwiseError
from pixelwise.flags import add_run_flags, run_overrides
from pixelwise.sizes import parse_size


@cache
def _help_lists() -> dict[str, str]:
    """The names that help texts list, read from the registries."""
    from pixelwise.classical import list_methods
    from pixelwise.data.registry import list_datasets
    from pixelwise.losses import LOSS_NAMES
    from pixelwise.models import list_encoders, list_models

    return {
        "models": ", ".join(list_models()),
        "encoders": ", ".join(list_encoders()) + ", timm:<name>",
        "datasets": ", ".join(list_datasets()),
        "losses": ", ".join(LOSS_NAMES),
        "methods": ", ".join(list_methods()),
    }


def run_config(args: argparse.Namespace):
    """The run configuration: the YAML file (or the run's own, on resume), then the flags."""
    from pixelwise.config import RunConfig, load_config, merge
    from pixelwise.rundir import RunDir

    overrides = run_overrides(args, "train")
    out = overrides.get("out")
    if args.config:
        config = load_config(args.config)
    elif args.resume and out:
        config = load_config(RunDir(Path(out)).config)
    else:
        config = RunConfig()
    return merge(config, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from pixelwise.api import train
    from pixelwise.report.table import per_class_table

    given = run_overrides(args, "train")
    if "method.name" in given and "model.name" in given:
        raise PixelwiseError("give --model (a network) or --method (a classical method), not both")
    if args.auto:
        run, evaluation = _train_auto(args, given)
    else:
        run, evaluation = train(run_config(args), resume=args.resume, overwrite=args.overwrite)
    print(per_class_table(evaluation.scores))
    print(f"run directory: {run.root}\nmetrics: {evaluation.metrics_path}")
    return 0


def _train_auto(args: argparse.Namespace, given: dict[str, Any]):
    """``train --auto``: plan on the data flags and ``--minutes``, show the plan, train it;
    the other flags change the plan."""
    from pixelwise.api import train_auto
    from pixelwise.config import RunConfig

    if args.config or args.resume:
        raise PixelwiseError("--auto plans the run itself: it takes no --config or --resume")
    if given.get("train.minutes") is None:
        raise PixelwiseError("--auto needs a time budget: --minutes M")
    if "method.name" in given:
        raise PixelwiseError("--auto plans a network; --method fits a classical method")
    data = _data_section(given)
    planned_keys = ("data.", "train.minutes", "seed", "out")
    overrides = {k: v for k, v in given.items() if not k.startswith(planned_keys)}
    run, evaluation, _ = train_auto(
        data, given["train.minutes"], given.get("out", RunConfig().out), overrides,
        overwrite=args.overwrite, seed=given.get("seed", 0), show=print,
    )  # fmt: skip
    return run, evaluation


def cmd_plan(args: argparse.Namespace) -> int:
    from pixelwise.api import plan
    from pixelwise.planner.plan import plan_yaml

    given = run_overrides(args, "plan")
    if given.get("train.minutes") is None:
        raise PixelwiseError("plan needs a time budget: --minutes M")
    planned = plan(_data_section(given), given["train.minutes"], args.out,
                   seed=given.get("seed", 0))  # fmt: skip
    print(plan_yaml(planned), end="")
    if args.out:
        print(f"plan: {args.out}\nfingerprint: {Path(args.out).parent / 'fingerprint.json'}")
    return 0


def _plan_parser(commands: argparse._SubParsersAction) -> None:
    plan = _command(
        commands,
        "plan",
        "fingerprint a dataset and plan the best run this machine can train in M minutes",
        "Read the training split once (a sample of large ones), apply the rules of "
        "docs/auto.md and time the candidate networks here; print the plan: the run "
        "configuration that `pixelwise train --config` takes, each derived value under "
        "a comment naming the fact and the rule behind it.",
    )
    add_run_flags(plan, "plan", _help_lists)
    plan.add_argument(
        "--out", metavar="PLAN.yaml",
        help="also write the plan there, and the fingerprint beside it (fingerprint.json)",
    )  # fmt: skip
    plan.set_defaults(handler=cmd_plan)


def _eval_data(args: argparse.Namespace):
    """The data to score on: the flags, or else the data the run was trained on."""
    from pixelwise.config import load_config
    from pixelwise.models.saving import read_any_card, resolve_model_dir

    overrides = run_overrides(args, "evaluate")
    if "data.name" not in overrides:
        run_file = resolve_model_dir(args.model_dir).parent / "config.yaml"
        if not run_file.exists():
            raise PixelwiseError(f"'{args.model_dir}' is not a run directory: give --data")
        return load_config(run_file).data
    if overrides["data.name"] == "folder":
        info = read_any_card(resolve_model_dir(args.model_dir)).info
        overrides.setdefault("data.options.classes", list(info.classes))
        overrides.setdefault("data.options.ignore_index", info.ignore_index)
    return _data_section(overrides)


def _data_section(overrides: dict[str, Any]):
    """A data section made of the data flags alone."""
    from pixelwise.config import RunConfig, merge

    return merge(RunConfig(), overrides).data


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
    from pixelwise.options import ListOf, Number, parsed

    crops = None
    if args.crops is not None:
        factors = ListOf(Number(minimum=0, maximum=1, exclusive_minimum=True))
        crops = (
            DEFAULT_FACTORS if args.crops == "default" else parsed(factors, args.crops, "--crops")
        )
    return EvaluationOptions(
        per_image=args.per_image,
        boundary_tolerance=args.boundary,
        crop_factors=crops,
        instance_classes=_instance_classes(args.instances, args.model_dir),
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pixelwise.api import ORACLE_MAPPING, evaluate_model
    from pixelwise.report.table import extras_summary, per_class_table

    data = _eval_data(args)
    split = args.split or ("all" if data.name == "folder" else data.val_split)
    options = _evaluation_options(args)
    evaluation = evaluate_model(
        args.model_dir,
        data,
        split,
        out=args.out,
        options=options,
        oracle=args.oracle_mapping,
        backend=args.backend,
    )
    if args.oracle_mapping:
        print(ORACLE_MAPPING)
    if evaluation.scored:
        print(f"scored {evaluation.scored}")
    print(per_class_table(evaluation.scores))
    if evaluation.extras:
        print(extras_summary(evaluation.extras))
    print(f"metrics: {evaluation.metrics_path}")
    return 0


def _memory(text: str) -> int:
    """``--max-memory``: bytes, or a number with K, M, G or T (powers of 1024), e.g. 4G."""
    return parse_size(text, "--max-memory")


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


def _predict_on_ray(args: argparse.Namespace, cpus: float | None, gpus: float | None):
    """``predict --engine ray``: the cluster options from the flags, then the Ray engine."""
    from pixelwise.api import predict_files_on_ray
    from pixelwise.distributed.cluster import DEFAULT_CPUS_PER_WORKER, RayPredictOptions

    cluster = RayPredictOptions(
        address=args.address,
        workers=args.workers,
        cpus_per_worker=DEFAULT_CPUS_PER_WORKER if cpus is None else cpus,
        gpus_per_worker=0.0 if gpus is None else gpus,
    )
    options = _predict_options(args)
    return predict_files_on_ray(
        args.model_dir, args.inputs, args.out, options, backend=args.backend, cluster=cluster
    )


def cmd_predict(args: argparse.Namespace) -> int:
    from pixelwise.api import predict_files
    from pixelwise.inference.predict import describe

    cpus, gpus = _ray_resources(args, "engine", "worker")
    if args.engine == "ray":
        report = _predict_on_ray(args, cpus, gpus)
    else:
        options = _predict_options(args)
        report = predict_files(args.model_dir, args.inputs, args.out, options, args.backend)
    print("\n".join(describe(report)) + f"; outputs in {args.out}")
    return 0


def _backend_flag(parser: argparse.ArgumentParser) -> None:
    from pixelwise.inference.backends import BACKENDS

    parser.add_argument(
        "--backend",
        metavar="NAME",
        help=f"what runs the network: {', '.join(BACKENDS)} (default: torch; an exported "
        "folder: its format's runtime)",
    )


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


def cmd_export(args: argparse.Namespace) -> int:
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


def _export_parser(commands: argparse._SubParsersAction) -> None:
    from pixelwise.export.capture import MIN_SIDE
    from pixelwise.export.onnx import DEFAULT_OPSET
    from pixelwise.export.record import FORMATS

    export = _command(
        commands,
        "export",
        "write a model as an ONNX, TorchScript or OpenVINO graph with its config.json; "
        "load, predict and evaluate take the folder like a model folder",
    )
    export.add_argument(
        "model_dir", metavar="RUN_OR_MODEL_DIR", help="a run directory or a saved model folder"
    )
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
    export.set_defaults(handler=cmd_export)


def cmd_bench(args: argparse.Namespace) -> int:
    from pixelwise.api import bench
    from pixelwise.data.io import read_image
    from pixelwise.inference.benchmark import timing_table

    image = read_image(args.image) if args.image else None
    rows = bench(
        args.model_dir,
        size=tuple(args.size),
        threads=args.threads,
        repeats=args.repeats,
        backends=args.backends.split(",") if args.backends else None,
        exported=args.exported,
        image=image,
    )
    print(timing_table(rows))
    return 0


def _bench_parser(commands: argparse._SubParsersAction) -> None:
    bench = _command(
        commands,
        "bench",
        "time a model on every installed backend side by side and check each against eager PyTorch",
    )
    bench.add_argument(
        "model_dir", metavar="RUN_OR_MODEL_DIR", help="a run directory or a saved model folder"
    )
    bench.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=[512, 512],
        metavar=("H", "W"),
        help="random input image size (default 512 512)",
    )
    bench.add_argument("--image", help="time this image instead of a random one")
    bench.add_argument("--threads", type=int, help="threads of every backend")
    bench.add_argument("--repeats", type=int, default=10, help="rounds of blocks (default 10)")
    bench.add_argument("--backends", metavar="A,B", help="backends (default: all installed)")
    bench.add_argument(
        "--exported",
        action="append",
        default=[],
        metavar="DIR",
        help="also time this exported folder on each timed backend its format runs on (repeatable)",
    )
    bench.set_defaults(handler=cmd_bench)


def cmd_data_inspect(args: argparse.Namespace) -> int:
    """Print the inspection; exit 0 whenever the report was written, problems or not."""
    from pixelwise.report.dataset import frequency_table, inspect_data

    data = _data_section(run_overrides(args, "inspect"))
    split = args.split or ("all" if data.name == "folder" else "train")
    out = Path(args.out or f"inspect-{data.name}-{split}")
    report = inspect_data(data.name, split, out, data.root, **data.options)
    sizes = ", ".join(f"{size} ({count})" for size, count in report.image_sizes.items())
    print(f"{report.dataset} {report.split}: {report.num_samples} samples; image sizes: {sizes}")
    print(frequency_table(report))
    print(f"{len(report.problems)} problem(s)")
    for problem in report.problems:
        print(f"  {problem.kind}: {problem.message}")
    for line in report.advice:
        print(f"advice: {line}")
    print(f"report: {out / 'report.json'}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from pixelwise.classical import list_methods
    from pixelwise.models import list_encoders, list_models

    models, methods = list_models(), list_methods()
    width = max(map(len, [*models, *methods])) + 2
    print("architectures (train --model NAME --model-option KEY=VALUE):")
    for name, description in models.items():
        print(f"  {name:<{width}}{description}")
    print("encoders (train --encoder NAME):")
    for name in list_encoders():
        print(f"  {name}")
    print(f'  {"timm:<name>":<{width}}any timm model (pip install "pixelwise[timm]")')
    print("classical methods (train --method NAME --param KEY=VALUE):")
    for name, description in methods.items():
        print(f"  {name:<{width}}{description}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    import json

    from pixelwise.models import build_model
    from pixelwise.models.summary import summary

    overrides = run_overrides(args, "summary")
    options = {k.removeprefix("model.options."): v for k, v in overrides.items() if "options" in k}
    encoder = overrides.get("model.encoder")
    model = build_model(args.model, args.num_classes, encoder=encoder, **options).eval()
    result = summary(model, args.input_size)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    from pixelwise.demo import demo_config, run_demo
    from pixelwise.report.table import per_class_table

    started = time.perf_counter()
    internal = ("command", "handler", "command_parser")
    given = {k: v for k, v in vars(args).items() if k not in internal}
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

    serve = _command(
        commands,
        "serve",
        'serve models over HTTP: a REST API and a web page (pip install "pixelwise[serve]")',
    )
    serve.add_argument(
        "models", nargs="+", metavar="MODEL",
        help="saved-model folder, run directory or classical method folder; NAME=PATH names it "
        "(default name: the folder's)",
    )  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    _backend_flag(serve)
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


def _print_run(record: dict[str, Any], done: int, total: int) -> None:
    """One line per finished run of a comparison."""
    wall = record.get("wall_seconds") or {}
    times = ", ".join(f"{k} {v:.0f} s" for k, v in wall.items() if v is not None)
    if record.get("status") == "done":
        outcome = f"done ({record['action']}{', ' + times if times else ''})"
    else:
        outcome = f"FAILED in {record.get('stage')}: {record.get('error')}"
    print(f"[{done}/{total}] {record['name']}: {outcome}", flush=True)


def cmd_compare(args: argparse.Namespace) -> int:
    from pixelwise.api import compare
    from pixelwise.compare.results import text_summary
    from pixelwise.compare.workflow import plan_lines

    if args.jobs < 1:
        raise PixelwiseError(f"--jobs must be at least 1, got {args.jobs}")
    cpus, gpus = _ray_resources(args, "executor", "run")
    executor = None
    if args.executor == "ray":
        from pixelwise.compare.runner import after_loss
        from pixelwise.distributed.executor import DEFAULT_CPUS_PER_RUN, RayExecutor

        cpus = DEFAULT_CPUS_PER_RUN if cpus is None else cpus
        executor = RayExecutor(args.address, cpus, gpus or 0.0, retry=after_loss)
    result = compare(
        args.sources,
        args.out,
        run_overrides(args, "compare"),
        split=args.split,
        baseline=args.baseline,
        jobs=args.jobs,
        overwrite=args.overwrite,
        dry_run=args.dry_run,
        executor=executor,
        on_run=_print_run,
    )
    if args.dry_run:
        print(plan_lines(result))
        return 0
    print(text_summary(result.document))
    print(f"results: {result.plan.folder.results_json}\nreport: {result.report}")
    failed = [r["name"] for r in result.document["runs"] if r.get("status") != "done"]
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _command(
    commands: argparse._SubParsersAction, name: str, summary: str, description: str = ""
) -> argparse.ArgumentParser:
    """A subcommand whose usage errors are its own (not the top-level usage)."""
    parser = commands.add_parser(
        name, help=summary, description=description or summary, allow_abbrev=False
    )
    parser.set_defaults(command_parser=parser)
    return parser


def _demo_parser(commands: argparse._SubParsersAction) -> None:
    import inspect

    from pixelwise.demo import demo_config

    demo = _command(
        commands,
        "demo",
        "train and evaluate a U-Net on generated shapes (CPU, about 3 minutes)",
        "Generate the shapes dataset, train a narrow U-Net on the CPU, print the "
        "validation scores and draw predictions.png. It replaces only an earlier demo.",
    )
    defaults = {k: v.default for k, v in inspect.signature(demo_config).parameters.items()}
    for flag, kind, help_text in (
        ("--out", str, "run directory"),
        ("--seed", int, "seed for data and training"),
        ("--num-train", int, "training images"),
        ("--num-val", int, "validation images"),
        ("--size", int, "image side in pixels"),
        ("--epochs", int, "training epochs"),
    ):
        default = defaults[flag[2:].replace("-", "_")]
        demo.add_argument(
            flag, type=kind, default=argparse.SUPPRESS, help=f"{help_text} (default: {default})"
        )
    demo.set_defaults(handler=cmd_demo)


def _train_parser(commands: argparse._SubParsersAction) -> None:
    train = _command(
        commands,
        "train",
        "train a network or fit a classical method into a run directory",
        "Train as a YAML run configuration and the flags say (flags override the file), "
        "keep the best epoch by validation mIoU in OUT/model, then score it on the "
        "validation split. Defaults are RunConfig's; `pixelwise models` lists the choices.",
    )
    train.add_argument("--config", metavar="YAML", help="run configuration; flags override it")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue OUT from its last finished epoch (OUT/checkpoints/last.ckpt); "
        "with --epochs N, extend it to N epochs",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in OUT (only the files pixelwise wrote there)",
    )
    train.add_argument(
        "--auto",
        action="store_true",
        help="plan the run from the data and --minutes (as `pixelwise plan`), show the plan, "
        "train it; OUT keeps plan.yaml and fingerprint.json; other flags change the plan",
    )
    add_run_flags(train, "train", _help_lists)
    train.set_defaults(handler=cmd_train)


def _evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = _command(
        commands,
        "evaluate",
        "score a model on labelled data; write metrics.json",
        "Score a saved model or a run's model on a labelled split: one dataset-level "
        "confusion matrix, plus the extras asked for. Without --data, the run's own data.",
    )
    evaluate.add_argument(
        "model_dir", metavar="RUN_OR_MODEL_DIR", help="a run directory or a saved model folder"
    )
    add_run_flags(evaluate, "evaluate", _help_lists)
    evaluate.add_argument("--split", help="split to score (default: val; 'all' for folder data)")
    evaluate.add_argument("--out", metavar="DIR", help="output folder (default: RUN/eval-SPLIT)")
    evaluate.add_argument(
        "--oracle-mapping",
        action="store_true",
        help="classical methods: map ids to classes one-to-one on the scored data itself "
        "(Hungarian); reported as an oracle, in RUN/eval-SPLIT-oracle by default",
    )
    extras = evaluate.add_argument_group("extra scores (printed, and written into metrics.json)")
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
    _backend_flag(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)


def _predict_parser(commands: argparse._SubParsersAction) -> None:
    from pixelwise.data.reader import DEFAULT_MAX_PIXELS

    predict = _command(
        commands, "predict", "write class-label PNGs (or TIFFs) for images; resumable"
    )
    predict.add_argument(
        "model_dir",
        metavar="MODEL_OR_RUN_DIR",
        help="a saved model folder, a run directory or an exported folder",
    )
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
        help="processes decoding images ahead (default 2; 0: in the main process); with "
        "--engine ray: model workers on the cluster",
    )  # fmt: skip
    runs.add_argument(
        "--force", action="store_true", help="redo images whose outputs are already complete"
    )
    runs.add_argument(
        "--skip-bad", action="store_true",
        help="log unreadable images to OUT/errors.jsonl and go on (default: exit 2 before "
        "any work)",
    )  # fmt: skip
    _backend_flag(predict)
    from pixelwise.distributed.cluster import DEFAULT_CPUS_PER_WORKER

    _ray_flags(
        predict, "--engine", "worker", DEFAULT_CPUS_PER_WORKER, "a Ray cluster, the same outputs"
    )
    predict.set_defaults(handler=cmd_predict)
    _export_parser(commands)
    _bench_parser(commands)


def _compare_parser(commands: argparse._SubParsersAction) -> None:
    compare = _command(
        commands,
        "compare",
        "train a grid of configurations (or take trained runs), score them alike, report",
        "With one grid file: train its runs into OUT/runs/<name> (finished runs are "
        "skipped, interrupted ones resumed), score every run on the same split and write "
        "OUT/results.json, results.csv and a self-contained report.html. With run or "
        "model folders: score and report those. The run flags override every run of a grid.",
    )
    compare.add_argument(
        "sources", nargs="+", metavar="GRID_OR_RUN", help="a grid YAML file, or run folders"
    )
    compare.add_argument("--out", required=True, metavar="DIR", help="comparison folder")
    compare.add_argument("--split", help="split to score on (default: the grid's, or val)")
    compare.add_argument(
        "--baseline", metavar="NAME", help="configuration the others are compared with"
    )
    compare.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="runs at once, each in its own process (default 1)",
    )
    compare.add_argument(
        "--overwrite",
        action="store_true",
        help="train again the runs whose folder holds another configuration",
    )
    compare.add_argument(
        "--dry-run", action="store_true", help="list the runs and what each needs; write nothing"
    )
    from pixelwise.distributed.executor import DEFAULT_CPUS_PER_RUN

    _ray_flags(
        compare, "--executor", "run", DEFAULT_CPUS_PER_RUN,
        "each run a Ray task on a cluster, retried once if its node dies",
    )  # fmt: skip
    add_run_flags(compare, "compare", _help_lists)
    compare.set_defaults(handler=cmd_compare)


def _ray_flags(
    parser: argparse.ArgumentParser, selector: str, unit: str, default_cpus: float, what: str
) -> None:
    """``selector`` (local|ray), ``--address`` and the per-``unit`` resources of Ray work."""
    group = parser.add_argument_group(selector.removeprefix("--"))
    group.add_argument(
        selector, choices=["local", "ray"], default="local",
        help=f'local: this machine (default); ray: {what} (pip install "pixelwise[ray]")',
    )  # fmt: skip
    group.add_argument(
        "--address", metavar="auto|HOST:PORT",
        help="Ray cluster to join (default: start Ray on this machine; auto: the cluster this "
        "machine belongs to)",
    )  # fmt: skip
    group.add_argument(
        f"--cpus-per-{unit}", type=float, metavar="C",
        help=f"CPUs each Ray {unit} reserves, fractions allowed (default {default_cpus:g})",
    )  # fmt: skip
    group.add_argument(
        f"--gpus-per-{unit}", type=float, metavar="G",
        help=f"GPUs each Ray {unit} reserves, fractions allowed (default 0)",
    )  # fmt: skip


def _ray_resources(args: argparse.Namespace, selector: str, unit: str) -> tuple[float, float]:
    """The per-``unit`` CPUs and GPUs given (None: not given); with a local engine, any
    Ray flag is an error."""
    given = {
        "--address": args.address,
        f"--cpus-per-{unit}": getattr(args, f"cpus_per_{unit}"),
        f"--gpus-per-{unit}": getattr(args, f"gpus_per_{unit}"),
    }
    if getattr(args, selector) != "ray":
        for flag, value in given.items():
            if value is not None:
                raise PixelwiseError(f"{flag} applies to --{selector} ray (it is local)")
    return given[f"--cpus-per-{unit}"], given[f"--gpus-per-{unit}"]


def _model_parsers(commands: argparse._SubParsersAction) -> None:
    models = _command(commands, "models", "list architectures, encoders and classical methods")
    models.set_defaults(handler=cmd_models)
    summary = _command(
        commands, "summary", "parameters, MACs, receptive field and output stride of a model"
    )
    summary.add_argument("model", metavar="NAME", help="architecture (see `pixelwise models`)")
    summary.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=[512, 512],
        metavar=("H", "W"),
        help="input height and width (default: 512 512)",
    )
    summary.add_argument("--num-classes", type=int, default=21, help="output classes (default: 21)")
    add_run_flags(summary, "summary", _help_lists)
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(handler=cmd_summary)


def _data_parser(commands: argparse._SubParsersAction) -> None:
    data = _command(commands, "data", "look at datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    inspect = _command(
        data_commands,
        "inspect",
        "sizes, class frequencies, sample masks and every problem found",
        "Read every sample of a split and report sizes, class frequencies, sample masks and "
        "every problem found; exits 0 when the report is written, even if it lists problems.",
    )
    add_run_flags(inspect, "inspect", _help_lists)
    inspect.add_argument("--split", help="split to inspect (default: train; 'all' for folder)")
    inspect.add_argument(
        "--out", help="folder for report.json and the pictures (default: inspect-DATA-SPLIT)"
    )
    inspect.set_defaults(handler=cmd_data_inspect)


def build_parser() -> argparse.ArgumentParser:
    """The ``pixelwise`` command line: one subcommand per workflow."""
    from pixelwise import __version__

    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="pixelwise",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="Run `pixelwise COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pixelwise {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_demo_parser, _train_parser, _plan_parser, _evaluate_parser, _predict_parser,
                _compare_parser):  # fmt: skip
        add(commands)
    _model_parsers(commands)
    _data_parser(commands)
    _add_serve_parser(commands)
    return parser


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*treespec.*deprecated.*")
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: every temporary file is removed on the way out."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    _quiet_libraries()
    keep_freed_memory()
    try:
        with _sigterm_as_interrupt():
            return args.handler(args)
    except PixelwiseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
