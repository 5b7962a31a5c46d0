"""``pixelwise bench``: time a model on every installed backend, checked against PyTorch."""

from __future__ import annotations

import argparse

from pixelwise.cli.common import command, model_dir_argument


def add_parser(commands: argparse._SubParsersAction) -> None:
    bench = command(
        commands,
        "bench",
        "time a model on every installed backend side by side and check each against eager PyTorch",
    )
    model_dir_argument(bench)
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
    bench.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
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
