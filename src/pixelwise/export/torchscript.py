"""TorchScript: the captured graph compiled by ``torch.jit.script``, run by PyTorch.

Tracing (``torch.jit.trace``) would fix every size computed in Python to the example's.
The graph of :func:`~pixelwise.export.capture.capture` keeps those computations as
graph nodes, so scripting it keeps H and W free: its ATen operators are called through
their overload packets (which TorchScript resolves), ``torch.sym_min``/``sym_max``
become ``min``/``max``, and the input checks and pytree wrappers of
``ExportedProgram.module()`` are dropped, as are assertion nodes (on dtypes, say), which
TorchScript cannot express: the runner checks sizes itself.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.fx
from torch.export import ExportedProgram

from pixelwise.errors import PixelwiseError
from pixelwise.export.capture import InputShape, quiet
from pixelwise.export.runtime import GraphRunner

# size functions that torch.export records -> what TorchScript calls them
SIZE_FUNCTIONS = {torch.sym_min: min, torch.sym_max: max}
ASSERTIONS = {torch.ops.aten._assert_scalar.default, torch.ops.aten._assert_tensor_metadata.default}


def _scriptable(program: ExportedProgram) -> torch.fx.GraphModule:
    """``program`` as a plain FX module: ``forward(x) -> logits`` over ATen packets."""
    module = program.module()
    graph = module.graph
    for node in list(graph.nodes):
        if (node.op, node.target) == ("call_module", "_guards_fn") or node.target in ASSERTIONS:
            graph.erase_node(node)
        elif node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
            node.target = node.target.overloadpacket
        elif node.op == "call_function" and node.target in SIZE_FUNCTIONS:
            node.target = SIZE_FUNCTIONS[node.target]
        elif node.op == "output":
            (outputs,) = node.args
            node.args = (outputs[0] if isinstance(outputs, (tuple, list)) else outputs,)
    graph.eliminate_dead_code()
    graph.set_codegen(torch.fx.graph.CodeGen())
    module.delete_all_unused_submodules()
    return torch.fx.GraphModule(module, graph)


def to_torchscript(program: ExportedProgram) -> torch.jit.ScriptModule:
    """The TorchScript module of ``program``: ``(N, C, H, W) -> (N, K, H, W)`` at free sizes."""
    with quiet("torch.jit"):
        return torch.jit.script(_scriptable(program)).eval()


class TorchScriptRunner(GraphRunner):
    """A TorchScript module (a saved file or the module itself), run by PyTorch."""

    name = "torch"

    def __init__(self, module: Path | torch.jit.ScriptModule, shape: InputShape) -> None:
        super().__init__(shape)
        if isinstance(module, Path):
            try:
                with quiet("torch.jit"):  # PyTorch deprecates TorchScript in favour of export
                    module = torch.jit.load(str(module), map_location="cpu")
            except (RuntimeError, ValueError) as err:
                first = str(err).strip().splitlines()[0]
                raise PixelwiseError(f"cannot load '{module}': {first}") from None
        self.module = module.eval()

    def run(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(x).float()
