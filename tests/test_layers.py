"""The package's layers import downwards only (docs: DESIGN's layout), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pixelwise

ROWS: list[set[str]] = [
    {"__init__", "__main__", "_version", "cli", "flags", "demo"},
    {"api"},
    {"serve"},
    {"compare"},
    {"distributed"},
    {"planner"},
    {"engine"},
    {"inference"},
    {"export"},
    {"report"},
    {"classical"},
    {"models"},
    {"data"},
    {"losses", "metrics"},
    {"config", "rundir", "errors", "files", "ownership", "sizes", "options", "allocator"},
]
"""Top to bottom: a module may import from its own row and the rows below it."""

SOURCE = Path(pixelwise.__file__).parent


def row(name: str) -> int | None:
    return next((i for i, names in enumerate(ROWS) if name in names), None)


def imported_parts(tree: ast.AST) -> list[str]:
    """The first name under ``pixelwise`` of every import in ``tree`` (nested ones too)."""
    parts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pixelwise"):
            path = node.module.split(".")
            parts += [path[1]] if len(path) > 1 else [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            parts += [a.name.split(".")[1] for a in node.names if a.name.startswith("pixelwise.")]
    return parts


def test_every_module_belongs_to_a_row() -> None:
    tops = {path.relative_to(SOURCE).parts[0].removesuffix(".py") for path in SOURCE.rglob("*.py")}
    assert not {top for top in tops if row(top) is None}


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = []
    for path in sorted(SOURCE.rglob("*.py")):
        own = row(path.relative_to(SOURCE).parts[0].removesuffix(".py"))
        for part in imported_parts(ast.parse(path.read_text())):
            target = row(part)
            if own is not None and target is not None and target < own:
                upward.append(f"{path.relative_to(SOURCE)} imports pixelwise.{part}")
    assert not upward, "\n".join(upward)
