"""Export and backends through the workflows: predict, evaluate, INT8 calibration, bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelwise
from pixelwise.api import bench, export_model
from pixelwise.cli import main
from pixelwise.config import DataSection
from pixelwise.data.synthetic import SyntheticShapes
from pixelwise.data.transforms import rescale_image
from pixelwise.errors import PixelwiseError
from pixelwise.inference.benchmark import BackendTiming, timing_table
from pixelwise.inference.calibration import calibration_inputs
from pixelwise.inference.parity import Parity
from pixelwise.models.saving import load_model

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install 'pixelwise[onnx]')")
pytest.importorskip(
    "onnxruntime", reason="onnxruntime not installed (pip install 'pixelwise[onnx]')"
)
pytest.importorskip("onnxscript", reason="onnxscript not installed (pip install 'pixelwise[onnx]')")


def test_predict_on_onnxruntime_or_an_exported_folder_writes_the_eager_labels(
    tiny_saved_model: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "images"
    inputs.mkdir()
    for index, (picture, _) in enumerate(SyntheticShapes("val", num_images=6, size=(96, 80))):
        Image.fromarray(picture).save(inputs / f"{index}.png")
    exported = tmp_path / "onnx"
    assert main(["export", str(tiny_saved_model), "--format", "onnx", "--out", str(exported)]) == 0
    tiles = ["--tile", "64", "64"]
    runs = {}
    for name, model, flags in [
        ("torch", tiny_saved_model, ["--backend", "torch"]),
        ("onnxruntime", tiny_saved_model, ["--backend", "onnxruntime"]),
        ("exported", exported, []),
        ("torch tiled", tiny_saved_model, tiles),
        ("exported tiled", exported, tiles),
    ]:
        out = tmp_path / name.replace(" ", "-")
        assert main(["predict", str(model), str(inputs), "--out", str(out), *flags]) == 0
        runs[name] = [np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))]
    assert len(runs["torch"]) == 6
    for name, reference in [
        ("onnxruntime", "torch"),
        ("exported", "torch"),
        ("exported tiled", "torch tiled"),
    ]:
        pairs = zip(runs[name], runs[reference], strict=True)
        assert np.mean([np.mean(a == b) for a, b in pairs]) >= 0.9999, name


def test_evaluate_an_exported_folder_gives_the_eager_miou(
    tiny_saved_model: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "onnx"
    argv = ["export", str(tiny_saved_model), "--format", "onnx", "--out", str(exported)]
    assert main(argv) == 0
    scores = {}
    for name, model, backend in [
        ("eager", tiny_saved_model, []),
        ("onnx", exported, []),
        ("openvino", exported, ["--backend", "openvino"]),
    ]:
        if backend and not pixelwise.export.extras.installed("openvino"):
            continue
        out = tmp_path / f"eval-{name}"
        assert (
            main(["evaluate", str(model), "--data", "synthetic", "--out", str(out), *backend]) == 0
        )
        scores[name] = json.loads((out / "metrics.json").read_text())
    for name, metrics in scores.items():
        assert abs(metrics["miou"] - scores["eager"]["miou"]) <= 1e-4, name
        assert abs(metrics["pixel_accuracy"] - scores["eager"]["pixel_accuracy"]) <= 1e-4, name


def test_classical_methods_take_no_backend(tmp_path: Path) -> None:
    from pixelwise.classical.thresholds import FixedThreshold

    method = FixedThreshold(value=128)
    card = pixelwise.models.saving.ClassicalCard({}, SyntheticShapes("val", 1).info)
    with pytest.raises(PixelwiseError, match="runs networks"):
        pixelwise.Segmenter(method, card, backend="onnxruntime")


def test_calibration_inputs_are_what_the_network_sees(tiny_saved_model: Path) -> None:
    model, card = load_model(tiny_saved_model)
    dataset = SyntheticShapes("train", num_images=10, size=(72, 88))
    inputs = calibration_inputs(model, card, dataset, count=4, seed=3, progress=False)
    order = np.random.default_rng(3).permutation(10)[:4]
    assert len(inputs) == 4
    for x, index in zip(inputs, order, strict=True):
        picture = rescale_image(dataset[int(index)][0], 0.5)  # the card's working scale
        assert torch.equal(x, card.normalization.to_tensor(picture)[None])
    again = calibration_inputs(model, card, dataset, count=4, seed=3, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(inputs, again, strict=True))
    other = calibration_inputs(model, card, dataset, count=4, seed=4, progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(inputs, other, strict=True))
    assert len(calibration_inputs(model, card, dataset, count=50, progress=False)) == 10


def test_int8_export_is_quantised_and_close_to_float(
    tiny_saved_model: Path, tmp_path: Path
) -> None:
    data = DataSection(name="synthetic", options={"num_images": 12})
    out = export_model(
        tiny_saved_model, tmp_path / "int8", "onnx", calibrate_on=data, calibration_images=8
    )
    record = json.loads((out / "config.json").read_text())["export"]
    assert record["int8"] == {
        "calibration": {"data": "synthetic", "split": "train", "images": 8, "seed": 0}
    }
    graph = onnx.load(str(out / "model.onnx"))
    kinds = {node.op_type for node in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= kinds
    eager, int8 = pixelwise.load(tiny_saved_model, "cpu"), pixelwise.load(out, "cpu")
    agreement = np.mean(
        [
            np.mean(eager.predict(picture) == int8.predict(picture))
            for picture, _ in SyntheticShapes("val", num_images=4)
        ]
    )
    assert agreement >= 0.95


def test_int8_needs_calibration_and_onnx(tiny_saved_model: Path, capsys) -> None:
    argv = ["export", str(tiny_saved_model), "--out", "unused"]
    assert main([*argv, "--format", "onnx", "--int8"]) == 2
    assert "--int8 needs --calibrate-on" in capsys.readouterr().err
    assert main([*argv, "--format", "torchscript", "--int8", "--calibrate-on", "synthetic"]) == 2
    assert "use it with --format onnx" in capsys.readouterr().err
    assert not Path("unused").exists()


def test_bench_compares_backends_with_eager(tiny_saved_model: Path, tmp_path: Path) -> None:
    exported = [
        export_model(tiny_saved_model, tmp_path / "ts", "torchscript"),
        export_model(tiny_saved_model, tmp_path / "graph", "onnx", static_size=(64, 96)),
    ]
    rows = bench(
        tiny_saved_model,
        size=(64, 96),
        repeats=3,
        backends=["onnxruntime", "torch-channels-last"],
        exported=exported,
    )
    names = [row.backend for row in rows]
    assert names == [
        "torch",
        "onnxruntime",
        "torch-channels-last",
        "torch [ts]",
        "onnxruntime [graph]",
    ]
    assert rows[0].ratio == 1.0 and rows[0].parity.max_abs_diff == 0.0
    assert all(row.parity.close and row.median_ms > 0 for row in rows)
    table = timing_table(rows).splitlines()
    header = ("backend", "median ms", "ratio to eager", "max abs diff", "argmax agreement")
    assert all(column in table[0] for column in header)
    assert len(table) == 2 + len(rows) and table[2].startswith("torch ")


def test_bench_says_when_an_exported_folder_cannot_join(
    tiny_saved_model: Path, tmp_path: Path
) -> None:
    graph = export_model(tiny_saved_model, tmp_path / "graph", "onnx")
    with pytest.raises(PixelwiseError, match="runs on onnxruntime, openvino, openvino-bf16: none"):
        bench(tiny_saved_model, repeats=1, backends=["torch-channels-last"], exported=[graph])
    with pytest.raises(PixelwiseError, match="is not an exported folder"):
        bench(tiny_saved_model, repeats=1, exported=[tiny_saved_model])


def test_bench_table_marks_rows_outside_the_float_tolerances() -> None:
    close, loose = Parity(1e-7, 1.0, True), Parity(0.07, 0.997, False)
    rows = [
        BackendTiming("torch", 30.0, 1.0, close),
        BackendTiming("openvino-bf16", 15.0, 0.5, loose),
    ]
    table = timing_table(rows).splitlines()
    assert table[2].endswith("100.000%") and table[3].endswith("99.700% *")
    assert table[4].startswith("* outside the float parity tolerances (rtol 0.001")
    assert "bfloat16" in table[5] and len(table) == 6
    assert len(timing_table(rows[:1]).splitlines()) == 3  # no footnote when all are close


def test_opset_is_the_one_asked_for(tiny_saved_model: Path, tmp_path: Path, capsys) -> None:
    out = export_model(tiny_saved_model, tmp_path / "o20", "onnx", opset=20)
    assert json.loads((out / "config.json").read_text())["export"]["opset"] == 20
    graph = onnx.load(str(out / "model.onnx"))
    assert [o.version for o in graph.opset_import if o.domain == ""] == [20]
    argv = ["export", str(tiny_saved_model), "--format", "onnx", "--opset", "17"]
    assert main([*argv, "--out", str(tmp_path / "o17")]) == 2
    assert "--opset must be 18 to 23" in capsys.readouterr().err
