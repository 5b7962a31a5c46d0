"""Keep freed memory in the process, so that large tensors do not page-fault afresh.

PyTorch's CPU tensors come from the C library's ``malloc``. glibc gives each large
block its own mapping, or trims the heap's free top, and hands the pages back to the
system when the tensor is freed; the next image's tensors of the same size then touch
new pages, and the page faults can cost a fifth to a half of an image's time in
PyTorch (``benchmarks/allocator.py``, figures in ``docs/export.md``). ONNX Runtime and
OpenVINO keep pools of their own.

:func:`keep_freed_memory` sets glibc's thresholds (``mallopt``) so that blocks up to
:data:`MMAP_THRESHOLD` come from the heap and the heap is trimmed only above
:data:`TRIM_THRESHOLD` of free memory: the process then holds on to its peak. The
``pixelwise`` command calls it once, and so do the Ray actors of ``predict --engine
ray`` (processes of their own); it changes the whole process, so the library does not
call it in yours. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest: blocks above it are still mapped apiece
TRIM_THRESHOLD = (1 << 31) - 1  # mallopt takes an int


@cache
def keep_freed_memory() -> bool:
    """Set glibc's allocation thresholds for this process; whether they were set (False
    when the C library is not glibc or refuses them)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)  # the process's own symbols, the C library's among them
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    mapped = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trimmed = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mapped and trimmed)
