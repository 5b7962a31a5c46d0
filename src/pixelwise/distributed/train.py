"""Training one model on several nodes of a Ray cluster with Lightning's DDP.

:func:`train_on_ray` does what launching by hand on each node does (docs/cluster.md):
it starts ``pixelwise train ARGS --num-nodes N --devices D --strategy ddp`` once per node,
each with ``MASTER_ADDR`` and ``MASTER_PORT`` (a free port on the first node) and its
``NODE_RANK``. A placement group reserves one bundle of ``cpus_per_node`` CPUs and
``gpus_per_node`` GPUs per process, each on a different node (``STRICT_SPREAD``).
Process 0 writes the run folder; the others write nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pixelwise.distributed.cluster import connect
from pixelwise.errors import PixelwiseError

LAUNCH_FLAGS = ("--num-nodes", "--devices", "--strategy")
"""Flags that :func:`train_on_ray` sets itself."""
PLACEMENT_TIMEOUT_S = 300.0
"""How long to wait for the cluster to offer one bundle per node."""


@dataclass(frozen=True)
class TrainProcess:
    """One node's ``pixelwise train`` process: its rank, exit status and output."""

    rank: int
    status: int
    output: str


def _free_address() -> tuple[str, int]:
    """This node's address and a port that is free on it now (a Ray task's body)."""
    import ray

    with socket.socket() as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    return ray.util.get_node_ip_address(), port


def _train_process(rank: int, command: list[str], environment: dict[str, str]) -> TrainProcess:
    """Run one node's training process to its end (a Ray task's body)."""
    done = subprocess.run(
        command,
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    return TrainProcess(rank, done.returncode, done.stdout)


def train_on_ray(
    args: Sequence[str],
    nodes: int = 2,
    devices: int = 1,
    cpus_per_node: float = 1.0,
    gpus_per_node: float = 0.0,
    address: str | None = None,
    spread: str = "STRICT_SPREAD",
) -> str:
    """Train one model with ``pixelwise train ARGS`` on ``nodes`` nodes of a Ray cluster,
    ``devices`` processes (GPUs) on each; returns process 0's output.

    ``args`` are ``train``'s flags except ``--num-nodes``, ``--devices`` and
    ``--strategy``; paths in them must be the same on every node (a shared file
    system). ``spread`` is the placement strategy: ``STRICT_SPREAD`` (a node per
    process) or ``SPREAD`` (best effort: nodes may be shared, e.g. to try it on one
    machine). Raises :class:`PixelwiseError` when the cluster cannot place the processes,
    or one of them fails (with the end of its output).
    """
    given = [flag for flag in LAUNCH_FLAGS if any(a.split("=")[0] == flag for a in args)]
    if given:
        raise PixelwiseError(f"train_on_ray sets {given[0]} itself; leave it out of args")
    if nodes < 1 or devices < 1:
        raise PixelwiseError(f"nodes and devices must be at least 1, got {nodes} and {devices}")
    ray = connect(address)
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    bundle = {"CPU": cpus_per_node, **({"GPU": gpus_per_node} if gpus_per_node else {})}
    group = placement_group([bundle] * nodes, strategy=spread)
    try:
        ready, _ = ray.wait([group.ready()], timeout=PLACEMENT_TIMEOUT_S)
        if not ready:
            raise PixelwiseError(
                f"the Ray cluster offered no {nodes} nodes with {bundle} each "
                f"({spread}) within {PLACEMENT_TIMEOUT_S:g} s; see `ray status`"
            )

        def on(rank: int) -> PlacementGroupSchedulingStrategy:
            return PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=rank)

        probe = ray.remote(num_cpus=0)(_free_address).options(scheduling_strategy=on(0))
        host, port = ray.get(probe.remote())
        command = [sys.executable, "-m", "pixelwise", "train", *args]
        command += ["--num-nodes", str(nodes), "--devices", str(devices), "--strategy", "ddp"]
        launch = ray.remote(_train_process)
        refs = [
            launch.options(
                num_cpus=cpus_per_node, num_gpus=gpus_per_node, scheduling_strategy=on(rank)
            ).remote(
                rank,
                command,
                {"MASTER_ADDR": host, "MASTER_PORT": str(port), "NODE_RANK": str(rank)},
            )
            for rank in range(nodes)
        ]
        processes: list[TrainProcess] = ray.get(refs)
    finally:
        remove_placement_group(group)
    failed = [p for p in processes if p.status != 0]
    if failed:
        first = failed[0]
        raise PixelwiseError(
            f"training process {first.rank} (NODE_RANK) exited with {first.status}; the end "
            f"of its output:\n{first.output[-2000:]}"
        )
    return processes[0].output
