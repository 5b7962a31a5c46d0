"""keep_freed_memory: a large tensor comes from the heap and its memory stays there."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import sys

import pytest

from pixelwise.cli import main

# A child process allocates and frees a 24 MiB tensor and reports, from glibc's
# mallinfo2, how much memory was mapped for it and how much the heap holds free after.
CHILD = """
import ctypes, ctypes.util, json, sys
import torch
from pixelwise.allocator import keep_freed_memory

FIELDS = ("arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost")
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS.split()]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
kept = keep_freed_memory() if sys.argv[1] == "kept" else None
before = libc.mallinfo2().hblkhd
tensor = torch.empty(24 << 20, dtype=torch.uint8)
mapped = libc.mallinfo2().hblkhd - before
del tensor
print(json.dumps({"kept": kept, "mapped": mapped, "free_after": libc.mallinfo2().fordblks}))
"""
SIZE = 24 << 20


def has_mallinfo2() -> bool:
    name = ctypes.util.find_library("c")
    return name is not None and hasattr(ctypes.CDLL(name), "mallinfo2")


def child(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not has_mallinfo2(), reason="the C library is not glibc 2.33 or later")
def test_freed_tensor_memory_stays_in_the_heap() -> None:
    default, kept = child("default"), child("kept")
    assert default["mapped"] >= SIZE  # glibc's default: a mapping of its own, unmapped on free
    assert kept["kept"] is True
    assert kept["mapped"] < SIZE and kept["free_after"] >= SIZE


def test_the_command_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    calls = []
    monkeypatch.setattr("pixelwise.cli.keep_freed_memory", lambda: calls.append(True))
    assert main(["models"]) == 0
    assert calls == [True]
    capsys.readouterr()


def test_elsewhere_than_linux_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from pixelwise import allocator

    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory.__wrapped__() is False
