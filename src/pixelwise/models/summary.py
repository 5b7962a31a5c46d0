"""What a model costs and what it sees: parameters, MACs, receptive field, output stride.

:func:`summary` runs one forward pass of a batch of 1, ``(1, C_in, H, W)``, in eval mode
and without gradients. ``C_in`` is ``model.config["in_channels"]`` when the model has it,
else the input channels of its first ``nn.Conv2d``.

MACs (multiply-accumulates) are counted for every call of ``conv2d``, ``conv_transpose2d``
and ``linear``, which is where ``nn.Conv2d``, ``nn.ConvTranspose2d`` and ``nn.Linear`` (and
models that call these functions with their own weights) do their work:

- convolution: output elements × ``in_channels / groups`` × kh × kw (dilation only
  changes the output size, which is read from the actual output);
- transposed convolution: input elements × ``out_channels / groups`` × kh × kw;
- linear: output elements × ``in_features``.

Biases, normalisation, activations, pooling, interpolation, and element-wise sums and
products are not counted, nor are matrix products (``matmul``). A layer called twice is
counted twice.

Receptive field and output stride are tracked through the same forward pass. Every
tensor computed from the input carries, per spatial axis and for each of its elements,
the span of input pixels the element depends on, and the axis's *jump*: input pixels
between neighbouring elements. The spans follow each op's index arithmetic as PyTorch
computes it (padding, borders, ``align_corners`` included):

- ``conv2d``, ``conv_transpose2d``, max and average pooling, ``max_unpool2d`` (an element
  may come from any position its pooling window covered), adaptive pooling,
  ``interpolate`` (the taps with non-zero weight), ``pixel_shuffle``/``pixel_unshuffle``,
  ``pad``, slicing and assignment to slices, and ``mean``/``sum``/``amax`` over H or W;
- any other op unites the spans of its tensor inputs element by element, broadcasting
  axes of length 1 (``cat``, ``+``, ``*``, activations, normalisation). An input of
  another length is mapped onto the output by nearest neighbour: upsampling written with
  ``reshape``. Zero insertion written that way counts like nearest upsampling, while
  assignment to a strided slice (``out[..., ::s, ::s] = x``) is exact. Mixing hidden
  inside such ops (attention through ``matmul``, ``grid_sample``, ``linear`` over
  flattened maps) is not seen.

Following positions, not just the layer-by-layer sum ``(k − 1)·dilation·jump``, matters
after upsampling: neighbouring elements need not advance evenly (two outputs of a 2×2
up-convolution share one source), so later windows can reach further than the sum says
(the paper's U-Net sees 204 pixels; the sum gives 200).

Reported: ``receptive_field`` is the largest ``(H, W)`` span of one output pixel within
the image at this input size. A field larger than the image is cut at its borders: to
see an architecture's whole field, use an input larger than it.
``receptive_field_global`` is True when every output pixel depends on the whole input
(global pooling, or a field larger than the image). ``output_stride`` is the largest
jump of any feature map (32 for VGG-style encoders, 8 for a dilated one at output
stride 8); grids pooled to a fixed smaller size (adaptive pooling) are context, not
feature maps, and do not count. Tensors are taken to be laid out ``(N, C, H, W)``;
channels-last ``(N, H, W, C)`` ones between ``permute`` calls are recognised by their sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode
from torch.utils.weak import WeakIdKeyDictionary

from pixelwise.errors import PixelwiseError


@dataclass(frozen=True)
class ModelSummary:
    """The result of :func:`summary`; ``str()`` gives a short table, ``to_dict()`` plain data."""

    name: str
    input_size: tuple[int, int]
    in_channels: int
    parameters: int
    trainable_parameters: int
    macs: int
    receptive_field: tuple[int, int]
    receptive_field_global: bool
    output_stride: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict, sizes as ``[H, W]`` lists."""
        return {
            "name": self.name,
            "input_size": list(self.input_size),
            "in_channels": self.in_channels,
            "parameters": self.parameters,
            "trainable_parameters": self.trainable_parameters,
            "macs": self.macs,
            "receptive_field": list(self.receptive_field),
            "receptive_field_global": self.receptive_field_global,
            "output_stride": self.output_stride,
        }

    def __str__(self) -> str:
        field = "{} x {} px".format(*self.receptive_field)
        rows = {
            "model": self.name,
            "input size": "{} x {}".format(*self.input_size) + f" ({self.in_channels} channels)",
            "parameters": f"{self.parameters:,} ({self.trainable_parameters:,} trainable)",
            "MACs": f"{self.macs / 1e9:.2f} G",
            "receptive field": field + (" (global)" if self.receptive_field_global else ""),
            "output stride": str(self.output_stride),
        }
        return "\n".join(f"{key:<16} {value}" for key, value in rows.items())


