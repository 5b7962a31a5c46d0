"""The web page in a real browser: Playwright drives Debian's chromium against a live server.

Set ``PIXELWISE_SCREENSHOTS=DIR`` to keep the screenshots (wide and narrow) in ``DIR``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pixelwise
from browser import headless_chromium
from conftest import save_tiny_unet
from pixelwise.cli import main
from pixelwise.data.synthetic import SyntheticShapes
from pixelwise.inference.outputs import without_receipt

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is absent: pip install playwright"
)
uvicorn = pytest.importorskip(
    "uvicorn", reason="the serve extra is absent: pip install 'pixelwise[serve]'"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_unet(tmp_path_factory.mktemp("browser") / "shapes-unet", num_classes=4)


@pytest.fixture(scope="module")
def server(model: Path) -> Iterator[str]:
    """A live server on a free port, stopped after the module."""
    from pixelwise.serve.app import create_app
    from pixelwise.serve.models import load_models
    from pixelwise.serve.options import ServeOptions

    port = _free_port()
    app = create_app(load_models([str(model)]), ServeOptions(port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with headless_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    picture, _ = SyntheticShapes("val", num_images=1, size=96, seed=4)[0]
    path = tmp_path_factory.mktemp("browser-image") / "shapes.png"
    Image.fromarray(picture).save(path)
    return path


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("PIXELWISE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


def _percent(fraction: float) -> str:
    """The page's percentage: one decimal, rounded half up as JavaScript's ``toFixed``."""
    if fraction == 0:
        return "0%"
    if fraction < 0.001:
        return "<0.1%"
    return f"{Decimal(fraction * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def _shown_pixels(page) -> int:
    """Pixels of the overlay canvas that are drawn (not transparent)."""
    return page.evaluate(
        """() => {
            const canvas = document.getElementById("mask");
            const { width, height } = canvas;
            const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
            let shown = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) shown += 1;
            return shown;
        }"""
    )


def test_page_predicts_shows_toggles_and_downloads_predicts_labels(
    server: str, browser, model: Path, image: Path, tmp_path: Path
) -> None:
    out = tmp_path / "predicted"
    argv = ["predict", str(model), str(image), "--out", str(out), "--workers", "0"]
    assert main(argv) == 0
    labels = pixelwise.load(model, device="cpu").predict(np.asarray(Image.open(image)))

    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(server + "/")
    page.wait_for_selector("#model:not([disabled])")
    assert page.locator("#model option").all_inner_texts() == ["shapes-unet"]

    page.set_input_files("#file", str(image))
    page.locator("#legend li").nth(3).wait_for()
    assert page.locator("#result").is_visible() and page.locator("#error").is_hidden()
    assert _shown_pixels(page) == labels.size
    shares = page.locator("#legend .share").all_inner_texts()
    assert shares == [_percent(int((labels == k).sum()) / labels.size) for k in range(4)]
    assert page.locator("#timing").inner_text().startswith("Prediction took")

    slider = page.locator("#opacity")
    slider.focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")  # 60% -> 40% in steps of 5
    assert page.eval_on_selector("#mask", "canvas => canvas.style.opacity") == "0.4"
    assert page.locator("#opacity-value").inner_text() == "40%"

    biggest = int(np.bincount(labels.ravel(), minlength=4).argmax())
    toggle = page.locator(f'#legend button[data-index="{biggest}"]')
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false"
    assert _shown_pixels(page) == int((labels != biggest).sum())
    toggle.focus()
    page.keyboard.press("Enter")  # the keyboard shows it again
    assert toggle.get_attribute("aria-pressed") == "true"
    assert _shown_pixels(page) == labels.size

    with page.expect_download() as download:
        page.click("#download-labels")
    saved = tmp_path / "downloaded.png"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "shapes-labels.png"
    assert saved.read_bytes() == without_receipt((out / "shapes.png").read_bytes())

    with page.expect_download() as overlay:
        page.click("#download-overlay")
    overlay.value.save_as(tmp_path / "overlay.png")
    assert Image.open(tmp_path / "overlay.png").size == (96, 96)

    shot = _screenshot(page, tmp_path, "serve-page.png")
    assert Image.open(shot).size[0] == 1280
    assert all(url.startswith((server, "blob:", "data:")) for url in requests), requests
    context.close()


def test_page_reads_well_on_a_narrow_screen_and_shows_errors(
    server: str, browser, image: Path, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    page.goto(server + "/")
    page.wait_for_selector("#model:not([disabled])")
    page.set_input_files("#file", str(image))
    page.locator("#legend li").nth(3).wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    _screenshot(page, tmp_path, "serve-page-narrow.png")

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are words, not pixels")
    page.set_input_files("#file", str(not_an_image))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image format pixelwise reads" in page.locator("#error").inner_text()
    page.focus("#drop")
    assert page.evaluate("document.activeElement.id") == "drop"
    context.close()
