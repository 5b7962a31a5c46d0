"""Joining a Ray cluster, and the resources that pixelwise's Ray work asks for.

``address`` is ``None`` (the Ray instance this process already started, else a new local
one), ``"auto"`` (the cluster this machine belongs to, started by ``ray start``) or
``"HOST:PORT"`` (a cluster's head). Every node needs pixelwise installed and the same
paths to the inputs, models and outputs (a shared file system).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

from pixelwise.distributed import require_ray
from pixelwise.errors import PixelwiseError

DEFAULT_CPUS_PER_WORKER = 0.5
"""A prediction worker's CPU reservation: a fraction, so that on a small machine the
workers leave whole CPUs to Ray Data's read tasks (workers that reserve every CPU starve
the reads and the pipeline stalls)."""


@dataclass(frozen=True)
class RayPredictOptions:
    """How ``predict --engine ray`` uses the cluster: ``workers`` model actors (each loads
    the model once), each reserving ``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs
    (fractions allowed); ``address`` as in the module docstring."""

    address: str | None = None
    workers: int = 2
    cpus_per_worker: float = DEFAULT_CPUS_PER_WORKER
    gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise PixelwiseError(f"--workers must be at least 1 on Ray, got {self.workers}")
        if not self.cpus_per_worker > 0:
            raise PixelwiseError(f"--cpus-per-worker must be positive, got {self.cpus_per_worker}")
        if not self.gpus_per_worker >= 0:
            raise PixelwiseError(f"--gpus-per-worker must be 0 or more, got {self.gpus_per_worker}")


def connect(address: str | None) -> ModuleType:
    """Ray, connected: to the instance this process already runs, else to ``address``, else
    to a new local instance. An unreachable cluster is a user error."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    options = {"include_dashboard": False} if address is None else {"address": address}
    try:
        ray.init(logging_level=logging.WARNING, **options)
    except ConnectionError as error:
        raise PixelwiseError(
            f"cannot reach a Ray cluster at --address {address}: {error}; start one with "
            "`ray start --head` on its head node, or leave --address out to start Ray here"
        ) from None
    return ray


def total_cpus(ray: ModuleType) -> int:
    """The cluster's CPUs (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


# Ray Data's loggers of progress-bar notices and of each pipeline's start and end lines
_CHATTY_LOGGERS = (
    "ray.data._internal.progress",
    "ray.data._internal.execution.streaming_executor",
)


@contextmanager
def quiet_data_context() -> Iterator[None]:
    """Ray Data without its own progress bars and the lines that say a pipeline started
    or ended (pixelwise shows its own progress); its warnings stay. Restored afterwards."""
    from ray.data import DataContext

    context = DataContext.get_current()
    saved = context.enable_progress_bars, context.print_on_execution_start
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [logger.level for logger in loggers]
    context.enable_progress_bars, context.print_on_execution_start = False, False
    loggers[0].setLevel(logging.ERROR)  # "progress bars disabled": pixelwise shows its own
    loggers[1].setLevel(logging.WARNING)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
