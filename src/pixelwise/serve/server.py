"""Running the application with uvicorn: the listening socket, the warning for open
addresses, and the API's JSON errors for requests too malformed to reach the application."""

from __future__ import annotations

import json
import logging
import socket

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from pixelwise.errors import PixelwiseError
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


class JsonErrorProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering a request it cannot parse (a malformed
    ``Content-Length``, a bad request line) as the API answers every error: JSON
    ``{"error": message, "status": 400}``."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": f"malformed HTTP request: {msg}", "status": 400}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (0: any free port); a user error when the address
    is in use or not this machine's."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as error:
        raise PixelwiseError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise PixelwiseError(
            f"cannot listen on {host}:{port}: {error.strerror or error}; choose another "
            "--port (0: any free one)"
        ) from None
    sock.set_inheritable(True)
    return sock


def server_config(app: FastAPI, options: ServeOptions) -> uvicorn.Config:
    """uvicorn's settings for ``app`` under ``options``: the connection limit, the JSON
    errors of :class:`JsonErrorProtocol`, no ``Server`` header."""
    return uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        http=JsonErrorProtocol,
        limit_concurrency=options.connection_limit,
        timeout_keep_alive=5,
        server_header=False,
        log_level="info",
    )


def run_server(app: FastAPI, options: ServeOptions) -> None:
    """Serve ``app`` until interrupted (Ctrl-C); an address that cannot be listened on is
    a user error before anything starts."""
    sock = listen(options.host, options.port)
    warning = open_address_warning(options)
    if warning:
        logger.warning(warning)
    names = ", ".join(app.state.pixelwise.models)
    host = f"[{options.host}]" if ":" in options.host else options.host
    port = sock.getsockname()[1]
    logger.info("serving %s at http://%s:%d/ (API docs at /docs)", names, host, port)
    uvicorn.Server(server_config(app, options)).run(sockets=[sock])
