"""``pixelwise data inspect``: read a split and report its sizes, classes and problems."""

from __future__ import annotations

import argparse
from pathlib import Path

from pixelwise.cli.common import command, data_section, help_lists
from pixelwise.flags import add_run_flags, run_overrides


def add_parser(commands: argparse._SubParsersAction) -> None:
    data = command(commands, "data", "look at datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    inspect = command(
        data_commands,
        "inspect",
        "sizes, class frequencies, sample masks and every problem found",
        "Read every sample of a split and report sizes, class frequencies, sample masks and "
        "every problem found; exits 0 when the report is written, even if it lists problems.",
    )
    add_run_flags(inspect, "inspect", help_lists)
    inspect.add_argument("--split", help="split to inspect (default: train; 'all' for folder)")
    inspect.add_argument(
        "--out", help="folder for report.json and the pictures (default: inspect-DATA-SPLIT)"
    )
    inspect.set_defaults(handler=handle_inspect)


def handle_inspect(args: argparse.Namespace) -> int:
    """Print the inspection; exit 0 whenever the report was written, problems or not."""
    from pixelwise.report.dataset import frequency_table, inspect_data

    data = data_section(run_overrides(args, "inspect"))
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
