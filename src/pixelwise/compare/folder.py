"""The comparison folder: its layout, what pixelwise owns in it, one writer at a time.

A comparison folder ``OUT`` holds ``runs/<name>/`` (ordinary run folders, trained by
the grid), ``scores/<name>/`` (each run's scoring for the comparison: ``record.json``
and the files of :func:`pixelwise.compare.scoring.score_model`), ``grid.yaml`` (the
grid as given), ``results.json``, ``results.csv`` and ``report.html``. The marker
``.pixelwise-compare`` says that pixelwise made it. pixelwise writes into a folder
only when it is new, empty or marked, and never replaces a file it did not write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pixelwise.compare.scoring import SCORE_FILES
from pixelwise.errors import PixelwiseError
from pixelwise.files import write_text_atomic
from pixelwise.rundir import RunDir

MARKER = ".pixelwise-compare"
RECORD = "record.json"
ERROR_LOG = "error.log"
RUN_SCORE_FILES = SCORE_FILES | {RECORD, ERROR_LOG}


@dataclass(frozen=True)
class ComparisonDir:
    """Paths inside the comparison folder ``root`` and the checks before writing there."""

    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def results_json(self) -> Path:
        return self.root / "results.json"

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def grid(self) -> Path:
        return self.root / "grid.yaml"

    def scores(self, name: str) -> Path:
        return self.root / "scores" / name

    def record(self, name: str) -> Path:
        return self.scores(name) / RECORD

    def is_marked(self) -> bool:
        return self.marker.is_file()

    def check_writable(self, names: list[str]) -> None:
        """Raise unless the folder is new, empty or marked, and its score folders for
        ``names`` hold only pixelwise's files; writes nothing."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise PixelwiseError(f"'{root}' is a file, not a comparison folder")
        maker = RunDir(root).made_by()
        if maker is not None:
            raise PixelwiseError(
                f"'{root}' holds a run made by `pixelwise {maker}`, not a comparison: "
                "choose another --out"
            )
        if root.is_dir() and any(root.iterdir()) and not self.is_marked():
            raise PixelwiseError(
                f"'{root}' is not empty and is not a pixelwise comparison; pixelwise does "
                "not write into folders it did not make: choose another --out"
            )
        for name in names:
            folder = self.scores(name)
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                raise PixelwiseError(f"'{folder}' is not a folder of pixelwise's scores")
            if folder.is_dir():
                foreign = [p for p in sorted(folder.iterdir()) if not _own(p.name)]
                if foreign:
                    raise PixelwiseError(
                        f"'{folder}' holds files that pixelwise did not write: '{foreign[0]}'; "
                        "move them away or choose another --out"
                    )

    def read_record(self, name: str) -> dict | None:
        """The run's ``record.json``, or None when it is missing or unreadable."""
        try:
            record = json.loads(self.record(name).read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    @contextmanager
    def claim(self) -> Iterator[None]:
        """Hold the folder's lock (a second ``compare`` on it is refused) and mark it."""
        with RunDir(self.root).lock():
            write_text_atomic(self.marker, json.dumps({"format": "pixelwise-compare"}) + "\n")
            yield


def _own(name: str) -> bool:
    return name in RUN_SCORE_FILES or (name.startswith(".") and name.endswith(".tmp"))
