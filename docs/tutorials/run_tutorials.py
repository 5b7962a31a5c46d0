"""Run the tutorial notebooks top to bottom in fresh kernels and store their outputs.

    python docs/tutorials/run_tutorials.py                       # every notebook here
    python docs/tutorials/run_tutorials.py 01-upsampling.ipynb   # some of them

Each notebook runs in a fresh Python kernel (``python3``, the interpreter that runs this
script) whose working folder is an empty temporary folder, with a time limit per cell. It
is then written back in place with its outputs, figures included, and the time it took
is printed. ``tests/test_tutorials.py`` runs the notebooks the same way and checks that
the outputs stored in them are current.

Needs nbformat, nbclient and ipykernel: ``pip install -e ".[notebooks]"``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TUTORIALS = Path(__file__).resolve().parent
CELL_TIMEOUT = 300
"""Seconds one cell may run before the notebook fails (a notebook takes about 2 minutes)."""
KERNEL = "python3"


def notebooks() -> list[Path]:
    """The tutorial notebooks, in reading order (their names start with a number)."""
    return sorted(TUTORIALS.glob("[0-9][0-9]-*.ipynb"))


def execute(path: Path, timeout: int = CELL_TIMEOUT) -> tuple[Any, float]:
    """Run the notebook at ``path`` in a fresh kernel; returns it with its new outputs
    (an ``nbformat`` notebook) and the wall time in seconds. A cell that raises, or runs
    longer than ``timeout`` seconds, raises ``nbclient``'s ``CellExecutionError`` or
    ``CellTimeoutError``."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="pixelwise-tutorial-") as folder:
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name=KERNEL,
            resources={"metadata": {"path": folder}},
            record_timing=False,
        )
        started = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - started
    return notebook, seconds


def store(notebook: Any, path: Path) -> None:
    """Write ``notebook`` to ``path``, checked against the notebook format first."""
    import nbformat

    nbformat.validate(notebook)
    nbformat.write(notebook, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook file names (default: all)")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = [TUTORIALS / name for name in args.names] or notebooks()
    for path in paths:
        notebook, seconds = execute(path, args.timeout)
        store(notebook, path)
        print(f"{path.name}: {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
