"""Every setting of ``pixelwise serve`` in one checked dataclass, and the request limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pixelwise.errors import PixelwiseError
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.tta import TTA

DEFAULT_MAX_UPLOAD_MB = 20.0
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_MEMORY = 2**30
DEFAULT_QUEUE = 16
MAX_TTA_VIEWS = 8
"""A request may ask for at most this many TTA views (transforms × scales)."""
TTA_SCALE_RANGE = (0.25, 2.0)
"""TTA scales a request may ask for, inclusive."""
BODY_IDLE_SECONDS = 30.0
"""A request body that sends nothing for this long is refused (408)."""
LOCAL_HOSTS = frozenset({"localhost"})


def is_local(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): reachable from this machine
    only."""
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeOptions:
    """How ``pixelwise serve`` listens and what it accepts.

    ``max_upload_mb``: largest request body (MiB); ``max_pixels``: largest image, decided
    from its header; ``workers``: images predicted at once (threads); ``queue``: requests
    that may wait for a worker beyond those (more are answered 503); ``token``: when set,
    the API and ``/metrics`` need ``Authorization: Bearer TOKEN``; ``backend``: passed to
    the model loader (``None``: its default); ``max_memory``: bytes one prediction may use
    before it is tiled (as ``pixelwise predict --max-memory``).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = 1
    queue: int = DEFAULT_QUEUE
    token: str | None = None
    backend: str | None = None
    max_memory: int = DEFAULT_MAX_MEMORY

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.port <= 65535, f"--port must be in 0..65535, got {self.port}"),
            (self.max_upload_mb > 0, f"--max-upload-mb must be positive, got {self.max_upload_mb}"),
            (self.max_pixels >= 1, f"--max-pixels must be at least 1, got {self.max_pixels}"),
            (self.workers >= 1, f"--workers must be at least 1, got {self.workers}"),
            (self.queue >= 0, f"--queue must be 0 or more, got {self.queue}"),
            (self.max_memory >= 1, f"--max-memory must be positive, got {self.max_memory}"),
            (self.token is None or len(self.token) >= 8, "--token must be 8 characters or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise PixelwiseError(message)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def connection_limit(self) -> int:
        """Open connections uvicorn accepts before it answers 503 itself: each holds at most
        one request body, so this bounds the memory of bodies being received."""
        return max(64, 4 * (self.workers + self.queue))

    def predict_options(self, tta: TTA | None, page: int | None = None) -> PredictOptions:
        """The options of one prediction: ``predict``'s defaults, this server's pixel limit
        and memory budget, the request's ``tta`` and ``page``."""
        return PredictOptions(
            tta=tta, page=page, max_pixels=self.max_pixels, max_memory=self.max_memory
        )


def check_tta(tta: TTA) -> None:
    """Refuse TTA beyond :data:`MAX_TTA_VIEWS` views or outside :data:`TTA_SCALE_RANGE`."""
    if tta.views > MAX_TTA_VIEWS:
        raise PixelwiseError(f"tta asks for {tta.views} views; this server allows {MAX_TTA_VIEWS}")
    low, high = TTA_SCALE_RANGE
    for scale in tta.scales:
        if not low <= scale <= high:
            raise PixelwiseError(f"tta scale {scale:g} is outside {low:g}..{high:g}")
