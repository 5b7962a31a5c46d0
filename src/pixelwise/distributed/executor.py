"""Running many independent jobs (a comparison's runs) as Ray tasks.

:class:`RayExecutor` has the ``map(work, tasks)`` of a comparison executor: each
``work(task)`` runs as one Ray task that reserves ``cpus_per_run`` CPUs and
``gpus_per_run`` GPUs, anywhere on the cluster; results come back as they finish. A task
whose worker process or node dies is submitted once more, as ``retry(task)`` says (for a
training run: resume from its last checkpoint); one lost twice is reported after the
others have finished. Errors inside ``work`` are ``work``'s to record; one that escapes it
is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pixelwise.distributed.cluster import connect
from pixelwise.errors import PixelwiseError

Task = TypeVar("Task")
Result = TypeVar("Result")

DEFAULT_CPUS_PER_RUN = 1.0
"""CPUs a comparison run reserves on the cluster by default."""

RETRIES = 1
"""Times a task lost with its worker or node is submitted again."""


def _same(task: Task) -> Task:
    return task


def _call(work: Callable[[Task], Result], task: Task) -> Result:
    """The body of each Ray task."""
    return work(task)


@dataclass(frozen=True)
class RayExecutor:
    """Runs each task as a Ray task with ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs
    (fractions allowed) on the cluster at ``address`` (see
    :func:`~pixelwise.distributed.cluster.connect`); ``retry(task)`` is what runs again
    after a task's worker or node died (default: the task itself)."""

    address: str | None = None
    cpus_per_run: float = DEFAULT_CPUS_PER_RUN
    gpus_per_run: float = 0.0
    retry: Callable[[Any], Any] = _same

    def __post_init__(self) -> None:
        if not self.cpus_per_run > 0:
            raise PixelwiseError(f"--cpus-per-run must be positive, got {self.cpus_per_run}")
        if not self.gpus_per_run >= 0:
            raise PixelwiseError(f"--gpus-per-run must be 0 or more, got {self.gpus_per_run}")

    def map(self, work: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        """Yield ``work(task)`` for every task, in the order they finish."""
        ray = connect(self.address)
        lost_errors = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)
        remote = ray.remote(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=0)(
            _call
        )
        pending = {remote.remote(work, task): (task, 0) for task in tasks}
        lost: list[str] = []
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            task, attempt = pending.pop(ref)
            try:
                result = ray.get(ref)
            except lost_errors as error:
                if attempt < RETRIES:
                    again = self.retry(task)
                    pending[remote.remote(work, again)] = (again, attempt + 1)
                else:
                    lost.append(f"{getattr(task, 'name', task)}: {error}")
                continue
            yield result
        if lost:
            raise PixelwiseError(
                f"{len(lost)} run(s) were lost with their worker or node twice; run the same "
                f"command again to resume them. First: {lost[0].splitlines()[0]}"
            )
