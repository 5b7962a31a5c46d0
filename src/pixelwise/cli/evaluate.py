"""``pixelwise evaluate``: score a model on labelled data, with the extra scores asked for."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import ClassVar

from pixelwise.cli.common import (
    backend_option,
    command,
    data_section,
    help_lists,
    model_dir_argument,
)
from pixelwise.config import option
from pixelwise.errors import PixelwiseError
from pixelwise.flags import add_flags, add_run_flags, read_flags, run_overrides
from pixelwise.metrics.crops import DEFAULT_FACTORS
from pixelwise.options import ListOf, Number, OptionalValue, Text

CROP_FACTORS = ListOf(Number(minimum=0, maximum=1, exclusive_minimum=True))


@dataclass(frozen=True)
class Extras:
    """The extra scores, each off unless its flag is given."""

    TITLE: ClassVar[str] = "extra scores (printed, and written into metrics.json)"

    per_image: bool = option(False, kind=None, help="also average the scores over images")
    boundary: float | None = option(
        kind=OptionalValue(Number(), "2"),
        metavar="PX",
        help="boundary F1 with a tolerance of PX pixels (default 2)",
    )
    crops: list[float] | None = option(
        kind=OptionalValue(CROP_FACTORS, ",".join(map(str, DEFAULT_FACTORS))),
        metavar="F,F,...",
        help="scores on central crops (default factors 1.0, 0.9, ..., 0.1)",
    )
    instances: str | None = option(
        kind=OptionalValue(Text(), "all"),
        metavar="CLASSES",
        help="object-level scores of connected components: class names or indices, "
        "comma separated (default: every class)",
    )


@dataclass(frozen=True)
class EvaluateFlags:
    """The flags of ``pixelwise evaluate`` besides the model and the data."""

    split: str | None = option(
        kind=Text(), help="split to score (default: val; 'all' for folder data)"
    )
    out: str | None = option(
        kind=Text(), metavar="DIR", help="output folder (default: RUN/eval-SPLIT)"
    )
    oracle_mapping: bool = option(
        False,
        kind=None,
        help="classical methods: map ids to classes one-to-one on the scored data itself "
        "(Hungarian); reported as an oracle, in RUN/eval-SPLIT-oracle by default",
    )
    extras: Extras = field(default_factory=Extras)
    backend: str | None = backend_option()


def add_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = command(
        commands,
        "evaluate",
        "score a model on labelled data; write metrics.json",
        "Score a saved model or a run's model on a labelled split: one dataset-level "
        "confusion matrix, plus the extras asked for. Without --data, the run's own data.",
    )
    model_dir_argument(evaluate)
    add_run_flags(evaluate, "evaluate", help_lists)
    add_flags(evaluate, EvaluateFlags, help_lists)
    evaluate.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from pixelwise.api import ORACLE_MAPPING, evaluate_model
    from pixelwise.report.table import extras_summary, per_class_table

    flags = read_flags(args, EvaluateFlags)
    data = _data(args)
    split = flags.split or ("all" if data.name == "folder" else data.val_split)
    evaluation = evaluate_model(
        args.model_dir,
        data,
        split,
        out=flags.out,
        options=_evaluation_options(flags.extras, args.model_dir),
        oracle=flags.oracle_mapping,
        backend=flags.backend,
    )
    if flags.oracle_mapping:
        print(ORACLE_MAPPING)
    if evaluation.scored:
        print(f"scored {evaluation.scored}")
    print(per_class_table(evaluation.scores))
    if evaluation.extras:
        print(extras_summary(evaluation.extras))
    print(f"metrics: {evaluation.metrics_path}")
    return 0


def _data(args: argparse.Namespace):
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
    return data_section(overrides)


def _evaluation_options(extras: Extras, model_dir: str):
    from pixelwise.inference.evaluate import EvaluationOptions

    return EvaluationOptions(
        per_image=extras.per_image,
        boundary_tolerance=extras.boundary,
        crop_factors=None if extras.crops is None else tuple(extras.crops),
        instance_classes=_instance_classes(extras.instances, model_dir),
    )


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
