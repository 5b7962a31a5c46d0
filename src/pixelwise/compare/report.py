"""The comparison report: one self-contained HTML page.

Everything is inside the file: pictures are ``data:`` URIs, the style and the script
that sorts tables are inline, and a Content-Security-Policy forbids the page any
request (no fonts, scripts or images from elsewhere), so it reads the same offline.
Clicking a column header of a table sorts its rows by that column (again: reversed).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pixelwise.compare.figures import data_uri
from pixelwise.compare.statistics import BOUNDARY, METRICS
from pixelwise.data.base import Colour
from pixelwise.report.overlay import IGNORE_COLOUR

METRIC_TITLES = {
    "miou": "mIoU",
    "pixel_accuracy": "pixel accuracy",
    "mean_accuracy": "class-average accuracy",
    BOUNDARY: "boundary F1",
}
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #1d232a; max-width: 1500px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 34px;
     border-bottom: 1px solid #d5dae0; padding-bottom: 4px; }
p.lead { color: #4a5561; margin-top: 0; } dl.meta { display: grid;
     grid-template-columns: max-content auto; gap: 2px 16px; font-size: 13px; }
dl.meta dt { color: #4a5561; } dl.meta dd { margin: 0; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e7eb; text-align: right;
         vertical-align: top; }
th { background: #f3f5f7; position: sticky; top: 0; }
td.name, th.name { text-align: left; white-space: nowrap; }
table.sortable th button { all: unset; cursor: pointer; }
table.sortable th button::after { content: " \\2195"; color: #9aa5b1; }
table.sortable th[aria-sort=ascending] button::after { content: " \\2191"; color: #1d232a; }
table.sortable th[aria-sort=descending] button::after { content: " \\2193"; color: #1d232a; }
.ci { display: block; color: #68737f; font-size: 11px; white-space: nowrap; }
.better { color: #0b6b2b; font-weight: 600; } .worse { color: #a3161b; font-weight: 600; }
.within { color: #4a5561; } .failed { color: #a3161b; }
tr.baseline td { background: #fff8e1; }
.heat td.cell { text-align: center; min-width: 52px; }
figure { margin: 12px 0; } figcaption { color: #4a5561; font-size: 12px; }
.strip { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.strip figure { margin: 0; } .strip img { display: block; image-rendering: auto; }
.strip figcaption { max-width: 200px; overflow-wrap: anywhere; }
details { margin: 6px 0; } summary { cursor: pointer; }
img.plot { max-width: 100%; height: auto; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; padding: 0;
            margin: 8px 0 12px; font-size: 13px; }
ul.legend li { display: flex; align-items: center; gap: 6px; }
ul.legend .swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px;
                    border: 1px solid rgba(0, 0, 0, 0.35); }
ul.legend li.ignored { color: #68737f; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (header, column) {
    var button = header.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column];
        var text = cell.getAttribute("data-sort");
        if (text === null) { text = cell.textContent.trim(); }
        var number = parseFloat(text);
        return { missing: text === "", number: number, text: text };
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x.missing || y.missing) { return x.missing - y.missing; }
        var order = (!isNaN(x.number) && !isNaN(y.number))
          ? x.number - y.number : x.text.localeCompare(y.text);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


@dataclass
class Pictures:
    """The report's pictures, as PNG bytes.

    ``examples``: per fixed image, ``(stem, input, truth, {configuration: overlay})``;
    ``worst``: per run, ``[(stem, input, truth, prediction overlay, image mIoU)]``;
    ``confusion``: per run, its confusion-matrix heatmap; ``legend``: each class's name
    and the colour the panels draw it in, in class order.
    """

    curves: bytes | None = None
    cost: bytes | None = None
    examples: list[tuple[str, bytes, bytes, dict[str, bytes]]] = field(default_factory=list)
    worst: dict[str, list[tuple[str, bytes, bytes, bytes, float]]] = field(default_factory=dict)
    confusion: dict[str, bytes] = field(default_factory=dict)
    legend: list[tuple[str, Colour]] = field(default_factory=list)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float | None, digits: int = 3, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text.replace("-", "−")


def _sortable(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _img(png: bytes, alt: str, css: str = "") -> str:
    return f'<img src="{data_uri(png)}" alt="{_e(alt)}"{f" class={css!r}" if css else ""}>'


def _headers(titles: Sequence[str], sortable: bool = True) -> str:
    cells = []
    for i, title in enumerate(titles):
        css = ' class="name"' if i < 2 else ""
        label = f"<button type='button'>{_e(title)}</button>" if sortable else _e(title)
        cells.append(f"<th{css}>{label}</th>")
    return "<thead><tr>" + "".join(cells) + "</tr></thead>"


def _metric_cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return '<td data-sort="">–</td>'
    value = _number(summary["mean"])
    if summary["std"] is not None:
        value += f" ± {_number(summary['std'])}"
    ci = summary["ci"]
    interval = f"[{_number(ci['low'])}, {_number(ci['high'])}]"
    return f'<td data-sort="{_sortable(summary["mean"])}">{value}{_ci(interval)}</td>'


def _ci(text: str) -> str:
    return f'<span class="ci">{text}</span>'


def _difference_cell(summary: dict[str, Any] | None, is_baseline: bool) -> str:
    if is_baseline:
        return '<td data-sort="0">baseline</td>'
    difference = (summary or {}).get("difference")
    if difference is None or difference["value"] is None:
        return '<td data-sort="">–</td>'
    if difference["beyond_noise"]:
        css = "better" if difference["value"] > 0 else "worse"
    else:
        css = "within"
    interval = (
        f"[{_number(difference['low'], sign=True)}, {_number(difference['high'], sign=True)}]"
    )
    return (
        f'<td data-sort="{_sortable(difference["value"])}" class="{css}">'
        f"{_number(difference['value'], sign=True)}{_ci(interval)}</td>"
    )


def _count_cell(value: float | None, scale: float, digits: int) -> str:
    if value is None:
        return '<td data-sort="">–</td>'
    return f'<td data-sort="{_sortable(value)}">{value / scale:,.{digits}f}</td>'


def summary_table(document: dict[str, Any], confidence: float) -> str:
    """One row per configuration, sortable by every column."""
    level = f"{round(100 * confidence)}%"
    titles = [
        "#",
        "configuration",
        "seeds",
        f"mIoU [{level} CI]",
        f"Δ mIoU vs baseline [{level} CI]",
        f"pixel accuracy [{level} CI]",
        f"class-average accuracy [{level} CI]",
        f"boundary F1 [{level} CI]",
        "parameters (M)",
        "GMACs",
        "latency (ms)",
        "training (min)",
        "epochs",
        "status",
    ]
    rows = []
    for number, c in enumerate(document["configurations"], start=1):
        metrics = c["metrics"] or {}
        is_baseline = c["name"] == document["baseline"]
        status = "done" if not c["failed"] else f"{len(c['failed'])} of {len(c['runs'])} failed"
        cells = [
            f'<td data-sort="{number}">{number}</td>',
            f'<td class="name">{_e(c["name"])}</td>',
            f'<td data-sort="{len(c["seeds"])}">{len(c["seeds"])}</td>',
            _metric_cell(metrics.get("miou")),
            _difference_cell(metrics.get("miou"), is_baseline),
            *(_metric_cell(metrics.get(m)) for m in METRICS if m != "miou"),
            _count_cell(c["cost"]["parameters"], 1e6, 2),
            _count_cell(c["cost"]["macs"], 1e9, 2),
            _count_cell(c["cost"]["latency_ms"], 1, 0),
            _count_cell(c["training_seconds"], 60, 1),
            _count_cell(c["epochs"], 1, 0),
            f'<td class="{"failed" if c["failed"] else ""}">{_e(status)}</td>',
        ]
        css = ' class="baseline"' if is_baseline else ""
        rows.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    return _table("summary", titles, rows)


def _heat_colour(value: float | None) -> tuple[str, str]:
    """Background and text colour of a per-class IoU cell: white (0) to dark blue (1)."""
    if value is None:
        return "#ffffff", "#68737f"
    low, high = (247, 251, 255), (8, 48, 107)
    rgb = [round(a + (b - a) * value) for a, b in zip(low, high, strict=True)]
    return "#{:02x}{:02x}{:02x}".format(*rgb), ("#ffffff" if value > 0.55 else "#1d232a")


def heat_table(document: dict[str, Any]) -> str:
    """Per-class IoU, configurations × classes, each cell shaded by its value."""
    classes = document["classes"]
    titles = ["#", "configuration", *classes, "mIoU"]
    rows = []
    for number, c in enumerate(document["configurations"], start=1):
        iou = c["class_iou"] or {}
        miou = c["metrics"]["miou"]["mean"] if c["metrics"] else None
        cells = [
            f'<td data-sort="{number}">{number}</td>',
            f'<td class="name">{_e(c["name"])}</td>',
        ]
        for value in [*(iou.get(name) for name in classes), miou]:
            background, text = _heat_colour(value)
            cells.append(
                f'<td class="cell" data-sort="{_sortable(value)}" '
                f'style="background:{background};color:{text}">{_number(value, 2)}</td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return _table("per-class", titles, rows, "sortable heat")


def two_way_section(tables: list[dict[str, Any]]) -> str:
    """Each two-way table of mean mIoU, with its main effects in the margins."""
    parts = []
    for table in tables:
        head = [_e(f"{table['rows']} \\ {table['columns']}"), *map(_e, table["column_values"])]
        head.append("mean (main effect)")
        lines = ["<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
        for value, cells, mean in zip(
            table["row_values"], table["cells"], table["row_means"], strict=True
        ):
            row = "".join(f"<td>{_number(cell)}</td>" for cell in cells)
            lines.append(
                f'<tr><td class="name">{_e(value)}</td>{row}<td><b>{_number(mean)}</b></td></tr>'
            )
        means = "".join(f"<td><b>{_number(mean)}</b></td>" for mean in table["column_means"])
        lines.append(f'<tr><td class="name">mean (main effect)</td>{means}<td></td></tr>')
        note = "" if table["complete"] else " Some cells are empty (excluded or failed runs)."
        parts.append(
            f"<h3>mIoU: {_e(table['rows'])} × {_e(table['columns'])}</h3><table>"
            + "".join(lines)
            + "</table>"
            + f"<p class='lead'>Each cell averages the configurations with those two values "
            f"(over seeds and the other axes); the margins average the cells of a row or "
            f"column.{note}</p>"
        )
    return "".join(parts)


def _figure(png: bytes | None, alt: str, caption: str) -> str:
    if png is None:
        return f"<p class='lead'>{_e(caption)}: nothing to draw.</p>"
    return f"<figure>{_img(png, alt, 'plot')}<figcaption>{_e(caption)}</figcaption></figure>"


def _tile(png: bytes, caption: str) -> str:
    return f"<figure>{_img(png, caption)}<figcaption>{_e(caption)}</figcaption></figure>"


def legend(classes: Sequence[tuple[str, Colour]]) -> str:
    """The class colours of the image panels, one swatch and name per class, then the
    colour of ignored pixels in the ground truth; empty without classes."""
    if not classes:
        return ""
    items = [
        f'<li><span class="swatch" style="background:rgb({r},{g},{b})"></span>{_e(name)}</li>'
        for name, (r, g, b) in classes
    ]
    r, g, b = IGNORE_COLOUR
    items.append(
        f'<li class="ignored"><span class="swatch" style="background:rgb({r},{g},{b})">'
        "</span>ignored (ground truth only)</li>"
    )
    return f'<ul class="legend" aria-label="classes">{"".join(items)}</ul>'


def examples_section(pictures: Pictures, order: Sequence[str]) -> str:
    parts = []
    for stem, image, truth, overlays in pictures.examples:
        tiles = [_tile(image, f"{stem}: input"), _tile(truth, "ground truth")]
        tiles += [_tile(overlays[name], name) for name in order if name in overlays]
        parts.append(f"<div class='strip'>{''.join(tiles)}</div>")
    if not parts:
        return "<p class='lead'>No example images were asked for.</p>"
    return legend(pictures.legend) + "".join(parts)


def worst_section(pictures: Pictures) -> str:
    parts = [legend(pictures.legend)] if pictures.worst else []
    for run, images in pictures.worst.items():
        tiles = []
        for stem, image, truth, prediction, miou in images:
            tiles += [
                _tile(image, f"{stem}: input"),
                _tile(truth, "ground truth"),
                _tile(prediction, f"prediction (image mIoU {_number(miou)})"),
            ]
        parts.append(_details(run, f"<div class='strip'>{''.join(tiles)}</div>"))
    return "".join(parts)


def _details(title: str, content: str) -> str:
    """A section collapsed by default."""
    return f"<details><summary>{_e(title)}</summary>{content}</details>"


def confusion_section(pictures: Pictures) -> str:
    return "".join(
        _details(run, _img(png, f"confusion matrix of {run}", "plot"))
        for run, png in pictures.confusion.items()
    )


def runs_table(document: dict[str, Any]) -> str:
    titles = [
        "run",
        "configuration",
        "seed",
        "status",
        "done now",
        "train wall (s)",
        "score wall (s)",
        "training (s)",
        "epochs",
        "error",
    ]
    rows = []
    for record in document["runs"]:
        wall = record.get("wall_seconds") or {}
        failed = "failed" if record.get("status") != "done" else ""
        cells = [
            f'<td class="name">{_e(record["name"])}</td>',
            f'<td class="name">{_e(record["configuration"])}</td>',
            f"<td>{_e(record['seed'] if record['seed'] is not None else '–')}</td>",
            f'<td class="{failed}">{_e(record.get("status"))}</td>',
            f"<td>{_e(record.get('action'))}</td>",
            _count_cell(wall.get("train"), 1, 0),
            _count_cell(wall.get("score"), 1, 0),
            _count_cell(record.get("training_seconds"), 1, 0),
            _count_cell(record.get("epochs"), 1, 0),
            f'<td class="name failed">{_e(record.get("error") or "")}</td>',
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return _table("runs", titles, rows)


def _table(name: str, titles: Sequence[str], rows: list[str], css: str = "sortable") -> str:
    body = "".join(rows)
    return f'<table class="{css}" id="{name}">{_headers(titles)}<tbody>{body}</tbody></table>'


def _meta(meta: dict[str, str]) -> str:
    return (
        "<dl class='meta'>"
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta.items())
        + "</dl>"
    )


def render(
    title: str,
    description: str,
    meta: dict[str, str],
    document: dict[str, Any],
    pictures: Pictures,
    confidence: float,
) -> str:
    """The whole page as text."""
    order = [c["name"] for c in document["configurations"]]
    level = f"{round(100 * confidence)}%"
    sections = [
        (
            "Summary",
            summary_table(document, confidence)
            + f"<p class='lead'>Scores are dataset-level (every pixel of the split pooled). Each "
            f"interval is the {level} percentile bootstrap over the images; Δ is the paired "
            f"bootstrap difference to the baseline (the same resampled images for both), in "
            f"<span class='better'>green</span> or <span class='worse'>red</span> when its "
            f"interval excludes 0, grey when the difference is within noise. With several "
            f"seeds a value is their mean ± standard deviation. Click a header to sort.</p>",
        ),
        ("Per-class IoU", heat_table(document)),
    ]
    if document["two_way"]:
        sections.append(("Main effects", two_way_section(document["two_way"])))
    sections += [
        (
            "Training curves",
            _figure(
                pictures.curves,
                "training curves",
                "Validation mIoU and loss per epoch, every run (the losses of different loss "
                "functions are not on one scale).",
            ),
        ),
        (
            "Accuracy against cost",
            _figure(
                pictures.cost,
                "accuracy against cost",
                "Each configuration by its number in the summary; the red steps join the "
                "Pareto front (no other configuration is both cheaper and better).",
            ),
        ),
        ("Side by side", examples_section(pictures, order)),
        (
            "Worst images of each run",
            "<p class='lead'>The images where each run scores its lowest own mIoU.</p>"
            + worst_section(pictures),
        ),
        (
            "Confusion matrices",
            "<p class='lead'>Rows: true class, normalised; columns: predicted class.</p>"
            + confusion_section(pictures),
        ),
        ("Runs", runs_table(document)),
    ]
    body = "".join(f"<h2>{_e(name)}</h2>{content}" for name, content in sections)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class='lead'>{_e(description)}</p>{_meta(meta)}{body}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
