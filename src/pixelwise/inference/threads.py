"""PyTorch's intra-op thread count for a stretch of work, restored afterwards.

When an ONNX Runtime or OpenVINO graph runs the network, two thread pools share the
cores: the runtime's and PyTorch's (OpenMP), which does the normalisation, resizing and
argmax around the graph. Each pool's idle workers keep spinning for a while after their
last task, waiting for the next one: PyTorch's spinning workers slow the graph that
runs next, and the runtime's slow PyTorch's post-processing. With PyTorch on one thread
around a graph runtime, its work runs on the calling thread and no worker of it spins.
``benchmarks/runtime_threads.py`` measures the effect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Inside, PyTorch uses ``threads`` intra-op threads (None: leave it as it is)."""
    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
