"""The bfloat16 backends: close to eager within bfloat16's rounding, offered only where
the CPU computes in bfloat16, and a clear error elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pixelwise
from pixelwise.api import export_model
from pixelwise.cli import main
from pixelwise.errors import PixelwiseError
from pixelwise.export import bfloat16
from pixelwise.inference.backends import BF16_BACKENDS, installed_backends
from pixelwise.inference.parity import compare_logits

NO_BF16 = "this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16)"
# bfloat16 keeps 8 bits of mantissa: a relative rounding of 2^-9 per value, compounded
# over the layers; the logits stay within this fraction of their largest magnitude
BF16_RELATIVE_ERROR = 0.05


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (97, 131, 3), dtype=np.uint8)


@pytest.fixture
def cpu_without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bfloat16.torch.cpu, "get_capabilities", lambda: {"avx512_f": True})


def assert_bfloat16_close(model: Path, backend: str, eager: pixelwise.Segmenter) -> None:
    """``model`` on ``backend`` computes in bfloat16, within its rounding of ``eager``."""
    picture = image(0)
    reference = eager.logits(picture)
    segmenter = pixelwise.load(model, device="cpu", backend=backend)
    assert segmenter.backend.name == backend
    logits = segmenter.logits(picture)
    assert logits.dtype == torch.float32 and logits.shape == reference.shape
    parity = compare_logits(reference, logits)
    assert parity.max_abs_diff > 1e-6, backend  # not float32: bfloat16's rounding shows
    assert parity.max_abs_diff <= BF16_RELATIVE_ERROR * reference.abs().max().item(), backend
    assert segmenter.predict(picture).shape == picture.shape[:2]


@pytest.mark.skipif(not bfloat16.cpu_has_bf16(), reason=NO_BF16)
def test_bf16_backends_compute_in_bfloat16_close_to_eager(tiny_saved_model: Path) -> None:
    runnable = [b for b in BF16_BACKENDS if b in installed_backends()]
    assert "torch-bf16" in runnable  # needs no optional package
    eager = pixelwise.load(tiny_saved_model, device="cpu")
    for backend in runnable:
        assert_bfloat16_close(tiny_saved_model, backend, eager)


@pytest.mark.skipif(not bfloat16.cpu_has_bf16(), reason=NO_BF16)
def test_exported_folders_run_on_openvino_bf16(tiny_saved_model: Path, tmp_path: Path) -> None:
    pytest.importorskip(
        "onnxscript", reason="onnxscript not installed (pip install 'pixelwise[onnx]')"
    )
    pytest.importorskip(
        "openvino", reason="openvino not installed (pip install 'pixelwise[openvino]')"
    )
    eager = pixelwise.load(tiny_saved_model, device="cpu")
    for fmt in ("onnx", "openvino"):
        folder = export_model(tiny_saved_model, tmp_path / fmt, fmt)
        assert_bfloat16_close(folder, "openvino-bf16", eager)


def test_bf16_backends_are_not_offered_without_bf16_instructions(
    cpu_without_bf16: None, tiny_saved_model: Path
) -> None:
    assert not set(BF16_BACKENDS) & set(installed_backends())
    with pytest.raises(PixelwiseError, match="torch-bf16 needs a CPU with bfloat16"):
        pixelwise.load(tiny_saved_model, device="cpu", backend="torch-bf16")


def test_predict_on_bf16_without_instructions_is_one_error_line(
    cpu_without_bf16: None, tiny_saved_model: Path, tmp_path: Path, capsys
) -> None:
    picture = tmp_path / "a.png"
    Image.fromarray(image(1)).save(picture)
    out = tmp_path / "out"
    argv = ["predict", str(tiny_saved_model), str(picture), "--out", str(out)]
    assert main([*argv, "--backend", "torch-bf16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: backend torch-bf16 needs a CPU")
    assert not out.exists()
