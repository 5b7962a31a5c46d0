"""Which files pixelwise wrote in a folder: one manifest per folder, for every command.

Every command that writes files into a folder that a user names (``evaluate --out``,
``data inspect --out``, ``export --out``, ``predict``'s run files, ``plan --out``)
records each file it writes in that folder's manifest, :data:`MANIFEST`: its name, the
command, and its size and modification time as written. Before it writes, a command
checks every name it is about to write: a file that exists there and is not in the
manifest as written by that same command, or that changed since, belongs to someone
else and is never replaced. The check names the file in one error, before anything is written.

Run directories and comparison folders add their own layout on top (see
:mod:`pixelwise.rundir` and :mod:`pixelwise.compare.folder`); the folder lock that keeps
a second writer out (:func:`folder_lock`) is the same for all of them.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pixelwise.errors import PixelwiseError
from pixelwise.files import atomic_file, file_mode, write_bytes_atomic

logger = logging.getLogger("pixelwise")

MANIFEST = ".pixelwise-files"
"""The manifest's file name: JSON, ``{"format": ..., "files": {name: stamp}}``."""
LOCK = ".lock"
"""The lock file of a folder that a command is writing (see :func:`folder_lock`)."""
FORMAT = "pixelwise-files"


def is_leftover(name: str) -> bool:
    """A temporary file of pixelwise's atomic writers (``.name.xyz.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def _stamp(path: Path) -> dict[str, int]:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}


@dataclass(frozen=True)
class OwnedFolder:
    """The folder ``root`` as ``command`` writes into it, with the manifest of what
    pixelwise wrote there."""

    root: Path
    command: str

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    def written(self) -> dict[str, dict]:
        """The manifest's entries (name -> command and stamp); none when it is missing or
        malformed, so that nothing is then taken for pixelwise's."""
        try:
            raw = json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return {}
        files = raw.get("files") if isinstance(raw, dict) else None
        if not isinstance(files, dict):
            return {}
        return {name: entry for name, entry in files.items() if isinstance(entry, dict)}

    def is_own(self, name: str) -> bool:
        """Whether the file ``name`` was written by this command and is unchanged since."""
        entry = self.written().get(name)
        path = self.root / name
        if entry is None or entry.get("command") != self.command:
            return False
        if path.is_symlink() or not path.is_file():
            return False
        stamp = _stamp(path)
        return entry.get("size") == stamp["size"] and entry.get("mtime_ns") == stamp["mtime_ns"]

    def foreign(self, names: Iterable[str]) -> list[Path]:
        """Those of ``names`` that exist in the folder and are not pixelwise's own."""
        return [
            self.root / name
            for name in names
            if os.path.lexists(self.root / name) and not self.is_own(name)
        ]

    def strangers(self) -> list[Path]:
        """Every entry of the folder that pixelwise did not write (its own bookkeeping aside)."""
        if not self.root.is_dir():
            return []
        return [
            path
            for path in sorted(self.root.iterdir())
            if path.name not in (MANIFEST, LOCK)
            and not is_leftover(path.name)
            and not self.is_own(path.name)
        ]

    def check(self, names: Iterable[str]) -> None:
        """Raise one user error, writing nothing, unless the folder may receive ``names``:
        ``root`` is a folder (or does not exist yet) and none of ``names`` is someone else's."""
        if self.root.exists() and not self.root.is_dir():
            raise PixelwiseError(f"--out '{self.root}' is a file; {self.command} writes a folder")
        foreign = self.foreign(names)
        if foreign:
            raise not_written_by(foreign, self.command)

    def check_only_own(self) -> None:
        """Raise one user error unless everything in the folder is pixelwise's own."""
        strangers = self.strangers()
        if strangers:
            raise not_written_by(strangers, self.command)

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """Yield a temporary path for the file ``name``; on success it replaces the file
        atomically and the manifest records it (see :func:`pixelwise.files.atomic_file`)."""
        with atomic_file(self.root / name) as temporary:
            yield temporary
        self.record([name])

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write the file ``name`` atomically and record it; returns its path."""
        write_bytes_atomic(self.root / name, data)
        self.record([name])
        return self.root / name

    def write_text(self, name: str, text: str) -> Path:
        """Write the file ``name`` (UTF-8) atomically and record it; returns its path."""
        return self.write_bytes(name, text.encode())

    def record(self, names: Iterable[str]) -> None:
        """Record the files ``names``, as they are now, as written by this command."""
        files = self.written()
        for name in names:
            files[name] = {"command": self.command, **_stamp(self.root / name)}
        self._save(files)

    def remove(self, names: Iterable[str]) -> None:
        """Delete those of ``names`` that are pixelwise's own (others are left alone)."""
        files = self.written()
        for name in names:
            if self.is_own(name):
                (self.root / name).unlink()
                files.pop(name, None)
        self._save(files)

    def _save(self, files: dict[str, dict]) -> None:
        document = {"format": FORMAT, "files": dict(sorted(files.items()))}
        write_bytes_atomic(self.manifest, (json.dumps(document, indent=1) + "\n").encode())


def not_written_by(paths: list[Path], command: str) -> PixelwiseError:
    """The error for files in the way that pixelwise did not write (or that changed since)."""
    listed = ", ".join(f"'{p}'" for p in paths[:3])
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return PixelwiseError(
        f"{listed}{more} not written by pixelwise {command} (or changed since); pixelwise "
        "does not replace files it did not write: move them away or choose another --out"
    )


# --- one writer per folder ------------------------------------------------------------


@contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """Hold ``root``'s lock file for the duration; a second holder is a user error.

    The file records the holder's pid, host and start time; the lock itself is an
    ``flock`` that the kernel drops when the holder dies, so a killed writer's lock is
    taken over (and said so).
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK
    handle = _acquire(path)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(handle)


def _holder(path: Path) -> dict:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict) -> str:
    started = holder.get("started")
    since = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        if isinstance(started, int | float)
        else "?"
    )
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {since}"


def _acquire(path: Path) -> int:
    """Open ``path`` and take its exclusive ``flock``; the open descriptor holds the lock."""
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise PixelwiseError(
                f"'{path.parent}' is in use by another pixelwise command "
                f"({_describe(_holder(path))}); wait for it to finish or choose another folder"
            ) from None
        try:
            current = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(handle)  # the holder removed the file as we opened it: try the new one
    stale = _holder(path)
    if stale:
        logger.warning(
            "taking over the lock of a command that is no longer running (%s)", _describe(stale)
        )
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    os.ftruncate(handle, 0)
    os.pwrite(handle, json.dumps(record).encode(), 0)
    return handle