def summary(
    model: nn.Module, input_size: Sequence[int], in_channels: int | None = None
) -> ModelSummary:
    """Parameters, MACs, receptive field and output stride of ``model`` at ``input_size``.

    ``input_size`` is ``(H, W)``; the model sees a ``(1, C_in, H, W)`` batch once, in eval
    mode (its train/eval flags are restored afterwards). ``in_channels`` overrides ``C_in``.
    """
    size = _check_size(input_size)
    channels = in_channels or _input_channels(model)
    x = _probe(model, channels, size)
    tracker = _FieldTracker(x)
    with _eval_mode(model), torch.no_grad(), _MacCounter() as macs, tracker:
        output = model(x)
    field = tracker.output_field(output)
    config = getattr(model, "config", None)
    return ModelSummary(
        name=config["name"] if isinstance(config, dict) else type(model).__name__,
        input_size=size,
        in_channels=channels,
        parameters=sum(p.numel() for p in model.parameters()),
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        macs=macs.total,
        receptive_field=tuple(axis.extent() for axis in field),
        receptive_field_global=all(axis.covers(n) for axis, n in zip(field, size, strict=True)),
        output_stride=round(tracker.max_jump),
    )


def _check_size(input_size: Sequence[int]) -> tuple[int, int]:
    size = tuple(input_size)
    if len(size) != 2 or not all(isinstance(n, int) and n > 0 for n in size):
        raise PixelwiseError(f"input size must be two positive integers (H, W), got {input_size}")
    return size


def _input_channels(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    if isinstance(config, dict) and "in_channels" in config:
        return int(config["in_channels"])
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is None:
        raise PixelwiseError(
            "cannot tell the model's input channels: no config['in_channels'] and no Conv2d; "
            "pass in_channels"
        )
    return first_conv.in_channels


def _probe(model: nn.Module, channels: int, size: tuple[int, int]) -> Tensor:
    """A fixed positive ``(1, channels, H, W)`` batch on the model's device and dtype."""
    first = next(model.parameters(), torch.empty(0))
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, channels, *size, generator=generator)
    return x.to(device=first.device, dtype=first.dtype if first.is_floating_point() else None)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training


# --- MACs ------------------------------------------------------------------------------------


def _conv_macs(x: Tensor, weight: Tensor, out: Tensor) -> int:
    return out.numel() * weight[0].numel()


def _conv_transpose_macs(x: Tensor, weight: Tensor, out: Tensor) -> int:
    return x.numel() * weight[0].numel()


def _linear_macs(x: Tensor, weight: Tensor, out: Tensor) -> int:
    return out.numel() * weight.shape[-1]


_MAC_RULES: dict[Callable[..., Any], Callable[[Tensor, Tensor, Tensor], int]] = {
    F.conv2d: _conv_macs,
    F.conv_transpose2d: _conv_transpose_macs,
    F.linear: _linear_macs,
}


