"""``pixelwise models`` (what can be built) and ``pixelwise summary`` (one model's size)."""

from __future__ import annotations

import argparse

from pixelwise.cli.common import command, help_lists
from pixelwise.flags import add_run_flags, run_overrides


def add_parser(commands: argparse._SubParsersAction) -> None:
    models = command(commands, "models", "list architectures, encoders and classical methods")
    models.set_defaults(handler=handle_models)
    summary = command(
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
    add_run_flags(summary, "summary", help_lists)
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(handler=handle_summary)


def handle_models(args: argparse.Namespace) -> int:
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


def handle_summary(args: argparse.Namespace) -> int:
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
