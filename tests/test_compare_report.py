"""The comparison report: self-contained HTML, and (in headless Chromium) that it renders
without errors or requests, that its tables sort and that its image panels have a legend."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from browser import headless_chromium
from pixelwise.compare.figures import cost_png, curves_png, panels
from pixelwise.compare.grid import Scoring
from pixelwise.compare.report import Pictures, render
from pixelwise.compare.results import summarize
from pixelwise.compare.scoring import ImageScores

CLASSES = ("road", "sky", "car")
COLOURS = ((128, 64, 128), (70, 130, 180), (0, 0, 142))
ACCURACY = {"a<b": 0.9, "mid": 0.6, "weak": 0.3}  # a name that must be escaped


def fabricated() -> tuple[dict, Pictures]:
    """A results document and pictures of three made-up runs on 12 images."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (12, 40))
    scores, records, curves = {}, [], {}
    for number, (name, accuracy) in enumerate(ACCURACY.items()):
        correct = rng.random((12, 40)) < accuracy
        prediction = np.where(correct, truth, (truth + 1) % 3)
        matrices = np.zeros((12, 3, 3), np.int64)
        for image in range(12):
            np.add.at(matrices[image], (truth[image], prediction[image]), 1)
        scores[name] = ImageScores(
            tuple(f"img{i}" for i in range(12)), matrices, rng.random((12, 3)), CLASSES
        )
        records.append(
            {
                "name": f"{name},seed=0",
                "configuration": name,
                "settings": {"variant": name},
                "seed": 0,
                "kind": "network",
                "status": "done",
                "action": "train",
                "cost": {
                    "parameters": 1e5 * (number + 1),
                    "macs": 1e9,
                    "latency_ms": 10.0 * (3 - number),
                },
                "training_seconds": 120.0,
                "epochs": 3,
                "wall_seconds": {"train": 130.0, "score": 5.0},
            }
        )
        curves[f"{name},seed=0"] = [
            {"epoch": str(e), "val_miou": str(accuracy * (e + 1) / 3), "val_loss": str(1 / (e + 1))}
            for e in range(3)
        ]
    scores = {f"{name},seed=0": s for name, s in scores.items()}
    document = summarize(
        records, scores, list(ACCURACY), "mid", ["variant"], Scoring(bootstrap=200)
    )
    points = [
        {"number": i, "miou": c["metrics"]["miou"]["mean"], **c["cost"], "pareto": c["pareto"]}
        for i, c in enumerate(document["configurations"], start=1)
    ]
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (60, 80))
    picture, ground, overlays = panels(image, mask, COLOURS, 255, [mask, (mask + 1) % 3, mask])
    pictures = Pictures(
        curves=curves_png(curves),
        cost=cost_png(points),
        examples=[("img0", picture, ground, dict(zip(ACCURACY, overlays, strict=True)))],
        worst={"weak,seed=0": [("img3", picture, ground, overlays[1], 0.25)]},
        confusion={"weak,seed=0": picture},
        legend=list(zip(CLASSES, COLOURS, strict=True)),
    )
    return document, pictures


def write_report(folder: Path) -> Path:
    document, pictures = fabricated()
    path = folder / "report.html"
    meta = {"data": "made up", "scored split": "val, 12 images"}
    path.write_text(render("Comparison: test", "three runs", meta, document, pictures, 0.95))
    return path


def test_the_report_is_self_contained_and_escapes_names(tmp_path: Path) -> None:
    page = write_report(tmp_path).read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "http://" not in page and "https://" not in page and 'src="/' not in page
    assert "a&lt;b" in page and '<td class="name">a<b' not in page
    assert page.count('<tr class="baseline">') == 1  # "mid" is the baseline
    assert "Main effects" not in page  # one axis: no two-way table


def test_the_image_panels_have_a_class_legend(tmp_path: Path) -> None:
    page = write_report(tmp_path).read_text()
    side_by_side = page.split("<h2>Side by side</h2>")[1].split("<h2>")[0]
    assert side_by_side.startswith('<ul class="legend" aria-label="classes">')
    for name, (r, g, b) in zip(CLASSES, COLOURS, strict=True):
        assert f'style="background:rgb({r},{g},{b})"></span>{name}</li>' in side_by_side
    assert "ignored (ground truth only)" in side_by_side
    worst = page.split("<h2>Worst images of each run</h2>")[1].split("<h2>")[0]
    assert '<ul class="legend"' in worst


def column(page, table: str, index: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent.trim())"
    )


@pytest.mark.browser
def test_the_report_renders_offline_and_sorts_in_chromium(tmp_path: Path) -> None:
    report = write_report(tmp_path)
    errors: list[str] = []
    requests: list[str] = []
    with headless_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        assert column(page, "summary", 1) == list(ACCURACY)
        loaded = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth > 0)")
        assert loaded and all(loaded)
        page.click("#summary thead th:nth-child(4) button")  # mIoU: ascending
        ascending = column(page, "summary", 1)
        assert ascending == ["weak", "mid", "a<b"]
        page.click("#summary thead th:nth-child(4) button")  # again: descending
        assert column(page, "summary", 1) == ["a<b", "mid", "weak"]
        page.click("#per-class thead th:nth-child(2) button")  # by name
        assert column(page, "per-class", 1) == sorted(ACCURACY)
        legend = page.locator("ul.legend").first
        legend.scroll_into_view_if_needed()
        assert legend.is_visible()
        items = legend.locator("li")
        assert items.all_inner_texts() == [*CLASSES, "ignored (ground truth only)"]
        swatches = legend.locator(".swatch").evaluate_all(
            "spans => spans.map(s => [getComputedStyle(s).backgroundColor, s.offsetWidth])"
        )
        expected = [f"rgb({r}, {g}, {b})" for r, g, b in COLOURS] + ["rgb(255, 255, 255)"]
        assert [colour for colour, _ in swatches] == expected
        assert all(width >= 10 for _, width in swatches)
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
    assert errors == []
    assert requests == [report.as_uri()]  # the page itself, nothing else
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("PIXELWISE_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / "compare-report.png")
