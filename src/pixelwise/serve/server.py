"""Running the application with uvicorn: the address, the warning for open addresses."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from pixelwise.serve.options import ServeOptions, is_local

logger = logging.getLogger(__name__)


def open_address_warning(options: ServeOptions) -> str | None:
    """The warning for a server reachable from other machines without a token, or ``None``."""
    if is_local(options.host) or options.token is not None:
        return None
    return (
        f"warning: serving on {options.host}, reachable from other machines, without a token: "
        "anyone who can reach this port can use the models. Add --token TOKEN (or set "
        "PIXELWISE_TOKEN); clients then send the header 'Authorization: Bearer TOKEN'"
    )


def run_server(app: FastAPI, options: ServeOptions) -> None:
    """Serve ``app`` until interrupted (Ctrl-C)."""
    warning = open_address_warning(options)
    if warning:
        logger.warning(warning)
    names = ", ".join(app.state.pixelwise.models)
    host = f"[{options.host}]" if ":" in options.host else options.host
    logger.info("serving %s at http://%s:%d/ (API docs at /docs)", names, host, options.port)
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        limit_concurrency=options.connection_limit,
        timeout_keep_alive=5,
        server_header=False,
        log_level="info",
    )
