"""The run directory: its layout, what pixelwise owns in it, and one writer at a time.

A run directory holds ``config.yaml`` (resolved configuration; with ``train --auto`` also
``plan.yaml`` and ``fingerprint.json``, the plan it came from), ``metrics.csv`` (one row
per epoch), ``model/`` (best weights as a saved model), ``checkpoints/`` (``last.ckpt``,
the last finished epoch, and ``previous.ckpt``, the one before) and
``eval-<split>/`` (``metrics.json``, ``confusion.png`` and the manifest of
:mod:`pixelwise.ownership` that ``evaluate`` keeps there), and with ``--logger tensorboard``
``tensorboard/`` (Lightning's event files and ``hparams.yaml``). The marker file
``.pixelwise-run`` says that pixelwise made the folder a run, and by which command.

pixelwise replaces only what it wrote itself: the files above, in a folder that carries
the marker, and only when asked to (``--overwrite``). A folder that is not a run, but
holds one of those names, is never used, nor is a saved model's folder; a run folder
with a file of someone else's inside ``model/``, ``checkpoints/`` or ``eval-*/`` is
never cleared. A lock file held for
the whole run (``flock``, released by the kernel when the process dies, so a killed
run's lock is taken over) keeps a second writer out.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pixelwise.errors import PixelwiseError
from pixelwise.files import write_text_atomic
from pixelwise.ownership import MANIFEST, folder_lock, is_leftover

MARKER = ".pixelwise-run"
MODEL_FILES = frozenset({"config.json", "model.safetensors"})
CHECKPOINT_FILES = frozenset({"last.ckpt", "previous.ckpt"})
EVAL_FILES = frozenset({"metrics.json", "confusion.png", MANIFEST})
TENSORBOARD_FILES = frozenset({"events.out.tfevents.*", "hparams.yaml"})
TOP_FILES = frozenset(
    {"config.yaml", "metrics.csv", "predictions.png", "plan.yaml", "fingerprint.json"}
)
MODEL_CARD = "config.json"
"""The card of a saved model or exported folder: never at the top of a run directory."""
"""Every file pixelwise writes in a run directory, by folder (``*`` as in ``fnmatch``)."""
TENSORBOARD = "tensorboard"


def _is_own(name: str, patterns: frozenset[str]) -> bool:
    """Whether a file called ``name`` is one of ``patterns``, the names pixelwise writes."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@dataclass(frozen=True)
class RunDir:
    """Paths inside a run directory ``root``, and the rules for writing there."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def previous_checkpoint(self) -> Path:
        return self.checkpoints / "previous.ckpt"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def eval_dir(self, split: str) -> Path:
        return self.root / f"eval-{split}"

    def made_by(self) -> str | None:
        """The command that made this folder a run (``train``, ``demo``), or None if it is none."""
        try:
            return str(json.loads(self.marker.read_text())["command"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def holds_run(self) -> bool:
        """Whether pixelwise made this folder a run."""
        return self.made_by() is not None

    def _owned_folders(self) -> list[tuple[Path, frozenset[str]]]:
        evals = sorted(self.root.glob("eval-*")) if self.root.is_dir() else []
        return [
            (self.model, MODEL_FILES),
            (self.checkpoints, CHECKPOINT_FILES),
            (self.root / TENSORBOARD, TENSORBOARD_FILES),
            *((folder, EVAL_FILES) for folder in evals),
        ]

    def _run_entries(self) -> list[Path]:
        """The entries at the top of ``root`` that have the names a run writes."""
        named = [self.root / name for name in sorted(TOP_FILES)]
        return [p for p in named + [f for f, _ in self._owned_folders()] if p.exists()]

    def foreign_files(self) -> list[Path]:
        """Files inside the run's own folders that pixelwise did not write."""
        foreign = []
        for folder, names in self._owned_folders():
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                foreign.append(folder)
            elif folder.is_dir():
                foreign += [
                    p
                    for p in sorted(folder.iterdir())
                    if not _is_own(p.name, names) and not is_leftover(p.name)
                ]
        return foreign

    def check_writable(self, resume: bool, overwrite: bool) -> None:
        """Raise a user error unless a run may start (or resume) here; writes nothing."""
        if self.root.exists() and not self.root.is_dir():
            raise PixelwiseError(f"'{self.root}' is a file, not a run directory")
        if (self.root / MODEL_CARD).exists():
            raise PixelwiseError(
                f"'{self.root}' is a saved model or exported folder (it holds {MODEL_CARD}), "
                "not a run directory: choose another --out"
            )
        if resume:
            self._check_resumable()
        elif self.holds_run():
            if not overwrite:
                raise PixelwiseError(
                    f"'{self.root}' already holds a run; pass --resume to continue it, "
                    "--overwrite to replace it, or choose another --out"
                )
            self._check_only_own_files()
        elif self._run_entries():
            names = ", ".join(f"'{p.name}'" for p in self._run_entries())
            raise PixelwiseError(
                f"'{self.root}' is not a pixelwise run but holds {names}; pixelwise does not "
                "replace files it did not write: choose another --out"
            )

    def _check_resumable(self) -> None:
        if not (self.last_checkpoint.exists() or self.previous_checkpoint.exists()):
            raise PixelwiseError(f"nothing to resume: '{self.last_checkpoint}' not found")
        if not self.config.is_file():
            raise PixelwiseError(f"cannot resume: '{self.config}' not found")
        self._check_only_own_files()

    def _check_only_own_files(self) -> None:
        foreign = self.foreign_files()
        if foreign:
            listed = ", ".join(f"'{p}'" for p in foreign[:5])
            raise PixelwiseError(
                f"'{self.root}' holds files that pixelwise did not write: {listed}; move them "
                "away or choose another --out"
            )

    def clear(self) -> None:
        """Delete what an earlier run wrote here (only pixelwise's own files)."""
        for path in (self.root / name for name in TOP_FILES):
            path.unlink(missing_ok=True)
        for folder, names in self._owned_folders():
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if _is_own(path.name, names) or (is_leftover(path.name) and path.is_file()):
                    path.unlink()
            if not any(folder.iterdir()):
                folder.rmdir()

    def mark(self, command: str) -> None:
        """Record that ``command`` made this folder a run."""
        write_text_atomic(
            self.marker, json.dumps({"format": "pixelwise-run", "command": command}) + "\n"
        )

    @contextmanager
    def claim(self, resume: bool, overwrite: bool, command: str) -> Iterator[None]:
        """Hold the lock, check that a run may be written here, clear what it replaces.

        Everything is checked under the lock, before anything is deleted; then the
        folder is marked as a run of ``command`` for the duration of the block.
        """
        if self.root.exists() and not self.root.is_dir():
            raise PixelwiseError(f"'{self.root}' is a file, not a run directory")
        with self.lock():
            self.check_writable(resume, overwrite)
            if not resume:
                self.clear()
            self.mark(command)
            yield

    def lock(self) -> AbstractContextManager[None]:
        """Hold the run's lock for the duration (see :func:`pixelwise.ownership.folder_lock`)."""
        return folder_lock(self.root)
