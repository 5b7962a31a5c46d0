"""``pixelwise plan``: fingerprint a dataset and print the run it plans for a time budget."""

from __future__ import annotations

import argparse
from pathlib import Path

from pixelwise.cli.common import command, data_section, help_lists
from pixelwise.errors import PixelwiseError
from pixelwise.flags import add_run_flags, run_overrides


def add_parser(commands: argparse._SubParsersAction) -> None:
    plan = command(
        commands,
        "plan",
        "fingerprint a dataset and plan the best run this machine can train in M minutes",
        "Read the training split once (a sample of large ones), apply the rules of "
        "docs/auto.md and time the candidate networks here; print the plan: the run "
        "configuration that `pixelwise train --config` takes, each derived value under "
        "a comment naming the fact and the rule behind it.",
    )
    add_run_flags(plan, "plan", help_lists)
    plan.add_argument(
        "--out", metavar="PLAN.yaml",
        help="also write the plan there, and the fingerprint beside it (fingerprint.json)",
    )  # fmt: skip
    plan.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from pixelwise.api import plan
    from pixelwise.planner.plan import plan_yaml

    given = run_overrides(args, "plan")
    if given.get("train.minutes") is None:
        raise PixelwiseError("plan needs a time budget: --minutes M")
    planned = plan(data_section(given), given["train.minutes"], args.out,
                   seed=given.get("seed", 0))  # fmt: skip
    print(plan_yaml(planned), end="")
    if args.out:
        print(f"plan: {args.out}\nfingerprint: {Path(args.out).parent / 'fingerprint.json'}")
    return 0