class _MacCounter(TorchFunctionMode):
    """Adds up the MACs of every convolution and linear layer called while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Sequence[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        rule = _MAC_RULES.get(func)
        if rule is not None:
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            self.total += rule(args[0], weight, result)
        return result


# --- receptive field and output stride -------------------------------------------------------


@dataclass(frozen=True)
class _Axis:
    """One spatial axis of a tensor computed from the input.

    Element ``o`` depends on input pixels ``lo[o]`` to ``hi[o]`` (``inf``, ``-inf``: on
    none). ``jump`` is the input pixels between neighbouring elements; None on a grid
    pooled to a fixed smaller size.
    """

    jump: float | None
    lo: tuple[float, ...]
    hi: tuple[float, ...]

    @property
    def size(self) -> int:
        return len(self.lo)

    def extent(self) -> int:
        """The largest span of one element, in input pixels."""
        spans = (hi - lo + 1 for lo, hi in zip(self.lo, self.hi, strict=True) if lo <= hi)
        return int(max(spans, default=0))

    def covers(self, size: int) -> bool:
        """Whether every element depends on all ``size`` input pixels."""
        return all(lo == 0 and hi == size - 1 for lo, hi in zip(self.lo, self.hi, strict=True))


Field = tuple[_Axis, _Axis]  # (H, W)
Pair = tuple[int, int]


def _gather(axis: _Axis, sources: Iterable[Iterable[int]], scale: float | None) -> _Axis:
    """Element ``o`` of the result depends on elements ``sources[o]`` of ``axis`` (in range).

    The jump is multiplied by ``scale``; None makes the result a pooled grid.
    """
    lo, hi = [], []
    for indices in sources:
        inside = [i for i in indices if 0 <= i < axis.size]
        lo.append(min((axis.lo[i] for i in inside), default=math.inf))
        hi.append(max((axis.hi[i] for i in inside), default=-math.inf))
    jump = None if axis.jump is None or scale is None else axis.jump * scale
    return _Axis(jump, tuple(lo), tuple(hi))


def _slide(axis: _Axis, n_out: int, kernel: int, stride: int, dilation: int, pad: int) -> _Axis:
    """A sliding window (convolution, pooling): ``o`` reads ``o·s − pad + t·d``, ``t < k``."""
    taps = [t * dilation - pad for t in range(kernel)]
    return _gather(axis, ([o * stride + t for t in taps] for o in range(n_out)), stride)


def _scatter(axis: _Axis, n_out: int, kernel: int, stride: int, dilation: int, pad: int) -> _Axis:
    """A transposed window: element ``i`` writes to ``i·s − pad + t·d``, ``t < k``."""
    taps = [pad - t * dilation for t in range(kernel)]
    sources = ([(o + t) // stride for t in taps if (o + t) % stride == 0] for o in range(n_out))
    return _gather(axis, sources, 1 / stride)


def _regrid(axis: _Axis, n_out: int) -> _Axis:
    """Nearest neighbour: ``o`` reads ``⌊o · n_in / n_out⌋``."""
    return _gather(axis, ([o * axis.size // n_out] for o in range(n_out)), axis.size / n_out)


def _bins(axis: _Axis, n_out: int) -> _Axis:
    """Adaptive pooling; to fewer elements than the input it makes a pooled grid."""
    n = axis.size
    sources = (range(o * n // n_out, -(-(o + 1) * n // n_out)) for o in range(n_out))
    return _gather(axis, sources, None if n_out < n else n / n_out)


def _fit(axis: _Axis, n_out: int) -> _Axis:
    """``axis`` on ``n_out`` elements: as is, broadcast from length 1, or regridded."""
    if axis.size == n_out:
        return axis
    if axis.size == 1:
        return _Axis(None, axis.lo * n_out, axis.hi * n_out)
    return _regrid(axis, n_out)


def _unite(fields: list[Field], sizes: Sequence[int]) -> Field:
    """Element by element, the union of ``fields`` fitted to ``sizes``; the largest jump."""
    united = []
    for i, n in enumerate(sizes):
        axes = [_fit(f[i], n) for f in fields]
        jumps = [a.jump for a in axes if a.jump is not None]
        lo = tuple(map(min, zip(*(a.lo for a in axes), strict=True)))
        hi = tuple(map(max, zip(*(a.hi for a in axes), strict=True)))
        united.append(_Axis(max(jumps, default=None), lo, hi))
    return tuple(united)


def _pair(value: float | Sequence[float]) -> tuple[Any, Any]:
    if isinstance(value, (int, float)):
        return (value, value)
    return (value[0], value[-1])


def _per_axis(step: Callable[..., _Axis], field: Field, *pairs: Sequence[Any]) -> Field:
    return tuple(step(axis, *(p[i] for p in pairs)) for i, axis in enumerate(field))


@dataclass(frozen=True)
class _Call:
    """One call whose first argument ``x``, 4-D, carries ``field``; ``out`` its result."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    field: Field
    out: Tensor

    @property
    def x(self) -> Tensor:
        return self.args[0]

    @property
    def out_size(self) -> Pair:
        return tuple(self.out.shape[-2:])

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if len(self.args) > index:
            return self.args[index]
        return self.kwargs.get(name, default)


