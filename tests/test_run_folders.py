"""Run folders: nothing of a user's is deleted, one writer at a time, readable outputs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixelwise.cli import main
from pixelwise.rundir import RunDir
from tiny_run import write_config


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    run = root / "run"
    assert main(["train", "--config", str(write_config(root)), "--out", str(run)]) == 0
    return run


def test_a_typo_with_overwrite_deletes_nothing(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(finished_run)
    argv = ["train", "--config", str(write_config(tmp_path)), "--out", str(finished_run)]
    assert main([*argv, "--overwrite", "--model", "unett"]) == 2
    assert "unknown model 'unett'" in capsys.readouterr().err
    assert snapshot(finished_run) == before


def test_a_folder_that_is_not_a_run_is_never_emptied(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "mine"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "notes.txt").write_text("my notes")
    (folder / "metrics.csv").write_text("a,b\n1,2\n")
    (folder / "eval-notes").mkdir()
    (folder / "eval-notes" / "x.txt").write_text("x")
    before = snapshot(folder)
    config = write_config(tmp_path)
    for extra in ([], ["--overwrite"]):
        assert main(["train", "--config", str(config), "--out", str(folder), *extra]) == 2
        assert "is not a pixelwise run" in capsys.readouterr().err
    assert snapshot(folder) == before


def test_overwrite_keeps_files_beside_the_run_and_refuses_files_inside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    argv = ["train", "--config", str(write_config(tmp_path)), "--out", str(run)]
    assert main(argv) == 0
    (run / "notes.txt").write_text("beside the run")
    assert main([*argv, "--overwrite"]) == 0
    assert (run / "notes.txt").read_text() == "beside the run"
    (run / "model" / "mine.txt").write_text("inside the model folder")
    before = snapshot(run)
    assert main([*argv, "--overwrite"]) == 2
    assert "mine.txt" in capsys.readouterr().err
    assert snapshot(run) == before


def test_without_overwrite_an_existing_run_is_an_error(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(finished_run)
    argv = ["train", "--config", str(write_config(tmp_path)), "--out", str(finished_run)]
    assert main(argv) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert snapshot(finished_run) == before


def test_the_demo_does_not_replace_another_run(
    finished_run: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(finished_run)
    assert main(["demo", "--out", str(finished_run), "--epochs", "1"]) == 2
    assert "holds a run made by `pixelwise train`" in capsys.readouterr().err
    assert snapshot(finished_run) == before


def test_outputs_get_the_umasks_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        run = tmp_path / "run"
        assert main(["train", "--config", str(write_config(tmp_path)), "--out", str(run)]) == 0
    finally:
        os.umask(old)
    for path in [run / "config.yaml", run / "metrics.csv", *(run / "model").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    for folder in (run / "model", run / "checkpoints", run / "eval-val"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
    assert stat.S_IMODE((run / "checkpoints" / "last.ckpt").stat().st_mode) == 0o644


def test_a_second_writer_is_refused_while_the_first_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = write_config(tmp_path, epochs=6)
    run = tmp_path / "run"
    argv = ["train", "--config", str(config), "--out", str(run)]
    first = subprocess.Popen(
        [sys.executable, "-m", "pixelwise", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / ".lock").exists() and first.poll() is None:
            assert time.monotonic() < deadline, "the first run never took its lock"
            time.sleep(0.05)
        assert main([*argv, "--overwrite"]) == 2
        message = capsys.readouterr().err
        assert f"in use by another pixelwise command (pid {first.pid} on" in message
    finally:
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 6  # the first run's six epochs, written by it alone
    assert not (run / ".lock").exists()


def test_a_killed_runs_lock_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text('{"pid": 999999, "host": "elsewhere", "started": 0}')
    with caplog.at_level("WARNING", logger="pixelwise"), RunDir(run).lock():
        assert str(os.getpid()) in (run / ".lock").read_text()
    assert "taking over the lock" in caplog.text and "pid 999999" in caplog.text
    assert not (run / ".lock").exists()


def test_evaluate_out_must_be_a_folder(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    file = tmp_path / "metrics.txt"
    file.write_text("mine")
    assert main(["evaluate", str(finished_run), "--out", str(file)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert file.read_text() == "mine"
