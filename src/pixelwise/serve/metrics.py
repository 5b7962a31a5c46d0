"""Request counts by status, a latency histogram and gauges, in Prometheus text format.

The text follows the exposition format 0.0.4: ``# HELP`` and ``# TYPE`` lines, then one
sample per line. Routes are labelled by their path template (``/api/predict``), and
requests that match no route as ``other``, so the number of series stays bounded.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the latency histogram's buckets; ``+Inf`` is added."""
PREFIX = "pixelwise"


def _labels(**labels: str) -> str:
    escaped = (
        f'{key}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in labels.items()
    )
    return "{" + ",".join(escaped) + "}"


class Metrics:
    """Counts and latencies of answered requests; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str, int]] = Counter()
        self._buckets: dict[str, list[int]] = {}
        self._sums: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()
        self._disconnects: Counter[str] = Counter()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        with self._lock:
            self._requests[(route, method, status)] += 1
            buckets = self._buckets.setdefault(route, [0] * len(LATENCY_BUCKETS))
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
            self._sums[route] += seconds
            self._counts[route] += 1

    def disconnected(self, route: str) -> None:
        """Record one request whose client went away before its body arrived (not answered)."""
        with self._lock:
            self._disconnects[route] += 1

    def render(self, gauges: Mapping[str, tuple[str, float]]) -> str:
        """The exposition text; ``gauges``: name -> (help, value), named without the prefix."""
        name = f"{PREFIX}_requests_total"
        lines = [f"# HELP {name} HTTP requests answered, by route, method and status.",
                 f"# TYPE {name} counter"]  # fmt: skip
        with self._lock:
            for (route, method, status), count in sorted(self._requests.items()):
                lines.append(f"{name}{_labels(route=route, method=method, status=str(status))} "
                             f"{count}")  # fmt: skip
            gone = f"{PREFIX}_client_disconnects_total"
            lines += [f"# HELP {gone} Requests whose client disconnected before its body "
                      "arrived, by route (not answered).", f"# TYPE {gone} counter"]  # fmt: skip
            lines += [f"{gone}{_labels(route=r)} {n}" for r, n in sorted(self._disconnects.items())]
            lines += self._histogram_lines()
        for gauge, (help_text, value) in gauges.items():
            full = f"{PREFIX}_{gauge}"
            lines += [f"# HELP {full} {help_text}", f"# TYPE {full} gauge", f"{full} {value:g}"]
        return "\n".join(lines) + "\n"

    def _histogram_lines(self) -> list[str]:
        name = f"{PREFIX}_request_duration_seconds"
        lines = [f"# HELP {name} Time from request to the end of the answer, by route.",
                 f"# TYPE {name} histogram"]  # fmt: skip
        for route in sorted(self._buckets):
            for bound, count in zip(LATENCY_BUCKETS, self._buckets[route], strict=True):
                lines.append(f"{name}_bucket{_labels(route=route, le=f'{bound:g}')} {count}")
            lines.append(f"{name}_bucket{_labels(route=route, le='+Inf')} {self._counts[route]}")
            lines.append(f"{name}_sum{_labels(route=route)} {self._sums[route]:.6f}")
            lines.append(f"{name}_count{_labels(route=route)} {self._counts[route]}")
        return lines
