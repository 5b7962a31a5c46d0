"""``pixelwise serve``'s API through an ASGI test client: every endpoint and every error case."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
import zlib
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

import pixelwise
from pixelwise.classical.thresholds import Otsu
from pixelwise.cli import main
from pixelwise.data.synthetic import SyntheticShapes
from pixelwise.inference.outputs import RECEIPT_KEY, read_receipt, without_receipt
from pixelwise.models.card import ClassicalCard
from pixelwise.models.saving import save_classical
from pixelwise.serve import app as app_module
from pixelwise.serve.app import create_app
from pixelwise.serve.models import load_models
from pixelwise.serve.options import ServeOptions

RNG = np.random.default_rng(0)
PICTURE = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A 100-byte PNG whose header declares ``width × height`` gray pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))  # one row of the billions declared
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def otsu_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shapes = SyntheticShapes("train", num_images=4, size=32, seed=1)
    folder = tmp_path_factory.mktemp("otsu") / "otsu"
    fitted = Otsu().fit(shapes, progress=False)
    return save_classical(folder, ClassicalCard(fitted.to_dict(), shapes.info))


def make_client(*specs: str | Path, **options) -> TestClient:
    served = load_models([str(spec) for spec in specs], options.pop("backend", None))
    return TestClient(create_app(served, ServeOptions(**options)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(tiny_unet: Path):
    with make_client(f"tiny={tiny_unet}", max_upload_mb=1, max_pixels=100_000) as test_client:
        yield test_client


def post_image(client: TestClient, data: bytes, query: str = "", name: str = "a.png"):
    return client.post(f"/api/predict{query}", files={"image": (name, data, "image/png")})


def predicted_files(model: Path, image: Path, out: Path, *flags: str) -> Path:
    assert (
        main(["predict", str(model), str(image), "--out", str(out), "--workers", "0", *flags]) == 0
    )
    return out


# --- the answers -------------------------------------------------------------------------


def test_models_lists_names_classes_colours_channels_scale_backend(
    client: TestClient, tiny_unet: Path
) -> None:
    body = client.get("/api/models").json()
    (model,) = body["models"]
    assert model["name"] == "tiny"
    assert model["kind"] == "network" and model["architecture"] == "unet"
    assert model["classes"] == [
        {"index": 0, "name": "c0", "colour": [0, 0, 0]},
        {"index": 1, "name": "c1", "colour": [128, 0, 0]},
        {"index": 2, "name": "c2", "colour": [0, 128, 0]},
    ]
    assert (model["input_channels"], model["working_scale"], model["backend"]) == (3, 1.0, "torch")
    assert body["limits"] == {"max_upload_bytes": 2**20, "max_pixels": 100_000}


def test_labels_are_predicts_label_file_less_its_receipt(
    client: TestClient, tiny_unet: Path, tmp_path: Path
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes(PICTURE))
    label_file = predicted_files(tiny_unet, image, tmp_path / "out") / "a.png"
    written = label_file.read_bytes()
    response = post_image(client, image.read_bytes())
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content == without_receipt(written)
    assert response.content != written and read_receipt(label_file) is not None
    served = Image.open(io.BytesIO(response.content))
    assert served.mode == "P" and RECEIPT_KEY not in served.info
    expected = pixelwise.load(tiny_unet, device="cpu").predict(PICTURE)
    np.testing.assert_array_equal(np.asarray(served), expected)
    assert response.headers["content-disposition"] == 'inline; filename="a.png"'
    assert float(response.headers["x-pixelwise-seconds"]) > 0


def test_raw_body_and_multipart_give_the_same_labels(client: TestClient) -> None:
    data = png_bytes(PICTURE)
    raw = client.post("/api/predict", content=data, headers={"content-type": "image/png"})
    assert raw.status_code == 200
    assert raw.content == post_image(client, data).content


def test_overlay_is_predicts_overlay_file(
    client: TestClient, tiny_unet: Path, tmp_path: Path
) -> None:
    image = tmp_path / "b.png"
    image.write_bytes(png_bytes(PICTURE))
    out = predicted_files(tiny_unet, image, tmp_path / "out", "--overlay")
    response = post_image(client, image.read_bytes(), "?output=overlay", name="b.png")
    assert response.status_code == 200
    assert response.content == (out / "overlay" / "b.png").read_bytes()
    assert response.headers["content-disposition"] == 'inline; filename="b-overlay.png"'


def test_json_summary_fractions_and_run_lengths(client: TestClient, tiny_unet: Path) -> None:
    response = post_image(client, png_bytes(PICTURE), "?output=json&rle=true")
    assert response.status_code == 200
    body = response.json()
    assert (body["width"], body["height"], body["tiled"], body["tta"]) == (40, 30, False, [])
    assert body["seconds"] > 0 and body["queued_seconds"] >= 0
    labels = pixelwise.load(tiny_unet, device="cpu").predict(PICTURE)
    for item in body["classes"]:
        assert item["pixels"] == (labels == item["index"]).sum()
        assert item["fraction"] == pytest.approx((labels == item["index"]).mean())
    mask = body["mask"]
    assert mask["encoding"] == "row-major-runs"
    decoded = np.repeat(mask["values"], mask["counts"]).reshape(30, 40)
    np.testing.assert_array_equal(decoded, labels)
    assert np.all(np.diff(mask["values"]) != 0)  # maximal runs
    assert "mask" not in post_image(client, png_bytes(PICTURE), "?output=json").json()


def test_tta_matches_predict_with_the_same_tta(
    client: TestClient, tiny_unet: Path, tmp_path: Path
) -> None:
    image = tmp_path / "c.png"
    image.write_bytes(png_bytes(PICTURE))
    out = predicted_files(tiny_unet, image, tmp_path / "out", "--tta", "hflip")
    response = post_image(client, image.read_bytes(), "?tta=hflip")
    assert response.status_code == 200
    assert response.content == without_receipt((out / "c.png").read_bytes())
    assert post_image(client, image.read_bytes(), "?output=json&tta=hflip").json()["tta"] == [
        "hflip"
    ]


def test_classical_method_is_served_like_predict(otsu_model: Path, tmp_path: Path) -> None:
    image = tmp_path / "d.png"
    image.write_bytes(png_bytes(PICTURE))
    out = predicted_files(otsu_model, image, tmp_path / "out")
    with make_client(otsu_model) as client:
        (model,) = client.get("/api/models").json()["models"]
        assert (model["kind"], model["architecture"], model["backend"]) == (
            "classical",
            "otsu",
            None,
        )
        response = post_image(client, image.read_bytes())
        assert response.status_code == 200
        assert response.content == without_receipt((out / "d.png").read_bytes())
        refused = post_image(client, image.read_bytes(), "?tta=hflip")
        assert refused.status_code == 422 and "classical method" in refused.json()["error"]


def test_healthz_page_static_files_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "models": 1}
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert "http://" not in response.text and "https://" not in response.text
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/docs").status_code == 200


def test_openapi_documents_the_body_parameters_and_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    predict = schema["paths"]["/api/predict"]["post"]
    body = predict["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["required"] == ["image"]
    assert "image/png" in body
    names = {parameter["name"] for parameter in predict["parameters"]}
    assert names == {"model", "output", "tta", "rle", "page"}
    assert {"200", "401", "404", "413", "415", "422", "503"} <= set(predict["responses"])
    assert "example" in predict["responses"]["200"]["content"]["application/json"]


# --- bad input: a JSON error with a clear message, and the server keeps serving ----------


def test_unknown_model_lists_the_known_ones(client: TestClient) -> None:
    response = post_image(client, png_bytes(PICTURE), "?model=nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": "unknown model 'nope'; the models: tiny",
        "status": 404,
    }


def test_several_models_need_a_name(tiny_unet: Path, otsu_model: Path) -> None:
    with make_client(f"net={tiny_unet}", otsu_model) as client:
        response = post_image(client, png_bytes(PICTURE))
        assert response.status_code == 422 and "net, otsu" in response.json()["error"]
        assert post_image(client, png_bytes(PICTURE), "?model=otsu").status_code == 200


def test_bad_parameters_are_one_clear_message(client: TestClient) -> None:
    response = post_image(client, png_bytes(PICTURE), "?output=svg")
    assert response.status_code == 422
    assert response.json()["error"].startswith("output: ")
    for tta, words in (("rot", "unknown TTA mode"), ("d4&tta=scales:1,1.5", "allows 8")):
        refused = post_image(client, png_bytes(PICTURE), f"?tta={tta}")
        assert refused.status_code == 422 and words in refused.json()["error"]
    refused = post_image(client, png_bytes(PICTURE), "?tta=scales:4")
    assert refused.status_code == 422 and "outside 0.25..2" in refused.json()["error"]


def test_missing_image_is_400(client: TestClient) -> None:
    empty = client.post("/api/predict", content=b"")
    assert empty.status_code == 400 and "the image is empty" in empty.json()["error"]
    other_field = client.post("/api/predict", files={"picture": ("a.png", b"x", "image/png")})
    assert other_field.status_code == 400
    assert "no field 'image' (fields: 'picture')" in other_field.json()["error"]


def test_not_an_image_is_415(client: TestClient) -> None:
    response = post_image(client, b"just some text, not pixels", name="notes.txt")
    assert response.status_code == 415
    assert "'notes.txt': not an image format pixelwise reads" in response.json()["error"]


def test_unsupported_pixel_type_is_415(client: TestClient) -> None:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, RNG.integers(-5, 5, (8, 8), dtype=np.int32))
    response = post_image(client, buffer.getvalue(), name="signed.tif")
    assert response.status_code == 415 and "int32 pixels" in response.json()["error"]


def test_truncated_image_is_422_naming_it(client: TestClient) -> None:
    data = png_bytes(PICTURE)
    response = post_image(client, data[: len(data) // 2], name="cut.png")
    assert response.status_code == 422
    assert response.json()["error"].startswith("cannot read image 'cut.png'")


def test_several_pages_is_422(client: TestClient) -> None:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, RNG.integers(0, 256, (2, 8, 8), dtype=np.uint8))
    response = post_image(client, buffer.getvalue(), name="stack.tif")
    assert response.status_code == 422 and "has 2 pages" in response.json()["error"]


def test_decompression_bomb_is_413_from_the_header_before_decoding(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args, **kwargs):
        raise AssertionError("an image over the pixel limit must not be predicted")

    monkeypatch.setattr(app_module, "predict_image", never)
    bomb = bomb_png()
    assert len(bomb) < 200
    response = post_image(client, bomb, name="bomb.png")
    assert response.status_code == 413
    assert "'bomb.png' is 50000x50000 (2,500,000,000 pixels)" in response.json()["error"]
    assert "limit of 100,000 pixels" in response.json()["error"]


def test_too_many_pixels_is_413(client: TestClient) -> None:
    response = post_image(client, png_bytes(np.zeros((400, 300, 3), np.uint8)))
    assert response.status_code == 413 and "120,000 pixels" in response.json()["error"]


def test_declared_body_over_the_limit_is_413(client: TestClient) -> None:
    response = client.post("/api/predict", content=b"\0" * (2**20 + 1))
    assert response.status_code == 413
    assert response.json()["error"] == (
        "the request body is larger than this server's limit of 1,048,576 bytes"
    )


def asgi_post(app, chunks, headers: list[tuple[bytes, bytes]], delay: float = 0.0):
    """POST ``chunks`` to ``app`` directly; returns (status, body, chunks read)."""
    read = []
    answer: dict = {"body": b""}

    async def receive():
        if read and delay:
            await asyncio.sleep(delay)
        index = len(read)
        read.append(index)
        more = index < len(chunks) - 1
        return {"type": "http.request", "body": chunks[index], "more_body": more}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/predict", "raw_path": b"/api/predict",
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return answer["status"], json.loads(answer["body"]), len(read)


def test_streamed_body_is_refused_once_past_the_limit_without_reading_the_rest(
    client: TestClient,
) -> None:
    chunks = [b"\0" * 2**18] * 64  # 16 MiB in 256 KiB chunks, no Content-Length
    status, body, read = asgi_post(client.app, chunks, [(b"content-type", b"image/png")])
    assert status == 413 and "limit of 1,048,576 bytes" in body["error"]
    assert read == 5  # 4 chunks fill the 1 MiB limit, the 5th passes it; 59 never read
    status, _, read = asgi_post(client.app, chunks, [(b"content-length", str(2**24).encode())])
    assert (status, read) == (413, 0)


def test_a_stalled_body_is_408(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "BODY_IDLE_SECONDS", 0.05)
    status, body, _ = asgi_post(client.app, [b"\x89PNG", b"more"], [], delay=5.0)
    assert status == 408 and "stalled" in body["error"]


def test_token_guards_the_api_and_metrics_only(tiny_unet: Path) -> None:
    token = "s3cret-token"
    with make_client(tiny_unet, token=token) as client:
        for headers in ({}, {"authorization": "Bearer wrong-token"}, {"authorization": token}):
            response = client.get("/api/models", headers=headers)
            assert (
                response.status_code == 401 and "Authorization: Bearer" in response.json()["error"]
            )
            assert response.headers["www-authenticate"] == "Bearer"
        assert post_image(client, png_bytes(PICTURE)).status_code == 401
        assert client.get("/metrics").status_code == 401
        good = {"authorization": f"Bearer {token}"}
        assert client.get("/api/models", headers=good).status_code == 200
        assert client.get("/metrics", headers=good).status_code == 200
        for path in ("/healthz", "/", "/static/app.js"):
            assert client.get(path).status_code == 200


def test_full_pool_answers_503_with_retry_after_then_serves_again(
    tiny_unet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    real = app_module.predict_image

    def slow(*args, **kwargs):
        started.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "predict_image", slow)
    with make_client(tiny_unet, workers=1, queue=0) as client:
        first: dict = {}
        worker = threading.Thread(
            target=lambda: first.update(response=post_image(client, png_bytes(PICTURE)))
        )
        worker.start()
        assert started.wait(30)
        busy = post_image(client, png_bytes(PICTURE))
        assert busy.status_code == 503 and "busy" in busy.json()["error"]
        assert int(busy.headers["retry-after"]) >= 1
        metrics = client.get("/metrics").text
        assert "pixelwise_workers_busy 1" in metrics and "pixelwise_queue_capacity 1" in metrics
        release.set()
        worker.join(30)
        assert first["response"].status_code == 200
        assert post_image(client, png_bytes(PICTURE)).status_code == 200


def test_unexpected_error_is_500_json_and_the_server_keeps_serving(
    tiny_unet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = app_module.predict_image

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "predict_image", fails_once)
    with make_client(tiny_unet) as client:
        response = post_image(client, png_bytes(PICTURE))
        assert response.status_code == 500
        assert response.json() == {
            "error": "internal error (RuntimeError); the server log has the details",
            "status": 500,
        }
        assert post_image(client, png_bytes(PICTURE)).status_code == 200


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing")
    assert response.status_code == 404 and response.json()["status"] == 404


def test_metrics_count_statuses_latency_and_queue(tiny_unet: Path) -> None:
    with make_client(tiny_unet) as client:
        post_image(client, png_bytes(PICTURE))
        post_image(client, png_bytes(PICTURE))
        post_image(client, b"not an image")
        response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = response.text.splitlines()
    assert 'pixelwise_requests_total{route="/api/predict",method="POST",status="200"} 2' in lines
    assert 'pixelwise_requests_total{route="/api/predict",method="POST",status="415"} 1' in lines
    assert 'pixelwise_request_duration_seconds_count{route="/api/predict"} 3' in lines
    assert 'pixelwise_request_duration_seconds_bucket{route="/api/predict",le="+Inf"} 3' in lines
    assert "pixelwise_queue_depth 0" in lines
    buckets = [
        int(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith('pixelwise_request_duration_seconds_bucket{route="/api/predict"')
    ]
    assert buckets == sorted(buckets)  # cumulative
