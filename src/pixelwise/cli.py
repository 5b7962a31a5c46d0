"""pixelwise: semantic segmentation with the classic networks, from training to prediction.

Every command has --help. Mistakes a user can make end as one ``error: ...`` line and
exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from functools import cache
from pathlib import Path
from typing import Any

from pixelwise.errors import PixelwiseError
from pixelwise.flags import add_run_flags, run_overrides


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
    config = run_config(args)
    run, evaluation = train(config, resume=args.resume, overwrite=args.overwrite)
    print(per_class_table(evaluation.scores))
    print(f"run directory: {run.root}\nmetrics: {evaluation.metrics_path}")
    return 0


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


def cmd_predict(args: argparse.Namespace) -> int:
    from pixelwise.api import predict_files

    written = predict_files(
        args.model_dir,
        args.inputs,
        args.out,
        with_overlay=args.overlay,
        save_quantized=args.save_quantized,
    )
    print(f"wrote {len(written)} label PNG(s) to {args.out}")
    return 0


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
    result = compare(
        args.sources,
        args.out,
        run_overrides(args, "compare"),
        split=args.split,
        baseline=args.baseline,
        jobs=args.jobs,
        overwrite=args.overwrite,
        dry_run=args.dry_run,
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
    evaluate.add_argument("model_dir", metavar="RUN_OR_MODEL_DIR")
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
    evaluate.set_defaults(handler=cmd_evaluate)


def _predict_parser(commands: argparse._SubParsersAction) -> None:
    predict = _command(commands, "predict", "write class-index PNGs for images")
    predict.add_argument("model_dir", metavar="MODEL_OR_RUN_DIR")
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--overlay", action="store_true", help="also write <stem>_overlay.png")
    predict.add_argument(
        "--save-quantized",
        action="store_true",
        help="kmeans only: also write <stem>_quantized.png, each pixel in its cluster's colour",
    )
    predict.set_defaults(handler=cmd_predict)


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
        "--jobs", type=int, default=1, metavar="N", help="runs at once, each in its own process"
    )
    compare.add_argument(
        "--overwrite",
        action="store_true",
        help="train again the runs whose folder holds another configuration",
    )
    compare.add_argument(
        "--dry-run", action="store_true", help="list the runs and what each needs; write nothing"
    )
    add_run_flags(compare, "compare", _help_lists)
    compare.set_defaults(handler=cmd_compare)


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
    for add in (_demo_parser, _train_parser, _evaluate_parser, _predict_parser, _compare_parser):
        add(commands)
    _model_parsers(commands)
    _data_parser(commands)
    return parser


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*treespec.*deprecated.*")
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
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
