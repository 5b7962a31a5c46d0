"""``pixelwise demo``: train and evaluate a U-Net on generated shapes, on the CPU."""

from __future__ import annotations

import argparse

from pixelwise.cli.common import command

FLAGS = (
    ("--out", str, "run directory"),
    ("--seed", int, "seed for data and training"),
    ("--num-train", int, "training images"),
    ("--num-val", int, "validation images"),
    ("--size", int, "image side in pixels"),
    ("--epochs", int, "training epochs"),
)
"""``(flag, type, help)`` of each keyword of :func:`pixelwise.demo.demo_config`."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    import inspect

    from pixelwise.demo import demo_config

    demo = command(
        commands,
        "demo",
        "train and evaluate a U-Net on generated shapes (CPU, about 3 minutes)",
        "Generate the shapes dataset, train a narrow U-Net on the CPU, print the "
        "validation scores and draw predictions.png. It replaces only an earlier demo.",
    )
    defaults = {k: v.default for k, v in inspect.signature(demo_config).parameters.items()}
    for flag, kind, help_text in FLAGS:
        default = defaults[flag[2:].replace("-", "_")]
        demo.add_argument(
            flag, type=kind, default=argparse.SUPPRESS, help=f"{help_text} (default: {default})"
        )
    demo.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
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