def _conv_padding(padding: str | int | Sequence[int], kernel: Pair, dilation: Pair) -> Pair:
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    return _pair(padding)


def _conv(call: _Call) -> Field:
    kernel = tuple(call.arg(1, "weight").shape[-2:])
    stride, dilation = _pair(call.arg(3, "stride", 1)), _pair(call.arg(5, "dilation", 1))
    padding = _conv_padding(call.arg(4, "padding", 0), kernel, dilation)
    return _per_axis(_slide, call.field, call.out_size, kernel, stride, dilation, padding)


def _conv_transpose(call: _Call) -> Field:
    kernel = tuple(call.arg(1, "weight").shape[-2:])
    stride, dilation = _pair(call.arg(3, "stride", 1)), _pair(call.arg(7, "dilation", 1))
    padding = _pair(call.arg(4, "padding", 0))
    return _per_axis(_scatter, call.field, call.out_size, kernel, stride, dilation, padding)


def _pool(call: _Call, dilation: int | Sequence[int] = 1) -> Field:
    kernel = _pair(call.arg(1, "kernel_size"))
    stride, padding = _pair(call.arg(2, "stride") or kernel), _pair(call.arg(3, "padding", 0))
    return _per_axis(_slide, call.field, call.out_size, kernel, stride, _pair(dilation), padding)


def _max_pool(call: _Call) -> Field:
    return _pool(call, call.arg(4, "dilation", 1))


def _unpool(call: _Call) -> Field:
    kernel = _pair(call.arg(2, "kernel_size"))
    stride, padding = _pair(call.arg(3, "stride") or kernel), _pair(call.arg(4, "padding", 0))
    return _per_axis(_scatter, call.field, call.out_size, kernel, stride, (1, 1), padding)


def _adaptive(call: _Call) -> Field:
    return _per_axis(_bins, call.field, call.out_size)


def _pixel_shuffle(call: _Call) -> Field:
    return _per_axis(_regrid, call.field, call.out_size)


def _pixel_unshuffle(call: _Call) -> Field:
    factor = _pair(call.arg(1, "downscale_factor"))
    return _per_axis(_slide, call.field, call.out_size, factor, factor, (1, 1), (0, 0))


def _taps(x: float, n: int, cubic: bool) -> list[int]:
    """Input elements with non-zero weight at coordinate ``x`` (border taps clamped)."""
    i = math.floor(x)
    near = [i] if x == i else range(i - 1, i + 3) if cubic else range(i, i + 2)
    return [min(max(j, 0), n - 1) for j in near]


