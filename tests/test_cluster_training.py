"""Training one model on 2 nodes, simulated on this machine (docs/cluster.md).

Two ``pixelwise train --num-nodes 2 --devices 1 --strategy ddp`` processes with
``NODE_RANK`` 0 and 1 and a localhost master (gloo on the CPU), started by hand and by
:func:`pixelwise.distributed.train.train_on_ray`. Both must finish; process 0 writes the
run, process 1 writes nothing.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bounded import run_scenario
from tiny_run import write_config

RUN_FILES = ["checkpoints", "config.yaml", "eval-val", "metrics.csv", "model"]
LIMIT_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_command(config: Path, out: Path) -> list[str]:
    """The command every node runs (only ``--out`` differs here, to tell who wrote what)."""
    flags = ["--num-nodes", "2", "--devices", "1", "--strategy", "ddp"]
    return [sys.executable, "-m", "pixelwise", "train", "--config", str(config), "--out", str(out),
            *flags]  # fmt: skip


def assert_written_by_process_0(root: Path) -> None:
    assert (
        sorted(p.name for p in (root / "node0").iterdir() if not p.name.startswith("."))
        == RUN_FILES
    )
    assert (root / "node0" / "eval-val" / "metrics.json").is_file()
    assert not (root / "node1").exists()


@pytest.mark.slow
def test_two_nodes_by_environment_variables(tmp_path: Path) -> None:
    config = write_config(tmp_path, accelerator="cpu")
    master = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    nodes = [
        subprocess.Popen(
            node_command(config, tmp_path / f"node{rank}"),
            env={**os.environ, **master, "NODE_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for rank in (0, 1)
    ]
    outputs = []
    try:
        for node in nodes:
            outputs.append(node.communicate(timeout=LIMIT_S)[0])
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
    assert [node.returncode for node in nodes] == [0, 0], outputs
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]
    assert "run directory:" in outputs[0]
    assert_written_by_process_0(tmp_path)


def train_on_ray_scenario(root: Path) -> None:
    """Run in a child process: one local Ray instance, two training processes placed by
    Ray (``SPREAD``: this machine is the only node)."""
    import ray

    from pixelwise.distributed.train import train_on_ray

    ray.init(num_cpus=2, include_dashboard=False)
    config = write_config(root, accelerator="cpu")
    output = train_on_ray(
        ["--config", str(config), "--out", str(root / "node0")], nodes=2, spread="SPREAD"
    )
    assert "run directory:" in output
    assert (
        sorted(p.name for p in (root / "node0").iterdir() if not p.name.startswith("."))
        == RUN_FILES
    )


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_two_nodes_placed_by_ray(tmp_path: Path) -> None:
    run_scenario("test_cluster_training", "train_on_ray_scenario", tmp_path, timeout=LIMIT_S)
