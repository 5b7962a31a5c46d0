"""A test's scenario run in a child process under a time limit.

Ray tests run this way: a hung cluster fails its test after ``timeout`` seconds instead of
stalling the suite, and Ray's processes (the child's session) are ended with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import pixelwise

TESTS = Path(__file__).resolve().parent


def run_scenario(module: str, scenario: str, folder: Path, timeout: float) -> str:
    """Run ``module.scenario(folder)`` (a function of a test module) in a new Python process
    in its own session; fail the test when it raises or runs past ``timeout`` seconds
    (then its whole process group is killed). Returns its output."""
    source = Path(pixelwise.__file__).resolve().parents[1]
    paths = [str(TESTS), str(source), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    code = f"import sys, pathlib, {module}; {module}.{scenario}(pathlib.Path(sys.argv[1]))"
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end_session(child.pid)
        output, _ = child.communicate()
        pytest.fail(f"{scenario} ran past {timeout:g} s; its output:\n{output[-4000:]}")
    _end_session(child.pid)  # whatever the child left running (Ray's processes)
    if child.returncode != 0:
        pytest.fail(f"{scenario} failed (exit {child.returncode}):\n{output[-6000:]}")
    return output


def _end_session(leader: int) -> None:
    """Kill what is left of the process group that the child ``leader`` started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, signal.SIGKILL)
