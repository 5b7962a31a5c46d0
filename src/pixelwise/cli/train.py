"""``pixelwise train``: train a network or fit a classical method; ``--auto`` plans first."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pixelwise.cli.common import command, data_section, help_lists
from pixelwise.errors import PixelwiseError
from pixelwise.flags import add_run_flags, run_overrides


def add_parser(commands: argparse._SubParsersAction) -> None:
    train = command(
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
    add_run_flags(train, "train", help_lists)
    train.set_defaults(handler=handle)


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


def handle(args: argparse.Namespace) -> int:
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
    data = data_section(given)
    planned_keys = ("data.", "train.minutes", "seed", "out")
    overrides = {k: v for k, v in given.items() if not k.startswith(planned_keys)}
    run, evaluation, _ = train_auto(
        data, given["train.minutes"], given.get("out", RunConfig().out), overrides,
        overwrite=args.overwrite, seed=given.get("seed", 0), show=print,
    )  # fmt: skip
    return run, evaluation
