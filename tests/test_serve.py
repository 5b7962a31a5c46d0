"""``pixelwise serve`` besides the API: the command, its options, model names, the pool."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip(
    "python_multipart", reason="the serve extra is absent: pip install 'pixelwise[serve]'"
)

from pixelwise import api, serve
from pixelwise.cli import main
from pixelwise.errors import PixelwiseError
from pixelwise.serve.models import load_models
from pixelwise.serve.options import ServeOptions, is_local
from pixelwise.serve.pool import PoolFullError, WorkerPool
from pixelwise.serve.server import open_address_warning
from pixelwise.serve.uploads import Upload


def test_missing_extra_is_one_error_line_naming_the_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tiny_unet: Path
) -> None:
    real = serve.find_spec
    monkeypatch.setattr(serve, "find_spec", lambda name: None if name == "uvicorn" else real(name))
    assert main(["serve", str(tiny_unet)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        'error: pixelwise serve needs uvicorn (not installed): pip install "pixelwise[serve]"'
    ]


def test_cli_passes_its_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    calls = []
    monkeypatch.setattr(api, "serve", lambda models, options: calls.append((models, options)))
    monkeypatch.setenv("PIXELWISE_TOKEN", "from-the-environment")
    argv = ["serve", "a=runs/x", "runs/y", "--host", "0.0.0.0", "--port", "0", "--workers", "2"]
    argv += ["--queue", "3", "--max-upload-mb", "0.5", "--max-pixels", "1000", "--max-memory", "2G"]
    assert main([*argv, "--backend", "torch"]) == 0
    models, options = calls[0]
    assert models == ["a=runs/x", "runs/y"]
    assert options == ServeOptions("0.0.0.0", 0, 0.5, 1000, 2, 3, "from-the-environment",
                                   "torch", 2 * 2**30)  # fmt: skip
    assert main(["serve", "m", "--token", "given-on-the-line"]) == 0
    assert calls[1][1].token == "given-on-the-line" and calls[1][1].host == "127.0.0.1"
    assert main(["serve", "m", "--max-pixels", "none"]) == 2
    assert "--max-pixels must be a pixel count" in capsys.readouterr().err
    assert main(["serve", "m", "--workers", "0"]) == 2
    assert "error: --workers must be at least 1, got 0" in capsys.readouterr().err


def test_binding_beyond_loopback_without_a_token_warns_how_to_add_one() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert is_local(host) and open_address_warning(ServeOptions(host=host)) is None
    warning = open_address_warning(ServeOptions(host="0.0.0.0"))
    assert warning is not None and "--token TOKEN" in warning and "Bearer TOKEN" in warning
    assert open_address_warning(ServeOptions(host="0.0.0.0", token="long-enough")) is None
    with pytest.raises(PixelwiseError, match="8 characters"):
        ServeOptions(token="short")


def test_model_names_default_to_the_folder_or_the_run(tiny_unet: Path, tmp_path: Path) -> None:
    run = tmp_path / "my-run"
    shutil.copytree(tiny_unet, run / "model")
    shutil.copytree(tiny_unet, tmp_path / "bare")
    served = load_models([str(run), f"x.1={tmp_path / 'bare'}"])
    assert list(served) == ["my-run", "x.1"]
    assert load_models([str(run / "model")]).keys() == {"my-run"}
    with pytest.raises(PixelwiseError, match="two models are named 'my-run'"):
        load_models([str(run), str(run / "model")])
    odd = tmp_path / "with space"
    shutil.copytree(tiny_unet, odd)
    with pytest.raises(PixelwiseError, match="name it with NAME=PATH"):
        load_models([str(odd)])
    with pytest.raises(PixelwiseError, match="model path not found"):
        load_models([str(tmp_path / "absent")])


def test_the_backend_reaches_the_served_models(tiny_unet: Path) -> None:
    (served,) = load_models([str(tiny_unet)], backend="torch-channels-last").values()
    assert served.backend == "torch-channels-last"
    with pytest.raises(PixelwiseError, match="unknown backend 'onnx'"):
        load_models([str(tiny_unet)], backend="onnx")


def test_upload_names_are_made_safe_for_headers() -> None:
    assert Upload(b"x", "../../etc/pa ss.png").stem == "pa_ss"
    assert Upload(b"x", 'a"b\r\nc.tif').stem == "a_b_c"
    assert Upload(b"x", ".png").stem == "png"
    assert Upload(b"x", "...").stem == "upload"


def test_pool_admits_workers_plus_queue_and_frees_places_when_jobs_end() -> None:
    pool = WorkerPool(workers=1, queue=1)
    release = threading.Event()

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(pool.run(lambda: release.wait(10) and "first"))
        second = asyncio.ensure_future(pool.run(lambda: "second"))
        await asyncio.sleep(0.05)
        assert (pool.running, pool.waiting) == (1, 1)
        with pytest.raises(PoolFullError) as full:
            await pool.run(lambda: "third")
        assert full.value.retry_after >= 1
        release.set()
        results = [await first, await second]
        results.append(await pool.run(lambda: "fourth"))
        return results

    assert asyncio.run(scenario()) == ["first", "second", "fourth"]
    assert (pool.running, pool.waiting) == (0, 0)
    pool.shutdown()


def test_a_cancelled_waiter_keeps_its_place_until_its_job_ends() -> None:
    pool = WorkerPool(workers=1, queue=0)
    release = threading.Event()

    async def scenario() -> None:
        waiter = asyncio.ensure_future(pool.run(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        waiter.cancel()  # the client went away; the job still runs in its thread
        await asyncio.sleep(0.05)
        with pytest.raises(PoolFullError):
            await pool.run(lambda: None)
        release.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if pool.waiting == 0 and pool.running == 0:
                break
        assert await pool.run(lambda: "again") == "again"

    asyncio.run(scenario())
    pool.shutdown()


def test_run_server_binds_as_told_with_a_connection_limit(
    tiny_unet: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("uvicorn", reason="the serve extra is absent")
    from pixelwise.serve import server
    from pixelwise.serve.app import create_app

    calls = []

    def run(self, sockets):
        calls.append((self.config, sockets[0].getsockname()))
        sockets[0].close()

    monkeypatch.setattr(server.uvicorn.Server, "run", run)
    options = ServeOptions(host="0.0.0.0", port=0, workers=2, queue=30)
    app = create_app(load_models([f"net={tiny_unet}"]), options)
    with caplog.at_level("INFO"):
        server.run_server(app, options)
    ((config, (host, port)),) = calls
    assert (host, config.limit_concurrency, config.http) == (
        "0.0.0.0",
        128,
        server.JsonErrorProtocol,
    )
    assert port > 0 and "without a token" in caplog.text
    assert f"serving net at http://0.0.0.0:{port}/" in caplog.text
