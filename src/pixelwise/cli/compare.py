"""``pixelwise compare``: train a grid of configurations (or take trained runs), score them
alike and write a report."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pixelwise.cli.common import command, help_lists, ray_flags, ray_resources
from pixelwise.distributed.executor import DEFAULT_CPUS_PER_RUN
from pixelwise.errors import PixelwiseError
from pixelwise.flags import add_run_flags, run_overrides


def add_parser(commands: argparse._SubParsersAction) -> None:
    compare = command(
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
    ray_flags(
        compare, "--executor", "run", DEFAULT_CPUS_PER_RUN,
        "each run a Ray task on a cluster, retried once if its node dies",
    )  # fmt: skip
    add_run_flags(compare, "compare", help_lists)
    compare.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from pixelwise.api import compare
    from pixelwise.compare.results import text_summary
    from pixelwise.compare.workflow import plan_lines

    if args.jobs < 1:
        raise PixelwiseError(f"--jobs must be at least 1, got {args.jobs}")
    cpus, gpus = ray_resources(args, "executor", "run")
    executor = None
    if args.executor == "ray":
        from pixelwise.compare.runner import after_loss
        from pixelwise.distributed.executor import RayExecutor

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


def _print_run(record: dict[str, Any], done: int, total: int) -> None:
    """One line per finished run of a comparison."""
    wall = record.get("wall_seconds") or {}
    times = ", ".join(f"{k} {v:.0f} s" for k, v in wall.items() if v is not None)
    if record.get("status") == "done":
        outcome = f"done ({record['action']}{', ' + times if times else ''})"
    else:
        outcome = f"FAILED in {record.get('stage')}: {record.get('error')}"
    print(f"[{done}/{total}] {record['name']}: {outcome}", flush=True)
