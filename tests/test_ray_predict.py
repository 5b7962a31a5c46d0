"""``predict --engine ray``: byte-identical files to local predict, resume, bad files.

The Ray scenario runs in a child process with a time limit (:mod:`bounded`), which starts
a local Ray instance with ``ray.init(num_cpus=2, include_dashboard=False)``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bounded import run_scenario
from conftest import save_tiny_unet
from pixelwise.cli import main
from pixelwise.inference.threads import torch_threads
from pixelwise.ownership import MANIFEST

RAY_MISSING = "ray[data] is not installed (pip install 'pixelwise[ray]')"
SIZES = {"a": (30, 40), "b": (30, 40), "c": (25, 33), "d": (30, 40), "e": (25, 33)}


def cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI here: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes), the summary and the manifest
    (which hold times) aside."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("summary.jsonl", MANIFEST)
    }


def summaries(folder: Path) -> list[dict]:
    """``summary.jsonl`` without the seconds (a time, not a result)."""
    lines = [json.loads(line) for line in (folder / "summary.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "seconds"} for line in lines]


def write_inputs(folder: Path) -> None:
    """Five images of two sizes, a file that is no image, and a PNG cut after its header
    (its header reads, its pixels do not decode)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for stem, shape in SIZES.items():
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(
            folder / f"{stem}.png"
        )
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    whole = (folder / "a.png").read_bytes()
    (folder / "cut.png").write_bytes(whole[: len(whole) // 2])


def ray_predict_scenario(root: Path) -> None:
    """Run in a child process (see the module docstring); every check is an assert."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    model, inputs = save_tiny_unet(root / "model"), root / "in"
    write_inputs(inputs)
    flags = ["--overlay", "--probabilities", "--summary", "--skip-bad", "--batch-size", "2"]
    local, on_ray = root / "local", root / "ray"
    # PyTorch's CPU convolutions round differently with the thread count, and Ray starts
    # each actor of a fraction of a CPU with one thread: so does the local reference
    with torch_threads(1):
        status, _, err = cli("predict", str(model), str(inputs), "--out", str(local),
                             "--workers", "0", *flags)  # fmt: skip
    assert status == 0, err
    status, out, err = cli("predict", str(model), str(inputs), "--out", str(on_ray),
                           "--engine", "ray", "--workers", "2", *flags)  # fmt: skip
    assert status == 0, err
    assert "predicted 5 image(s)" in out and "2 bad input(s)" in out
    # the same files, byte for byte (labels with their receipts, overlays, probabilities,
    # errors.jsonl), and the same summary lines
    assert files(on_ray) == files(local)
    assert sorted(p.name for p in on_ray.glob("*.png")) == [f"{s}.png" for s in SIZES]
    errors = [json.loads(line) for line in (on_ray / "errors.jsonl").read_text().splitlines()]
    assert [Path(e["input"]).name for e in errors] == ["broken.png", "cut.png"]
    assert summaries(on_ray) == summaries(local)
    # resume: delete every output of d and e, and c's overlay; only c, d and e are redone,
    # in the batches they had ([d], [c, e]: a forward pass's last bits depend on its batch)
    before = {p: p.stat().st_mtime_ns for p in on_ray.rglob("*.png")}
    for path in [*on_ray.rglob("d.*"), *on_ray.rglob("e.*"), on_ray / "overlay" / "c.png"]:
        path.unlink()
    status, out, _ = cli("predict", str(model), str(inputs), "--out", str(on_ray),
                         "--engine", "ray", *flags)  # fmt: skip
    assert status == 0 and "predicted 3 image(s)" in out and "skipped 2 image(s)" in out, out
    assert files(on_ray) == files(local)
    kept = [p for p in before if p.stem in ("a", "b")]
    assert len(kept) == 6 and all(p.stat().st_mtime_ns == before[p] for p in kept)
    # local outputs are complete for the Ray engine too: nothing to do
    status, out, _ = cli("predict", str(model), str(inputs), "--out", str(local),
                         "--engine", "ray", *flags)  # fmt: skip
    assert status == 0 and "predicted 0 image(s)" in out and "skipped 5 image(s)" in out, out
    # without --skip-bad: a bad header stops the run before anything is written ...
    status, _, err = cli("predict", str(model), str(inputs), "--out", str(root / "no"),
                         "--engine", "ray")  # fmt: skip
    assert status == 2 and "1 of 7 inputs cannot be predicted" in err and "broken.png" in err, err
    assert not (root / "no").exists()
    # ... and a file that fails to decode stops it with its reason, as locally
    status, _, err = cli("predict", str(model), str(inputs / "cut.png"), "--out",
                         str(root / "cut"), "--engine", "ray")  # fmt: skip
    assert status == 2 and "cut.png" in err and not (root / "cut" / "cut.png").exists()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason=RAY_MISSING)
def test_ray_predict_equals_local_predict_resumes_and_skips_bad_files(tmp_path: Path) -> None:
    pytest.importorskip("ray.data", reason=RAY_MISSING)
    run_scenario("test_ray_predict", "ray_predict_scenario", tmp_path, timeout=420)


def test_a_missing_ray_is_one_error_line(
    tiny_unet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import pixelwise.distributed as distributed

    monkeypatch.setattr(distributed, "find_spec", lambda name: None)
    write_inputs(tmp_path / "in")
    assert main(["predict", str(tiny_unet), str(tmp_path / "in" / "a.png"), "--out",
                 str(tmp_path / "out"), "--engine", "ray"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert 'pip install "pixelwise[ray]"' in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--address", "auto"], "--address applies to --engine ray"),
        (["--gpus-per-worker", "1"], "--gpus-per-worker applies to --engine ray"),
        (["--engine", "ray", "--workers", "0"], "--workers must be at least 1 on Ray"),
        (["--engine", "ray", "--cpus-per-worker", "0"], "--cpus-per-worker must be positive"),
    ],
)
def test_ray_flags_are_checked(
    tiny_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    write_inputs(tmp_path / "in")
    args = ["predict", str(tiny_unet), str(tmp_path / "in" / "a.png"), "--out", str(tmp_path / "o")]
    assert main([*args, *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_inputs_as_globs_and_manifests(
    tiny_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model, inputs = tiny_unet, tmp_path / "in"
    write_inputs(inputs)
    (inputs / "more").mkdir()
    shutil.copy(inputs / "b.png", inputs / "more" / "f.png")
    manifest = tmp_path / "list.txt"
    manifest.write_text("# two images\nin/c.png\n\n" + str(inputs / "more" / "f.png") + "\n")
    out = tmp_path / "out"
    assert main(["predict", str(model), str(inputs / "[ab].png"), str(manifest), "--out",
                 str(out), "--summary", "--workers", "0"]) == 0  # fmt: skip
    lines = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert [Path(line["input"]).name for line in lines] == ["a.png", "b.png", "c.png", "f.png"]
    # a glob's folder is an input folder: outputs may not land in it
    assert main(["predict", str(model), str(inputs / "[ab].png"), "--out", str(inputs)]) == 2
    assert "input folder" in capsys.readouterr().err
    manifest.write_text("in/missing.png\n")
    assert main(["predict", str(model), str(manifest), "--out", str(out)]) == 2
    assert "line 1: '" in capsys.readouterr().err
    assert main(["predict", str(model), str(inputs / "*.tif"), "--out", str(out)]) == 2
    assert "matches no image file" in capsys.readouterr().err
