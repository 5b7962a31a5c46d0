"""Work spread over a Ray cluster: batch prediction (Ray Data) and comparison runs.

:mod:`~pixelwise.distributed.cluster` joins or starts a Ray instance and holds the
resource options; :mod:`~pixelwise.distributed.predict` runs ``pixelwise predict
--engine ray``: the same planning, checks and writer as local predict, with reading,
decoding and prediction spread over the cluster. Ray is the optional extra
``pixelwise[ray]``; nothing here imports it until it is used (:func:`require_ray`).
"""

from __future__ import annotations

from importlib.util import find_spec
from types import ModuleType

from pixelwise.errors import PixelwiseError

INSTALL_HINT = 'pip install "pixelwise[ray]"'


def require_ray() -> ModuleType:
    """Import Ray (with Ray Data); a missing package is one clear user error."""
    missing = [name for name in ("ray", "pyarrow") if find_spec(name) is None]
    if not missing and find_spec("ray.data") is None:
        missing = ["ray[data]"]
    if missing:
        raise PixelwiseError(
            f"the Ray engine needs {', '.join(missing)} (not installed): {INSTALL_HINT}"
        )
    import ray

    return ray
