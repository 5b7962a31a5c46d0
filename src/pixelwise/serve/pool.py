"""A bounded worker pool: ``workers`` threads and at most ``queue`` jobs waiting for them.

Inference runs in the threads, off the event loop. :meth:`WorkerPool.run` admits a job
only while fewer than ``workers + queue`` are admitted; otherwise it raises
:class:`PoolFullError` at once, with a retry estimate, and the server answers 503 with
``Retry-After``. A job leaves the count when it has finished (or was cancelled before it
started), never earlier, so the backlog can never grow past the bound, even when clients
go away.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
RECENT_JOBS = 32
MAX_RETRY_AFTER = 60


class PoolFullError(Exception):
    """Every worker is busy and the queue is full; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy: retry after {retry_after} s")
        self.retry_after = retry_after


class WorkerPool:
    """Runs blocking jobs in ``workers`` threads with at most ``queue`` waiting."""

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="pixelwise-worker")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._recent: deque[float] = deque(maxlen=RECENT_JOBS)

    @property
    def running(self) -> int:
        """Jobs running in a worker now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Jobs admitted and waiting for a worker (the queue depth)."""
        with self._lock:
            return self._admitted - self._running

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the recent mean job time × the jobs ahead
        per worker, at least 1."""
        mean = statistics.fmean(self._recent) if self._recent else 1.0
        ahead = (self.waiting + 1) / self.workers
        return max(1, min(MAX_RETRY_AFTER, math.ceil(mean * ahead)))

    def _run(self, job: Callable[[], T]) -> T:
        with self._lock:
            self._running += 1
        started = time.perf_counter()
        try:
            return job()
        finally:
            with self._lock:
                self._running -= 1
            self._recent.append(time.perf_counter() - started)

    def _release(self, _: Future) -> None:
        with self._lock:
            self._admitted -= 1

    async def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` in a worker and return its result; :class:`PoolFullError` when full."""
        with self._lock:
            if self._admitted >= self.capacity:
                full = True
            else:
                full = False
                self._admitted += 1
        if full:
            raise PoolFullError(self.retry_after())
        future = self._executor.submit(self._run, job)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        """Finish the running jobs, drop the waiting ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)
