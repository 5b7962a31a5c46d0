"""``pixelwise serve``: saved models behind a REST API and a web page, with hard limits.

The layers, bottom up: :mod:`~pixelwise.serve.options` (every limit, checked once),
:mod:`~pixelwise.serve.models` (the models, loaded once at start),
:mod:`~pixelwise.serve.uploads` (a request body read under the size limit, multipart or
raw), :mod:`~pixelwise.serve.pool` (the bounded worker pool and queue),
:mod:`~pixelwise.serve.metrics` (Prometheus text), :mod:`~pixelwise.serve.results` (what
a prediction answers), :mod:`~pixelwise.serve.openapi` (the documented parameters,
body and answers), :mod:`~pixelwise.serve.app` (the FastAPI application and the page in
``static/``) and :mod:`~pixelwise.serve.server` (uvicorn). FastAPI, uvicorn and
python-multipart are the optional extra ``pixelwise[serve]``; :func:`require_extra`
checks for them.
"""

from __future__ import annotations

from importlib.util import find_spec

from pixelwise.errors import PixelwiseError

EXTRA_MODULES = ("fastapi", "uvicorn", "python_multipart")
INSTALL_HINT = 'pip install "pixelwise[serve]"'


def require_extra() -> None:
    """Raise one clear error when a package of the ``serve`` extra is missing."""
    missing = [name for name in EXTRA_MODULES if find_spec(name) is None]
    if missing:
        raise PixelwiseError(
            f"pixelwise serve needs {', '.join(missing)} (not installed): {INSTALL_HINT}"
        )
