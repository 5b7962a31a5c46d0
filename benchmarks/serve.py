"""Load test of ``pixelwise serve``: concurrent clients on localhost, good and bad images.

    python benchmarks/serve.py --model MODEL_DIR [--images CAMVID_VAL] [--clients 32]
        [--seconds 60] [--bad-share 0.2] [--workers 1] [--queue 16] [--port 8790] [--seed 0]

It starts ``pixelwise serve MODEL`` in its own process (default limits: 20 MiB bodies,
16.8 megapixels), waits for ``/healthz``, then runs ``--clients`` concurrent clients (one
asyncio task and one keep-alive connection each) for ``--seconds``. Each request is drawn
(seeded): with probability ``1 - bad_share`` a real image (a PNG of ``--images``) asking
for ``output=labels`` or ``output=json``; otherwise a bad one, in equal shares: a body
over the size limit (21 MiB), a decompression bomb (a 100-byte PNG declaring
50,000 × 50,000 pixels), a corrupt image (a real PNG cut in half) or not an image (text).
The server's resident memory (``VmRSS`` from ``/proc``) is sampled every 0.5 s.

It prints requests per second, latency percentiles (p50/p95/p99, of every answer and of
the good images' 200s), the count of each kind and status, failures (a transport error,
or a status that the kind should not get: good 200/503, oversized and bomb 413, corrupt
422/503, not an image 415), and the server's RSS after warm-up, at its peak and per
10-second window; and writes ``benchmarks/results/serve.json`` (atomically).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from results import save_results

DEFAULT_IMAGES = Path(__file__).parents[2] / "shared" / "data" / "camvid" / "val"
RESULTS = Path(__file__).parent / "results"
EXPECTED = {
    "good": {200, 503},
    "oversized": {413},
    "bomb": {413},
    "corrupt": {422, 503},
    "not-image": {415},
}
WINDOW_SECONDS = 10


def bomb_png(side: int = 50_000) -> bytes:
    """A tiny PNG whose header declares ``side × side`` gray pixels (one row of data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * (side + 1)))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


