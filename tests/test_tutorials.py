"""The tutorial notebooks of ``docs/tutorials``: each runs top to bottom in a fresh kernel,
without error, and the outputs stored in it are current.

Each notebook is run as ``docs/tutorials/run_tutorials.py`` runs it (a fresh ``python3``
kernel in an empty temporary folder, a time limit per cell) into a copy in memory, and
the copy is compared with the stored notebook. The stored outputs are current when:

1. both have the same code cells, with the same sources, in the same order;
2. each code cell has the same kinds of output in both: a figure (``image/png``) where
   the fresh run draws one, text where it prints, and no stored output that the fresh
   run no longer makes;
3. the text (standard output, and the text of results) is the same, where numbers may
   differ by one unit in the last digit printed (0.123 against 0.124). In cells tagged
   ``trained``, which print the results of training (whose numbers can change with the
   CPU's floating-point kernels), only the words around the numbers must match. In cells
   tagged ``varies`` (wall-clock times, files present on this machine) the text is not
   compared.

Figures are not compared pixel by pixel (PNG encoding differs across matplotlib
versions), and neither is standard error (library warnings differ across versions).
When a notebook changes, regenerate its outputs with
``python docs/tutorials/run_tutorials.py NAME.ipynb``.

The notebooks take minutes, so their test is marked ``notebook`` and left out of the
default run: ``python -m pytest -m notebook`` runs them. It skips, saying why, where
nbformat, nbclient or ipykernel is missing (``pip install -e ".[notebooks]"``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scripts import load_script

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
TRAINED, VARIES = "trained", "varies"
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
TEXT_KINDS = ("stream:stdout", "text/plain")


def _runner() -> ModuleType:
    """``docs/tutorials/run_tutorials.py`` as a module."""
    return load_script(TUTORIALS / "run_tutorials.py")


def _require_jupyter() -> None:
    for name in ("nbformat", "nbclient", "ipykernel"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed (pip install -e '.[notebooks]')")


def _code_cells(notebook: Any) -> list[Any]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _outputs(cell: Any) -> dict[str, str]:
    """A code cell's outputs by kind: ``stream:stdout``, ``stream:stderr``, ``error`` or a
    MIME type (``text/plain``, ``image/png``, ...); the texts of one kind joined."""
    found: dict[str, list[str]] = {}
    for output in cell.outputs:
        if output.output_type == "stream":
            found.setdefault(f"stream:{output.name}", []).append(output.text)
        elif output.output_type == "error":
            found.setdefault("error", []).append(output.evalue)
        else:
            for kind, value in output.get("data", {}).items():
                found.setdefault(kind, []).append(value if isinstance(value, str) else "")
    return {kind: "".join(texts) for kind, texts in found.items()}


def _last_digit(number: str) -> float:
    """One unit in the last digit of ``number`` as printed: 0.001 for ``0.123``, 1 for
    ``42``, 1e-06 for ``1.0e-5``."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def _numbers_match(stored: str, fresh: str) -> bool:
    unit = max(_last_digit(stored), _last_digit(fresh))
    return abs(float(stored) - float(fresh)) <= unit * (1 + 1e-9)


def text_difference(stored: str, fresh: str, tag: str | None) -> str | None:
    """Why ``stored`` text is not the ``fresh`` text under the rule of the module
    docstring for a cell tagged ``tag``; None when it matches."""
    if tag == VARIES:
        return None
    if NUMBER.split(stored) != NUMBER.split(fresh):
        return f"the text differs:\n--- stored\n{stored}\n--- fresh\n{fresh}"
    if tag == TRAINED:
        return None
    for old, new in zip(NUMBER.findall(stored), NUMBER.findall(fresh), strict=True):
        if not _numbers_match(old, new):
            return f"{old} is stored where the fresh run prints {new}"
    return None


def _tag(cell: Any) -> str | None:
    tags = set(cell.metadata.get("tags", []))
    return VARIES if VARIES in tags else TRAINED if TRAINED in tags else None


def stale_outputs(stored: Any, fresh: Any) -> list[str]:
    """Every way in which ``stored``'s outputs are not those of the ``fresh`` run."""
    problems: list[str] = []
    old_cells, new_cells = _code_cells(stored), _code_cells(fresh)
    if [c.source for c in old_cells] != [c.source for c in new_cells]:
        return ["the code cells differ from those that were run"]
    for number, (old, new) in enumerate(zip(old_cells, new_cells, strict=True), start=1):
        where = f"code cell {number} ({old.source.splitlines()[0] if old.source else 'empty'})"
        old_outputs, new_outputs = _outputs(old), _outputs(new)
        ignored = {"stream:stderr"}
        old_kinds, new_kinds = set(old_outputs) - ignored, set(new_outputs) - ignored
        if old_kinds != new_kinds:
            problems.append(
                f"{where}: stored outputs {sorted(old_kinds)}, fresh {sorted(new_kinds)}"
            )
            continue
        for kind in TEXT_KINDS:
            if kind in new_outputs:
                why = text_difference(old_outputs[kind], new_outputs[kind], _tag(old))
                if why is not None:
                    problems.append(f"{where}, {kind}: {why}")
    return problems


def test_the_rule_for_current_outputs() -> None:
    """Numbers may move by one unit in their last digit; words may not change; tags relax."""
    assert text_difference("mIoU 0.123 of 4 runs", "mIoU 0.124 of 4 runs", None) is None
    assert text_difference("mIoU 0.123", "mIoU 0.125", None) is not None
    assert text_difference("mIoU 0.123", "mIoU 0.125", TRAINED) is None
    assert text_difference("mIoU 0.123", "pixel accuracy 0.123", TRAINED) is not None
    assert text_difference("took 12 s", "took 30 s", VARIES) is None
    assert text_difference("1.0e-05", "1.2e-05", None) is not None
    assert text_difference("2e-16", "3e-16", None) is None


def notebook_paths() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]-*.ipynb"))


def test_there_are_tutorials() -> None:
    assert len(notebook_paths()) >= 6


@pytest.mark.notebook
@pytest.mark.parametrize("path", notebook_paths(), ids=lambda path: path.stem)
def test_the_notebook_runs_and_its_stored_outputs_are_current(path: Path) -> None:
    _require_jupyter()
    import nbformat

    runner = _runner()
    stored = nbformat.read(path, as_version=4)
    fresh, _ = runner.execute(path)
    problems = stale_outputs(stored, fresh)
    assert not problems, (
        f"{path.name}: the stored outputs are stale (regenerate them with "
        f"`python docs/tutorials/run_tutorials.py {path.name}`):\n" + "\n".join(problems)
    )
