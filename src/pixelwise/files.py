"""Atomic writes: every file and folder pixelwise writes appears whole or not at all.

A file is written to a temporary name in its destination folder and renamed over the
destination; a folder is assembled beside its destination and swapped into place. The
results get the permissions an ordinary ``open`` or ``mkdir`` would give under the
process's umask (``mkstemp`` and ``mkdtemp`` alone would leave them private), so that
other users of a shared run folder can read them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from pixelwise.errors import PixelwiseError


@cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666`` less the umask."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """The mode ``mkdir`` gives a new folder: ``0o777`` less the umask."""
    return 0o777 & ~_umask()


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was. Parent
    folders are created. An ``OSError`` becomes a ``PixelwiseError`` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
    except OSError as error:
        raise PixelwiseError(f"cannot write '{path}': {error.strerror or error}") from None
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, file_mode())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise PixelwiseError(f"cannot write '{path}': {error.strerror or error}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_file`)."""
    write_bytes_atomic(path, text.encode())


def write_folder_atomic(folder: str | Path, write: Callable[[Path], None]) -> Path:
    """``write`` files into a staging folder beside ``folder``, then swap it into place.

    A crash never leaves a half-written folder: readers see the old folder or the new
    one. An existing ``folder`` is replaced; callers decide whether they may replace it.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        write(staging)
        for file in staging.iterdir():
            os.chmod(file, file_mode())
        os.chmod(staging, folder_mode())
        _swap_into_place(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _swap_into_place(staging: Path, folder: Path) -> None:
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