class Payloads:
    """The request bodies, built once."""

    def __init__(self, images: Path, count: int, upload_limit: int) -> None:
        files = sorted(images.glob("*.png"))[:count]
        if not files:
            raise SystemExit(f"no PNG images in {images}")
        self.good = [file.read_bytes() for file in files]
        self.oversized = os.urandom(upload_limit + 2**20)
        self.bomb = bomb_png()
        self.corrupt = self.good[0][: len(self.good[0]) // 2]
        self.text = b"these are words, not pixels\n" * 40

    def draw(self, rng: random.Random, bad_share: float) -> tuple[str, str, bytes]:
        """``(kind, query, body)`` of one request."""
        if rng.random() >= bad_share:
            output = rng.choice(("labels", "json"))
            return "good", f"output={output}", rng.choice(self.good)
        kind = rng.choice(("oversized", "bomb", "corrupt", "not-image"))
        body = {"oversized": self.oversized, "bomb": self.bomb, "corrupt": self.corrupt,
                "not-image": self.text}[kind]  # fmt: skip
        return kind, "output=labels", body


class RssSampler(threading.Thread):
    """Samples a process's resident memory (bytes) every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            try:
                self.samples.append((time.monotonic() - started, self.rss()))
            except OSError:
                return
            self.stop.wait(self.interval)


async def client(
    http: httpx.AsyncClient, payloads: Payloads, seed: int, deadline: float, bad_share: float,
    records: list[tuple[str, int | str, float]],
) -> None:  # fmt: skip
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        kind, query, body = payloads.draw(rng, bad_share)
        started = time.monotonic()
        try:
            files = {"image": ("image.png", body, "image/png")}
            response = await http.post(f"/api/predict?{query}", files=files)
            await response.aread()
            status: int | str = response.status_code
        except httpx.HTTPError as error:
            status = type(error).__name__
        records.append((kind, status, time.monotonic() - started))


async def load(base: str, payloads: Payloads, args: argparse.Namespace) -> tuple[list, float]:
    records: list[tuple[str, int | str, float]] = []
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    timeout = httpx.Timeout(300.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as http:
        started = time.monotonic()
        deadline = started + args.seconds
        await asyncio.gather(*(
            client(http, payloads, args.seed * 1000 + i, deadline, args.bad_share, records)
            for i in range(args.clients)
        ))  # fmt: skip
        elapsed = time.monotonic() - started
    return records, elapsed


def start_server(args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, "-m", "pixelwise", "serve", str(args.model)]
    command += ["--port", str(args.port), "--workers", str(args.workers)]
    command += ["--queue", str(args.queue)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{args.port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not answer /healthz within 300 s")


def percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def summarise(records: list, elapsed: float, sampler: RssSampler, warm_rss: int) -> dict:
    by_kind_status = Counter((kind, str(status)) for kind, status, _ in records)
    failures = [(kind, status) for kind, status, _ in records if status not in EXPECTED[kind]]
    good = [s for kind, status, s in records if kind == "good" and status == 200]
    rss = [value for _, value in sampler.samples]
    windows = {}
    for at, value in sampler.samples:
        window = int(at // WINDOW_SECONDS) * WINDOW_SECONDS
        windows[window] = max(windows.get(window, 0), value)
    return {
        "requests": len(records),
        "seconds": elapsed,
        "requests_per_second": len(records) / elapsed,
        "good_200_per_second": len(good) / elapsed,
        "latency_all": percentiles([s for _, _, s in records]),
        "latency_good_200": percentiles(good),
        "counts": {f"{kind} {status}": n for (kind, status), n in sorted(by_kind_status.items())},
        "failures": len(failures),
        "failure_examples": [f"{kind} {status}" for kind, status in failures[:10]],
        "rss_after_warm_up_mib": warm_rss / 2**20,
        "rss_peak_mib": max(rss) / 2**20 if rss else float("nan"),
        "rss_last_mib": rss[-1] / 2**20 if rss else float("nan"),
        "rss_peak_by_window_mib": {str(k): v / 2**20 for k, v in sorted(windows.items())},
    }


def report(result: dict) -> None:
    print(f"{result['requests']} requests in {result['seconds']:.1f} s: "
          f"{result['requests_per_second']:.1f} req/s ({result['good_200_per_second']:.2f} "
          "good 200/s)")  # fmt: skip
    for name in ("latency_all", "latency_good_200"):
        values = result[name]
        print(f"{name}: p50 {values['p50']:.3f} s, p95 {values['p95']:.3f} s, "
              f"p99 {values['p99']:.3f} s")  # fmt: skip
    print("| kind | status | count |\n|---|---|---|")
    for key, count in result["counts"].items():
        kind, status = key.split(" ")
        print(f"| {kind} | {status} | {count} |")
    print(f"failures: {result['failures']} {result['failure_examples']}")
    windows = ", ".join(f"{k}s {v:.0f}" for k, v in result["rss_peak_by_window_mib"].items())
    print(f"server RSS MiB: after warm-up {result['rss_after_warm_up_mib']:.0f}, peak "
          f"{result['rss_peak_mib']:.0f}, last {result['rss_last_mib']:.0f}")  # fmt: skip
    print(f"server RSS peak MiB per {WINDOW_SECONDS} s window: {windows}")


def warm_up(base: str, payloads: Payloads) -> None:
    """One request of each good image, so that RSS after warm-up includes the first-use
    allocations."""
    with httpx.Client(base_url=base, timeout=300) as http:
        for body in payloads.good:
            http.post("/api/predict?output=labels", files={"image": ("w.png", body, "image/png")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder or run directory")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of PNGs")
    parser.add_argument("--image-count", type=int, default=20, help="distinct good images")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--bad-share", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--queue", type=int, default=16)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    payloads = Payloads(args.images, args.image_count, 20 * 2**20)
    server = start_server(args)
    base = f"http://127.0.0.1:{args.port}"
    try:
        warm_up(base, payloads)
        sampler = RssSampler(server.pid)
        warm_rss = sampler.rss()
        sampler.start()
        records, elapsed = asyncio.run(load(base, payloads, args))
        sampler.stop.set()
        sampler.join()
        healthy = httpx.get(f"{base}/healthz", timeout=10).status_code
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    result = summarise(records, elapsed, sampler, warm_rss)
    result["healthz_after"] = healthy
    report(result)
    print(f"/healthz after the run: {healthy}")
    settings = {key: str(value) for key, value in vars(args).items()}
    queue_lines = [line for line in metrics.splitlines() if line.startswith("pixelwise_queue")]
    save_results(RESULTS / "serve.json", {"settings": settings, **result,
                                          "metrics_after": queue_lines})  # fmt: skip


if __name__ == "__main__":
    main()
