"""Exact resume: after a kill at any moment, a run continues from its last finished epoch."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from pixelwise.cli import main

TINY = {
    "model": {"name": "unet", "options": {"base_width": 4, "depth": 2}},
    "data": {
        "name": "synthetic",
        "options": {"size": 32, "seed": 3},
        "split_options": {"train": {"num_images": 16}, "val": {"num_images": 3}},
        "batch_size": 4,
    },
    "train": {"epochs": 2, "accelerator": "cpu", "lr": 0.01},
}


def config_file(folder: Path, epochs: int) -> Path:
    file = folder / f"tiny-{epochs}.yaml"
    file.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": epochs}}))
    return file


def rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def train(folder: Path, run: Path, epochs: int, *flags: str) -> int:
    return main(["train", "--config", str(config_file(folder, epochs)), "--out", str(run), *flags])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    """The metrics of an uninterrupted six-epoch run."""
    folder = tmp_path_factory.mktemp("reference")
    assert train(folder, folder / "run", 6) == 0
    return rows(folder / "run")


def test_kill_during_training_then_resume_continues_exactly(
    tmp_path: Path, reference: list[dict[str, str]]
) -> None:
    run = tmp_path / "run"
    command = ["train", "--config", str(config_file(tmp_path, 6)), "--out", str(run)]
    child = subprocess.Popen(
        [sys.executable, "-m", "pixelwise", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not ((run / "metrics.csv").exists() and len(rows(run)) >= 2):
        assert child.poll() is None and time.monotonic() < deadline, "the run ended too soon"
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    written = (run / "metrics.csv").read_text().splitlines()
    finished = len(written) - 1
    assert 2 <= finished < 6, "kill after the second finished epoch, before the last"

    assert main(["train", "--out", str(run), "--resume"]) == 0
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines[: len(written)] == written  # rows written before the kill, byte for byte
    resumed = rows(run)
    assert [int(r["epoch"]) for r in resumed] == list(range(6))  # no epoch twice, none missing
    assert [r["lr"] for r in resumed] == [r["lr"] for r in reference]  # the schedule continued


def test_extending_a_finished_run_follows_the_longer_schedule(
    tmp_path: Path, reference: list[dict[str, str]]
) -> None:
    run = tmp_path / "run"
    assert train(tmp_path, run, 3) == 0
    short = rows(run)
    assert float(short[-1]["lr"]) < float(reference[2]["lr"])  # the 3-epoch curve ended lower
    assert main(["train", "--out", str(run), "--resume", "--epochs", "6"]) == 0
    extended = rows(run)
    assert extended[:3] == short
    assert [r["lr"] for r in extended[3:]] == [r["lr"] for r in reference[3:]]


def test_a_corrupt_last_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    assert train(tmp_path, run, 2) == 0
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:100])
    with caplog.at_level("WARNING", logger="pixelwise"):
        assert main(["train", "--out", str(run), "--resume", "--epochs", "3"]) == 0
    assert "cannot read checkpoint" in caplog.text and "previous.ckpt" in caplog.text
    assert [int(r["epoch"]) for r in rows(run)] == [0, 1, 2]


def test_a_corrupt_checkpoint_without_a_previous_one_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    assert train(tmp_path, run, 1) == 0
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(b"")
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2"]) == 2
    assert f"cannot read checkpoint '{last}'" in capsys.readouterr().err


def test_resume_with_a_changed_architecture_keeps_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    assert train(tmp_path, run, 1) == 0
    saved = (run / "config.yaml").read_bytes()
    flags = ["--resume", "--epochs", "2", "--model-option", "base_width=8"]
    assert main(["train", "--out", str(run), *flags]) == 2
    assert "--resume cannot change model.options.base_width (the run has 4, now 8)" in (
        capsys.readouterr().err
    )
    assert (run / "config.yaml").read_bytes() == saved
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2"]) == 0


class RunsCode:
    """Unpickling this object creates ``marker``: what a crafted checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("force_unsafe", [False, True])
def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path, force_unsafe: bool) -> None:
    run = tmp_path / "run"
    assert train(tmp_path, run, 1) == 0
    marker = tmp_path / "code-ran"
    torch.save({"state_dict": {}, "payload": RunsCode(marker)}, run / "checkpoints" / "last.ckpt")
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1" if force_unsafe else "0"}
    command = ["train", "--out", str(run), "--resume", "--epochs", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "pixelwise", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert not marker.exists()
    assert done.returncode == 2, done.stderr
    assert "cannot read checkpoint" in done.stderr and "Traceback" not in done.stderr
