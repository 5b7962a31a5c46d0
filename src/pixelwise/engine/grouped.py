"""Grouped (depthwise) convolutions as they train fastest on the CPU.

oneDNN, which runs PyTorch's convolutions on the CPU, is slow at two things these
convolutions do in training (measured on this project's 2-core AVX-512 BF16 CPU, batch 8,
channels-last; ``benchmarks/training.py`` for whole networks):

- **the input gradient of a dilated depthwise convolution.** For MobileNetV3's last
  stage in LR-ASPP (960 channels at 11×15, 5×5 kernel, dilation 2) it took 11–17 ms
  against 0.5 ms for the forward pass. With stride 1 that gradient is itself a forward
  convolution: of the output gradient, with the kernel turned by 180°, the same dilation
  and groups, and padding ``dilation·(kernel − 1) − padding``; computed so
  (:class:`DilatedDepthwiseConvolution`) it takes 0.5 ms. Dense dilated convolutions
  (DeepLab's ASPP) were not slow, and are left alone;
- **bfloat16.** Their backward pass is no faster in bfloat16, and slower in channels-last,
  so under CPU bfloat16 autocast they compute in float32 (their input cast up, their
  output left in float32 for the normalisation after them) while the dense and pointwise
  convolutions around them run in bfloat16.

:func:`train_grouped_convolutions_fast` makes a network's grouped convolutions
:class:`TrainingGroupedConv2d`: the same parameters and state-dict keys, the same values
and gradients (up to float rounding), plain ``Conv2d`` behaviour without gradients (so
export and prediction see an ordinary convolution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DilatedDepthwiseConvolution(torch.autograd.Function):
    """A stride-1 depthwise convolution ``(N, C, H, W) -> (N, C, H', W')`` whose input
    gradient is computed by a forward convolution with the kernel turned by 180°."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        padding: tuple[int, int],
        dilation: tuple[int, int],
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.geometry = (padding, dilation)
        return F.conv2d(x, weight, bias, 1, padding, dilation, weight.shape[0])

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        padding, dilation = ctx.geometry
        groups = weight.shape[0]
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            kernel = weight.shape[2:]
            turned = [dilation[i] * (kernel[i] - 1) - padding[i] for i in range(2)]
            grad_input = F.conv2d(grad, weight.flip(2, 3), None, 1, turned, dilation, groups)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.nn.grad.conv2d_weight(
                x, weight.shape, grad, 1, padding, dilation, groups
            )
        if ctx.needs_input_grad[2]:  # False without a bias
            grad_bias = grad.sum((0, 2, 3))
        return grad_input, grad_weight, grad_bias, None, None


class TrainingGroupedConv2d(nn.Conv2d):
    """A grouped ``Conv2d`` that trains fast on the CPU: float32 under bfloat16 autocast
    when ``float32_under_bfloat16`` is set, and, when it is a dilated stride-1 depthwise
    convolution, its input gradient from :class:`DilatedDepthwiseConvolution`."""

    float32_under_bfloat16 = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, C_out, H', W')``."""
        if self.float32_under_bfloat16:
            with torch.autocast("cpu", enabled=False):
                return self._convolve(x.float())
        return self._convolve(x)

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and self.is_dilated_depthwise():
            return DilatedDepthwiseConvolution.apply(
                x, self.weight, self.bias, self.padding, self.dilation
            )
        return super().forward(x)

    def is_dilated_depthwise(self) -> bool:
        """Whether this is a depthwise convolution with stride 1, a dilation above 1 and
        zero padding given in pixels (no more than the dilated kernel's reach)."""
        kernel, padding, dilation = self.kernel_size, self.padding, self.dilation
        return (
            self.groups == self.in_channels == self.out_channels
            and self.stride == (1, 1)
            and dilation != (1, 1)
            and self.padding_mode == "zeros"
            and not isinstance(padding, str)
            and all(padding[i] <= dilation[i] * (kernel[i] - 1) for i in range(2))
        )


def train_grouped_convolutions_fast(model: nn.Module, float32_under_bfloat16: bool) -> nn.Module:
    """``model`` (changed in place) with every grouped ``Conv2d`` a
    :class:`TrainingGroupedConv2d`, computing in float32 under bfloat16 autocast if
    ``float32_under_bfloat16``."""
    for module in model.modules():
        if type(module) in (nn.Conv2d, TrainingGroupedConv2d) and module.groups > 1:
            module.__class__ = TrainingGroupedConv2d
            module.float32_under_bfloat16 = float32_under_bfloat16
    return model
