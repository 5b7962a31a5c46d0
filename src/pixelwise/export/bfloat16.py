"""bfloat16 on the CPU: whether this CPU computes in it natively.

bfloat16 keeps float32's exponent and 8 bits of its mantissa, so convolutions run on
half the bytes and, on CPUs with bfloat16 dot products (AVX-512 BF16, AMX), at up to
twice float32's speed. Elsewhere the libraries emulate it, slower than float32, so the
bfloat16 backends are offered only where the instructions exist.
"""

from __future__ import annotations

import torch

from pixelwise.errors import PixelwiseError

# torch.cpu.get_capabilities() keys of the x86 instructions that compute in bfloat16
BF16_INSTRUCTIONS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 dot-product instructions."""
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()
    return any(capabilities.get(name, False) for name in BF16_INSTRUCTIONS)


def require_bf16(backend: str) -> None:
    """A user error unless this CPU computes in bfloat16 natively (``backend`` needs it)."""
    if not cpu_has_bf16():
        raise PixelwiseError(
            f"backend {backend} needs a CPU with bfloat16 instructions "
            f"({' or '.join(BF16_INSTRUCTIONS)}); this one has neither: use its float32 "
            "backend instead"
        )