def _resample(axis: _Axis, n_out: int, mode: str, align_corners: bool, scale: float) -> _Axis:
    """``interpolate`` along one axis; ``scale`` is output/input as given, else 0."""
    n = axis.size
    if align_corners:
        ratio = (n - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        ratio = 1 / scale if scale else n / n_out
    if mode.startswith("nearest"):
        half = 0.5 if mode == "nearest-exact" else 0.0
        sources = ([min(math.floor((o + half) * ratio), n - 1)] for o in range(n_out))
    else:
        shift = 0.0 if align_corners else 0.5
        positions = ((o + shift) * ratio - shift for o in range(n_out))
        sources = (_taps(x, n, mode == "bicubic") for x in positions)
    return _gather(axis, sources, ratio)


def _interpolate(call: _Call) -> Field | None:
    mode = call.arg(3, "mode", "nearest")
    if mode == "area":
        return _adaptive(call)
    if mode not in ("nearest", "nearest-exact", "bilinear", "bicubic"):
        return None
    scale = call.arg(2, "scale_factor")
    given = _pair(scale) if scale and not call.arg(5, "recompute_scale_factor") else (0, 0)
    align = bool(call.arg(4, "align_corners"))
    return _per_axis(_resample, call.field, call.out_size, (mode, mode), (align, align), given)


_PAD_INDEX: dict[str, Callable[[int, int], int]] = {
    "constant": lambda i, n: i,
    "replicate": lambda i, n: min(max(i, 0), n - 1),
    "reflect": lambda i, n: n - 1 - abs(n - 1 - abs(i)),
    "circular": lambda i, n: i % n,
}


def _shift(axis: _Axis, n_out: int, before: int, mode: str) -> _Axis:
    """Padding (or cropping, for negative ``before``) at the start of the axis."""
    index = _PAD_INDEX[mode]
    return _gather(axis, ([index(o - before, axis.size)] for o in range(n_out)), 1)


def _pad(call: _Call) -> Field | None:
    pad, mode = list(call.arg(1, "pad")), call.arg(2, "mode", "constant")
    if mode not in _PAD_INDEX:
        return None
    before = (pad[2] if len(pad) > 2 else 0, pad[0])
    return _per_axis(_shift, call.field, call.out_size, before, (mode, mode))


def _collapse(axis: _Axis) -> _Axis:
    """A reduction over the axis: one element that depends on all of it."""
    return _Axis(None, (min(axis.lo),), (max(axis.hi),))


def _reduce(call: _Call) -> Field:
    dims = call.arg(1, "dim")
    dims = (dims,) if isinstance(dims, int) else dims or ()
    reduced = {d % 4 for d in dims} or {2, 3}  # no dims: all of them
    return tuple(
        _collapse(a) if d in reduced else a for d, a in zip((2, 3), call.field, strict=True)
    )


def _spatial_slices(index: Any, ndim: int) -> tuple[slice, slice] | None:
    """The slices along H and W of a plain slicing index such as ``[..., :h, ::2]``."""
    items = list(index) if isinstance(index, tuple) else [index]
    if ndim < 2 or not all(isinstance(i, slice) or i is Ellipsis for i in items):
        return None
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (ndim - len(items) + 1)
    items += [slice(None)] * (ndim - len(items))
    return items[-2], items[-1]


def _getitem(call: _Call) -> Field | None:
    slices = _spatial_slices(call.arg(1, "index"), call.x.ndim)
    if slices is None:
        return None
    steps = [s.indices(n) for s, n in zip(slices, call.x.shape[-2:], strict=True)]
    offsets = [-start for start, _, _ in steps]
    strides = [step for _, _, step in steps]
    return _per_axis(_slide, call.field, call.out_size, (1, 1), strides, (1, 1), offsets)


def _place(axis: _Axis, part: slice, n: int) -> _Axis:
    """The axis of a value assigned to ``part`` of an axis of length ``n``; empty elsewhere."""
    start, stop, step = part.indices(n)
    return _scatter(_fit(axis, len(range(start, stop, step))), n, 1, step, 1, -start)


_RULES: dict[Callable[..., Any], Callable[[_Call], Field | None]] = {
    F.conv2d: _conv,
    F.conv_transpose2d: _conv_transpose,
    F.max_pool2d: _max_pool,
    F.max_pool2d_with_indices: _max_pool,
    F.avg_pool2d: _pool,
    F.max_unpool2d: _unpool,
    F.adaptive_avg_pool2d: _adaptive,
    F.adaptive_max_pool2d: _adaptive,
    F.adaptive_max_pool2d_with_indices: _adaptive,
    F.interpolate: _interpolate,
    F.pixel_shuffle: _pixel_shuffle,
    F.pixel_unshuffle: _pixel_unshuffle,
    F.pad: _pad,
    Tensor.__getitem__: _getitem,
    **dict.fromkeys((torch.mean, Tensor.mean, torch.sum, Tensor.sum), _reduce),
    **dict.fromkeys((torch.amax, Tensor.amax), _reduce),
}

# Results that depend on their tensor arguments' shape only, not on their values.
_FACTORIES = {
    *(torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like),
    *(Tensor.new_zeros, Tensor.new_ones, Tensor.new_empty, Tensor.new_full),
}


def _tensors(value: Any) -> list[Tensor]:
    """The tensors in ``value``, looking inside lists, tuples and dicts."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _sizes(tensor: Tensor, field: Field) -> Sequence[int]:
    """H and W of ``tensor``: its last two sizes if it is ``(N, C, H, W)``.

    Other tensors, ``(N, H, W, C)`` ones included (recognised by their sizes), stay on the
    grid ``field`` was last on.
    """
    grid = tuple(axis.size for axis in field)
    return grid if tensor.ndim != 4 or tensor.shape[1:3] == grid else tensor.shape[-2:]


class _FieldTracker(TorchFunctionMode):
    """Follows the field of every tensor computed from ``x`` during a forward pass."""

    def __init__(self, x: Tensor) -> None:
        super().__init__()
        self.fields: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.fields[x] = tuple(_Axis(1.0, tuple(range(n)), tuple(range(n))) for n in x.shape[-2:])
        self.max_jump = 1.0

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Sequence[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if func is Tensor.__setitem__:
            self._record(args[0], self._assign(*args))
        elif func not in _FACTORIES:
            self._record(result, self._field(func, args, kwargs, result))
        return result

    def _field(
        self, func: Callable[..., Any], args: tuple, kwargs: dict, result: Any
    ) -> Field | None:
        outputs = _tensors(result)
        inputs = [t for t in _tensors((args, kwargs)) if t in self.fields]
        if not outputs or not inputs:
            return None
        fields = [self.fields[t] for t in inputs]
        rule = _RULES.get(func)
        if rule is not None and args and args[0] is inputs[0] and inputs[0].ndim == 4:
            field = rule(_Call(args, kwargs, fields[0], outputs[0]))
            if field is not None:
                return field
        return _unite(fields, _sizes(outputs[0], fields[0]))

    def _assign(self, target: Tensor, index: Any, value: Any) -> Field | None:
        """``target[index] = value``: the value's field placed where it is written."""
        value_field = self.fields.get(value) if isinstance(value, Tensor) else None
        fields = [f for f in (self.fields.get(target), value_field) if f is not None]
        if not fields:
            return None
        sizes = _sizes(target, fields[0])
        slices = _spatial_slices(index, target.ndim)
        if value_field is not None and slices is not None and target.ndim == 4:
            fields[-1] = _per_axis(_place, value_field, slices, sizes)
        return _unite(fields, sizes)

    def _record(self, result: Any, field: Field | None) -> None:
        if field is None:
            return
        for tensor in _tensors(result):
            sizes = _sizes(tensor, field)
            self.fields[tensor] = tuple(_fit(a, n) for a, n in zip(field, sizes, strict=True))
        self.max_jump = max([self.max_jump, *(a.jump for a in field if a.jump is not None)])

    def output_field(self, output: Any) -> Field:
        """The field of the model's output (the union over its tensors)."""
        tensors = [t for t in _tensors(output) if t in self.fields]
        if not tensors:
            raise PixelwiseError("the model's output does not depend on its input")
        fields = [self.fields[t] for t in tensors]
        return _unite(fields, _sizes(tensors[0], fields[0]))
