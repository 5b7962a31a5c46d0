"""The cases of an adversarial audit of every command, each reproduced as a hostile or
careless user would run it: nothing of the user's is lost, wrong, or answered by a
traceback. (The server's cases are in ``test_audit_serve.py``.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from pixelwise.cli import main
from pixelwise.compare.grid import load_grid
from pixelwise.data.png_chunks import add_text_chunk, remove_text_chunk
from pixelwise.errors import PixelwiseError
from pixelwise.inference.outputs import RECEIPT_KEY, read_receipt
from pixelwise.models.saving import CONFIG_FILE
from pixelwise.ownership import MANIFEST
from pixelwise.rundir import RunDir
from tiny_run import TINY, write_config

SYNTHETIC = ["--data", "synthetic", "--data-option", "size=32", "--data-option", "num_images=2"]


def error_of(capsys: pytest.CaptureFixture) -> str:
    """The one ``error:`` line the command printed (and nothing like a traceback)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)).save(
            folder / f"{name}.png"
        )
    return folder


# --- data loss -------------------------------------------------------------------------


def test_reexport_keeps_the_users_files_and_refuses(
    tiny_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "exported"
    argv = ["export", str(tiny_unet), "--format", "torchscript", "--out", str(out)]
    assert main(argv) == 0
    assert main(argv) == 0  # only export's own files there: replaced
    (out / "NOTES.md").write_text("x")
    (out / "app").mkdir()
    (out / "app" / "server.py").write_text("y")
    before = contents(out)
    assert main(argv) == 2
    assert "NOTES.md" in error_of(capsys) and contents(out) == before


def test_reexport_refuses_an_exported_file_the_user_changed(
    tiny_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "exported"
    argv = ["export", str(tiny_unet), "--format", "torchscript", "--out", str(out)]
    assert main(argv) == 0
    card = out / CONFIG_FILE
    card.write_text(card.read_text().replace('"c0"', '"sky"'))
    assert main(argv) == 2
    assert "config.json" in error_of(capsys) and '"sky"' in card.read_text()


def test_evaluate_out_keeps_the_users_metrics(
    tiny_saved_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.json").write_text("my own notes")
    (out / "confusion.png").write_bytes(b"my picture")
    argv = ["evaluate", str(tiny_saved_model), *SYNTHETIC, "--out", str(out)]
    assert main(argv) == 2
    assert "metrics.json" in error_of(capsys)
    assert (out / "metrics.json").read_text() == "my own notes"
    assert (out / "confusion.png").read_bytes() == b"my picture"
    fresh = tmp_path / "fresh"
    assert main([*argv[:-1], str(fresh)]) == 0
    assert main([*argv[:-1], str(fresh)]) == 0  # evaluate's own files: replaced
    written = json.loads((fresh / MANIFEST).read_text())["files"]
    assert set(written) == {"metrics.json", "confusion.png"}
    assert {entry["command"] for entry in written.values()} == {"evaluate"}


def test_data_inspect_out_keeps_the_users_files(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    for name in ("report.json", "samples.png", "class_frequencies.png"):
        (out / name).write_text(f"my {name}")
    before = contents(out)
    argv = ["data", "inspect", *SYNTHETIC, "--split", "train", "--out", str(out)]
    assert main(argv) == 2
    assert "report.json" in error_of(capsys) and contents(out) == before
    (out / "report.json").unlink()  # one of the user's files gone: the others still block
    assert main(argv) == 2
    assert "samples.png" in error_of(capsys)


def test_data_inspect_replaces_its_own_report(tmp_path: Path) -> None:
    out = tmp_path / "inspect"
    argv = ["data", "inspect", *SYNTHETIC, "--split", "train", "--out", str(out)]
    assert main(argv) == 0 and main(argv) == 0
    assert json.loads((out / "report.json").read_text())["num_samples"] == 2


def test_predict_summary_keeps_a_users_file(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.jsonl").write_text('{"input": "my own log"}\n')
    argv = ["predict", str(tiny_unet), str(images), "--out", str(out), "--workers", "0"]
    assert main([*argv, "--summary"]) == 2
    assert "summary.jsonl" in error_of(capsys)
    assert (out / "summary.jsonl").read_text() == '{"input": "my own log"}\n'


# --- wrong results and late checks --------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_train_refuses_a_saved_model_folder_as_out(
    tiny_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture, overwrite: list[str]
) -> None:
    before = contents(tiny_unet)
    config = write_config(tmp_path)
    assert main(["train", "--config", str(config), "--out", str(tiny_unet), *overwrite]) == 2
    assert "saved model" in error_of(capsys)
    assert contents(tiny_unet) == before and not (tiny_unet / "model").exists()


def test_train_refuses_more_devices_than_the_machine_or_the_data_allow(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    config = write_config(tmp_path)
    argv = ["train", "--config", str(config), "--out", str(out), "--accelerator", "cpu"]
    assert main([*argv, "--devices", "8"]) == 2
    line = error_of(capsys)  # this machine's cores, or (with 8 or more) the data's batches
    assert "--devices 8: this machine has" in line or "8 training processes" in line
    assert not out.exists()


def test_more_processes_than_batches_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pixelwise.config import TrainSection
    from pixelwise.engine import hardware

    train = TrainSection(accelerator="cpu", devices=4)
    with pytest.raises(PixelwiseError, match="8 training samples an epoch: 2 each"):
        hardware.check_batches(train, samples=8, batch_size=4)
    hardware.check_batches(train, samples=16, batch_size=4)  # one batch each
    monkeypatch.setattr(hardware.os, "cpu_count", lambda: 2)
    with pytest.raises(PixelwiseError, match="--devices 4: this machine has 2 CPU cores"):
        hardware.trainer_hardware(train)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_train_on_a_gpu_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = write_config(tmp_path)
    argv = ["train", "--config", str(config), "--out", str(tmp_path / "run")]
    assert main([*argv, "--accelerator", "gpu"]) == 2
    assert "--accelerator gpu: this machine has no such device" in error_of(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--class-weights", "1,2"], "2 class weights given, expected one per class (4)"),
        (["--init-from", "nowhere"], "nowhere"),
        (["--encoder-weights", "imagenet"], "encoder"),
        (["--devices", "64", "--accelerator", "cpu"], "--devices 64"),
    ],
)
def test_train_errors_come_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    out = tmp_path / "run"
    config = write_config(tmp_path)
    assert main(["train", "--config", str(config), "--out", str(out), *flags]) == 2
    assert message in error_of(capsys)
    assert not out.exists()


def test_train_refuses_an_unknown_augmentation_step_first(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    config = tmp_path / "augment.yaml"
    config.write_text(
        yaml.safe_dump({**TINY, "data": {**TINY["data"], "augment": [{"name": "x"}]}})
    )
    assert main(["train", "--config", str(config), "--out", str(out)]) == 2
    assert "'x'" in error_of(capsys) and not out.exists()
    assert main(["train", "--config", str(write_config(tmp_path)), "--out", str(out)]) == 0


@pytest.mark.parametrize("kind", ["exported", "classical"])
def test_init_from_a_model_without_weights_is_refused_first(
    tiny_unet: Path, tmp_path: Path, capsys: pytest.CaptureFixture, kind: str
) -> None:
    source = tmp_path / kind
    if kind == "exported":
        assert (
            main(["export", str(tiny_unet), "--format", "torchscript", "--out", str(source)]) == 0
        )
    else:
        config = write_config(tmp_path)
        argv = ["train", "--config", str(config), "--out", str(source), "--method", "otsu"]
        assert main(argv) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    config = write_config(tmp_path)
    assert (
        main(["train", "--config", str(config), "--out", str(out), "--init-from", str(source)]) == 2
    )
    assert str(source) in error_of(capsys) and not out.exists()


def test_predict_reports_dangling_and_looping_links(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (images / "dangling.png").symlink_to(tmp_path / "gone.png")
    (images / "loop.png").symlink_to(images / "loop.png")
    out = tmp_path / "out"
    argv = ["predict", str(tiny_unet), str(images), "--out", str(out), "--workers", "0"]
    assert main(argv) == 2
    line = error_of(capsys)
    assert "2 of 4 inputs cannot be predicted" in line and "dangling" in line
    assert main([*argv, "--skip-bad"]) == 0
    errors = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    assert [Path(e["input"]).name for e in errors] == ["dangling.png", "loop.png"]
    assert (out / "a.png").is_file() and (out / "b.png").is_file()


def test_evaluate_waits_for_no_run_but_refuses_while_it_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    assert main(["train", "--config", str(write_config(tmp_path)), "--out", str(run)]) == 0
    metrics = run / "eval-val" / "metrics.json"
    before = metrics.read_bytes()
    with RunDir(run).lock():  # as a training process holds it
        assert main(["evaluate", str(run)]) == 2
    assert "in use by another pixelwise command" in error_of(capsys)
    assert metrics.read_bytes() == before
    assert main(["evaluate", str(run)]) == 0  # the run's own metrics: replaced


# --- tracebacks where one error line belongs -------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--size", "0", "0"], "--size must be two positive sides"),
        (["--size", "-5", "32"], "--size must be two positive sides"),
        (["--size", "100000", "100000"], "10,000,000,000 pixels"),
        (["--repeats", "0"], "--repeats must be at least 1"),
        (["--threads", "0"], "--threads must be at least 1"),
    ],
)
def test_bench_refuses_bad_numbers(
    tiny_unet: Path, capsys: pytest.CaptureFixture, flags: list[str], message: str
) -> None:
    assert main(["bench", str(tiny_unet), "--backends", "torch", *flags]) == 2
    assert message in error_of(capsys)


def _with_receipt(label: Path, receipt: dict) -> None:
    png = remove_text_chunk(label.read_bytes(), RECEIPT_KEY)
    label.write_bytes(add_text_chunk(png, RECEIPT_KEY, json.dumps(receipt)))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: {**r, "outputs": "overlay.png"},
        lambda r: {**r, "outputs": ["overlay.png"]},
        lambda r: {**r, "outputs": {"overlay": {"bytes": 1, "sha256": "0"}}},
        lambda r: {**r, "outputs": {"overlay": {"path": "../../x", "bytes": 1, "sha256": "0"}}},
        lambda r: {**r, "summary": None},
        lambda r: {**r, "input_bytes": "12"},
    ],
)
def test_a_tampered_receipt_is_refused_in_one_line(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture, tamper
) -> None:
    out = tmp_path / "out"
    argv = ["predict", str(tiny_unet), str(images), "--out", str(out), "--workers", "0"]
    assert main([*argv, "--overlay"]) == 0
    label = out / "a.png"
    receipt = json.loads(Image.open(label).info[RECEIPT_KEY])
    _with_receipt(label, tamper(receipt))
    assert read_receipt(label) is None
    assert main([*argv, "--overlay", "--summary"]) == 2
    assert "a.png' exists and was not written by pixelwise predict" in error_of(capsys)


def _card_with(model: Path, tmp_path: Path, **changes: object) -> Path:
    folder = tmp_path / "edited"
    folder.mkdir()
    for file in model.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    card = json.loads((folder / CONFIG_FILE).read_text())
    card.update(changes)
    (folder / CONFIG_FILE).write_text(json.dumps(card))
    return folder


@pytest.mark.parametrize(
    "colours", [[[0, 0, 0], [300, 0, 0], [0, 0, 255]], [[0, 0], [255, 0, 0], [0, 0, 255]]]
)
def test_card_colours_are_checked_with_the_card(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture, colours
) -> None:
    folder = _card_with(tiny_unet, tmp_path, colours=colours)
    out = tmp_path / "out"
    assert main(["predict", str(folder), str(images), "--out", str(out)]) == 2
    line = error_of(capsys)
    assert "config.json" in line and "colours must be a list of [R, G, B]" in line
    assert not out.exists()


def test_card_format_version_and_scaling_name_the_card(
    tiny_unet: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import pixelwise

    newer = _card_with(tiny_unet, tmp_path, format_version=99)
    with caplog.at_level("WARNING", logger="pixelwise"):
        pixelwise.load(newer)
    assert "format_version 99, from a newer pixelwise" in caplog.text
    (tmp_path / "edited").rename(tmp_path / "newer")
    card = json.loads((tiny_unet / CONFIG_FILE).read_text())
    zero = _card_with(tiny_unet, tmp_path, pixel_scaling={**card["pixel_scaling"], "uint16_max": 0})
    with pytest.raises(PixelwiseError, match=r"invalid model config '.*config\.json': uint16_max"):
        pixelwise.load(zero)


def test_a_repeated_yaml_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("train:\n  epochs: 3\n  lr: 0.1\n  epochs: 5\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "at line 4, column 3: the key 'epochs' is repeated" in error_of(capsys)


def test_max_memory_messages_carry_their_units(
    tiny_unet: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["predict", str(tiny_unet), str(images), "--out", str(tmp_path / "o"), "--workers", "0"]
    assert main([*argv, "--max-memory", "1"]) == 2
    line = error_of(capsys)
    assert "0.0 GiB" not in line and "above --max-memory 1 byte" in line


def test_a_grid_error_quotes_a_short_excerpt(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("secret line\n" * 200)
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: notes.txt\naxes: {model.options.base_width: [4]}\n")
    with pytest.raises(PixelwiseError) as caught:
        load_grid(grid)
    message = str(caught.value)
    assert message.count("secret line") <= 5 and message.endswith("(2,401 characters)")


# --- run names of a comparison ----------------------------------------------------------


def _grid(tmp_path: Path, axes: dict) -> Path:
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": TINY, "axes": axes}))
    return grid


def test_an_axis_key_cannot_escape_the_comparison(tmp_path: Path) -> None:
    grid = load_grid(_grid(tmp_path, {"a./tmp/x": {"v1": {"train.epochs": 1}}}))
    (run,) = grid.runs(tmp_path / "out" / "runs")
    assert run.name == "tmp-x=v1,seed=0"
    assert Path(run.config.out).parent == tmp_path / "out" / "runs"


def test_a_negative_value_keeps_its_sign_in_run_names(tmp_path: Path) -> None:
    with pytest.raises(PixelwiseError) as caught:
        load_grid(_grid(tmp_path, {"model.options.base_width": [-4, 4]}))
    assert "same name" not in str(caught.value) and "base_width=-4" in str(caught.value)


def test_an_axis_ending_in_seed_keeps_its_full_key(tmp_path: Path) -> None:
    grid = load_grid(_grid(tmp_path, {"data.options.seed": [1, 2]}))
    names = [run.name for run in grid.runs(tmp_path / "runs")]
    assert names == ["data.options.seed=1,seed=0", "data.options.seed=2,seed=0"]
    with pytest.raises(PixelwiseError, match="give seeds"):
        load_grid(_grid(tmp_path, {"seed": [1, 2]}))


def test_compare_resumes_a_run_that_was_killed_after_its_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    grid = _grid(tmp_path, {"model.options.base_width": [4]})
    out = tmp_path / "out"
    run = out / "runs" / "base_width=4,seed=0"
    RunDir(run).mark("compare")  # a run claimed, then killed before anything else
    (out / ".pixelwise-compare").write_text('{"format": "pixelwise-compare"}\n')
    assert main(["compare", str(grid), "--out", str(out)]) == 0, capsys.readouterr().err


def test_compare_names_its_own_run_folder_as_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    RunDir(run).mark("compare")
    grid = _grid(tmp_path, {"model.options.base_width": [4]})
    assert main(["compare", str(grid), "--out", str(run), "--dry-run"]) == 2
    assert "holds a run made by `pixelwise compare`, not a comparison" in error_of(capsys)


def test_compare_of_a_grids_runs_into_its_own_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    grid = _grid(tmp_path, {"model.options.base_width": [4, 6]})
    out = tmp_path / "out"
    assert main(["compare", str(grid), "--out", str(out)]) == 0
    runs = sorted(str(p) for p in (out / "runs").iterdir())
    assert main(["compare", *runs, "--out", str(out)]) == 0, capsys.readouterr().err
    document = json.loads((out / "results.json").read_text())
    assert [r["configuration"] for r in document["runs"]] == [Path(r).name for r in runs]


# --- SIGTERM ------------------------------------------------------------------------------


def test_predict_stopped_by_sigterm_leaves_no_temporary_file(
    tiny_unet: Path, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pixelwise.cli import main
        from pixelwise.inference import outputs

        def stalled(self, text=None):
            print("writing", flush=True)
            time.sleep(60)

        outputs._ArrayWriter.finish = stalled
        sys.exit(main(["predict", {str(tiny_unet)!r}, {str(images)!r}, "--out", {str(out)!r},
                       "--workers", "0"]))
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "writing"
        assert list(out.rglob(".*.tmp"))  # the label's temporary file is there
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM and "terminated" in err
    assert not list(out.rglob(".*.tmp")) and "Traceback" not in err
    assert os.path.isdir(out)


def test_a_runs_eval_folder_is_the_runs_whatever_its_version(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    assert main(["train", "--config", str(write_config(tmp_path)), "--out", str(run)]) == 0
    (run / "eval-val" / MANIFEST).unlink()  # as a run of an earlier version left it
    assert main(["evaluate", str(run)]) == 0
    (run / "eval-val" / "notes.txt").write_text("mine")
    assert main(["evaluate", str(run)]) == 2
    assert "notes.txt" in error_of(capsys)
