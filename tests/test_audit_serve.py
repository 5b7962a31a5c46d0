"""The server's cases of an adversarial audit: uploads that decode to far more than they
weigh, clients that go away, oversized error bodies, CLI words in API errors, a busy port
and a request too malformed to reach the application."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

pytest.importorskip(
    "fastapi", reason="the serve extra is not installed (pip install 'pixelwise[serve]')"
)
pytest.importorskip("httpx", reason="httpx (the test client) is not installed")

from fastapi.testclient import TestClient

from pixelwise.cli import main
from pixelwise.data.reader import ImageTooLargeError, UnsupportedImageError, read_header
from pixelwise.serve.app import create_app
from pixelwise.serve.models import load_models
from pixelwise.serve.options import ServeOptions


def tiff_bytes(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def make_client(model: Path, **options) -> TestClient:
    app = create_app(load_models([f"tiny={model}"]), ServeOptions(**options))
    return TestClient(app, raise_server_exceptions=False)


def post(client: TestClient, data: bytes, query: str = "") -> tuple[int, dict]:
    response = client.post(f"/api/predict?output=json{query}", content=data)
    return response.status_code, response.json()


def test_many_samples_per_pixel_are_refused_from_the_header(tiny_unet: Path) -> None:
    many = tiff_bytes(np.zeros((64, 64, 50)), photometric="minisblack", planarconfig="contig")
    with pytest.raises(UnsupportedImageError, match="50 samples per pixel"):
        read_header(many)
    with make_client(tiny_unet) as client:
        status, body = post(client, many)
    assert status == 415 and "50 samples per pixel" in body["error"]


def test_a_tile_far_larger_than_its_image_is_refused(tiny_unet: Path) -> None:
    small = tiff_bytes(np.zeros((16, 16), np.uint8), tile=(8192, 8192), compression="zlib")
    assert len(small) < 200_000
    with pytest.raises(ImageTooLargeError, match="tiles or strips of 64 MiB"):
        read_header(small)
    with make_client(tiny_unet) as client:
        status, body = post(client, small)
    assert status == 413 and "rewrite it with smaller tiles" in body["error"]


def test_decoded_bytes_above_the_memory_budget_are_413(tiny_unet: Path) -> None:
    floats = tiff_bytes(np.zeros((256, 256, 3), np.float32), photometric="rgb")
    with make_client(tiny_unet, max_memory=500_000) as client:
        status, body = post(client, floats)
        assert status == 413 and "decodes to 768 KiB" in body["error"]
    with make_client(tiny_unet) as client:
        assert post(client, floats)[0] == 200


def _disconnecting_post(app) -> int | None:
    """POST half a body to ``app``, then disconnect; the status it recorded (if any)."""
    messages = iter(
        [
            {"type": "http.request", "body": b"\x89PNG", "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    answer: dict = {}

    async def receive():
        return next(messages)

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/predict", "raw_path": b"/api/predict",
        "query_string": b"", "root_path": "", "headers": [(b"content-length", b"1000")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return answer.get("status")


def test_a_client_gone_mid_upload_is_one_info_line_counted_apart(
    tiny_unet: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with make_client(tiny_unet) as client, caplog.at_level(logging.INFO):
        for _ in range(3):
            _disconnecting_post(client.app)
        metrics = client.get("/metrics").text
    assert 'pixelwise_client_disconnects_total{route="/api/predict"} 3' in metrics
    assert 'status="500"' not in metrics
    records = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(records) == 3 and {r.levelno for r in records} == {logging.INFO}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_body_of_many_fields_without_an_image_gets_a_short_error(tiny_unet: Path) -> None:
    fields = {f"field{i}": "x" for i in range(10_000)}
    with make_client(tiny_unet) as client:
        response = client.post("/api/predict", data=fields, files={"other": ("a.txt", b"x")})
    assert response.status_code == 400 and len(response.content) < 500
    assert "(10001 fields in all)" in response.json()["error"]


def test_a_multipage_image_names_the_query_parameter(tiny_unet: Path) -> None:
    pages = np.random.default_rng(0).integers(0, 256, (2, 20, 24), dtype=np.uint8)
    stack = tiff_bytes(pages)
    with make_client(tiny_unet) as client:
        status, body = post(client, stack)
        assert status == 422 and "the query parameter page=N (0..1)" in body["error"]
        assert "--page" not in body["error"]
        status, body = post(client, stack, "&page=1")
        assert status == 200 and (body["height"], body["width"]) == (20, 24)
        status, body = post(client, stack, "&page=2")
        assert status == 422 and "page=2 is not one" in body["error"]


def test_serve_on_a_busy_port_is_one_error_line(
    tiny_unet: Path, capsys: pytest.CaptureFixture
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", str(tiny_unet), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and len(err.splitlines()) == 1
    )


def test_a_malformed_content_length_gets_the_apis_json_error(tiny_unet: Path) -> None:
    import uvicorn

    from pixelwise.serve.server import listen, server_config

    options = ServeOptions(port=0)
    app = create_app(load_models([str(tiny_unet)]), options)
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(server_config(app, options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with socket.create_connection(sock.getsockname()[:2], timeout=10) as client:
            client.sendall(
                b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n"
            )
            reply = b""
            while chunk := client.recv(4096):
                reply += chunk
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head.lower()
    answer = json.loads(body)
    assert answer["status"] == 400 and answer["error"].startswith("malformed HTTP request")


def test_the_page_of_a_png_is_refused_as_a_tiff_is(tiny_unet: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="PNG")
    with make_client(tiny_unet) as client:
        status, body = post(client, buffer.getvalue(), "&page=1")
    assert status == 422 and "page=1 is not one" in body["error"]
