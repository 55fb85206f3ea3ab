"""Operator registry: every layer of every network is built from ``{"op": name, ...}``.

A factory takes ``(c_in, c_out, stride, norm, **kwargs)`` and returns an ``nn.Module``. The same
registry builds the manual nets (``conv``, ``basic``), the FBNet-style cell operators of the
search space (``k3_e1`` ... ``k5_e6``, ``*_g2``, ``skip``) and, later, the supernet's mixed cells.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import re
import sys
from collections.abc import Callable, Iterator

import torch
from torch import nn

from a2d.config import NORMS

OPS: dict[str, Callable[..., nn.Module]] = {}

#: The 9 operators of the search space (docs/search-space.md#operators), in a fixed order.
CELL_OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")


def register(name: str):
    def deco(fn):
        if name in OPS:
            raise ValueError(f"op {name!r} registered twice")
        OPS[name] = fn
        return fn

    return deco


SQRT2 = math.sqrt(2)


def init_layer(layer: nn.Module, std: float = SQRT2, bias: float = 0.0) -> nn.Module:
    """CleanRL's orthogonal initialisation (unchanged for the Nature CNN); gain ``std`` per output unit.

    A depthwise conv has one k*k filter per channel, which an orthogonal init over the
    (channels, k*k) matrix would shrink to norm ~sqrt(k*k/channels) (the signal then fades by
    ~5x per cell); it gets a normal init of the same gain per channel instead."""
    w = layer.weight
    depthwise = isinstance(layer, nn.Conv2d) and layer.groups > 1 and w.shape[1] == 1
    if depthwise:
        nn.init.normal_(w, 0.0, std / math.sqrt(w[0].numel()))
    else:
        nn.init.orthogonal_(w, std)
        rows, cols = w.shape[0], w[0].numel()
        if rows > cols and std > 0:  # more outputs than inputs: orthogonal columns leave each row
            with torch.no_grad():  # a norm of sqrt(cols/rows); give every output unit gain `std`
                w.mul_(math.sqrt(rows / cols))
    if layer.bias is not None:
        nn.init.constant_(layer.bias, bias)
    return layer


def make_norm(norm: str, c: int) -> nn.Module:
    if norm == "none":
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm2d(c)
    if norm == "group":
        # GroupNorm with up to 8 groups: no batch statistics, so rollouts and updates agree.
        g = math.gcd(c, 8)
        return nn.GroupNorm(g, c)
    raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution that stays float32 under CPU bf16 autocast: oneDNN's bf16
    depthwise kernels measured slower than float32 here (k5 e6 cells: 1.8x slower forward +
    backward on an AMX CPU), while the 1x1 convolutions around it gain. Same parameters and
    state_dict as nn.Conv2d; without autocast (or on CUDA) it is exactly nn.Conv2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def conv(c_in, c_out, k, s, groups=1, bias=None, norm="none", std=SQRT2):
    """Conv (+ norm). Padding keeps 'same' geometry for odd kernels."""
    use_bias = (norm == "none") if bias is None else bias
    cls = DepthwiseConv2d if groups > 1 and groups == c_in == c_out else nn.Conv2d
    c = init_layer(cls(c_in, c_out, k, s, padding=k // 2, groups=groups, bias=use_bias), std)
    n = make_norm(norm, c_out)
    return c if isinstance(n, nn.Identity) else nn.Sequential(c, n)


# ---------------------------------------------------------------------------------------------
# Speed (docs/search-space.md#speed). Every measure here is exact: the same values and gradients,
# bit for bit, as plain nn.Conv2d -> nn.ReLU under autograd (tests/models/test_speed.py).

_MALLOC_KEPT = False


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the system.

    A batch-256 step allocates many activations of 30-90 MB; glibc serves each one above its
    mmap threshold (at most 32 MB) with a fresh mmap and unmaps it when freed, so every one of
    them page-faults in again, zeroed, on first touch: a ReLU of a (256, 48, 42, 42) float
    tensor measured 100 ms into a fresh tensor against 28 ms into reused memory (1 thread, the
    2-core box of docs/search-space.md#speed). With mmap off (M_MMAP_MAX = 0) and trimming
    off (M_TRIM_THRESHOLD = 2 GiB - 1) freed blocks stay in the heap and the next step reuses
    them; the resident size then stays at the process's peak. Only the allocator changes, no
    value. Linux with glibc only (elsewhere, or if the call fails: nothing changes); once per
    process. Returns whether the setting is on."""
    global _MALLOC_KEPT
    if _MALLOC_KEPT or not sys.platform.startswith("linux"):
        return _MALLOC_KEPT
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
        _MALLOC_KEPT = bool(
            libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, 2**31 - 1)
        )
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        _MALLOC_KEPT = False
    return _MALLOC_KEPT


_FUSED_OP = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)
#: Conv2d -> ReLU pairs of a ConvChain run as one oneDNN kernel when `fusable` allows it.
FUSE = {"conv_relu": torch.backends.mkldnn.is_available() and _FUSED_OP is not None}


@contextlib.contextmanager
def plain_ops() -> Iterator[None]:
    """Run every layer as the plain PyTorch module it is (no fused kernels), e.g. for counting
    FLOPs (the FLOP counter does not know the fused kernel) or to compare against."""
    old = FUSE["conv_relu"]
    FUSE["conv_relu"] = False
    try:
        yield
    finally:
        FUSE["conv_relu"] = old


class _ConvReLU(torch.autograd.Function):
    """relu(conv2d(x)) in one oneDNN kernel (the ReLU a post-op on the accumulator: no second
    pass over the output). Backward is exactly what autograd runs for Conv2d -> ReLU:
    threshold_backward with the saved output, then convolution_backward with the same
    arguments as ConvolutionBackward0."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        y = _FUSED_OP(x, weight, bias, padding, stride, dilation, groups, "relu", [], "")
        ctx.save_for_backward(x, weight, y)
        ctx.conf = (stride, padding, dilation, groups, bias is not None)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, y = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.conf
        g = torch.ops.aten.threshold_backward(grad, y, 0)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx, gw, gb = torch.ops.aten.convolution_backward(
            g,
            x,
            weight,
            [weight.shape[0]] if has_bias else None,
            stride,
            padding,
            dilation,
            False,
            [0, 0],
            groups,
            [need_x, need_w, has_bias and need_b],
        )
        return gx, gw, gb, None, None, None, None


def _fusable(x: torch.Tensor, c: nn.Module) -> bool:
    """The fused kernel is used only where it was checked to equal the plain modules: float32 on
    the CPU with grad enabled (training steps; inference stays plain), no autocast, no tracing
    or export, a plain zero-padded Conv2d without hooks; not a grouped (non-depthwise) 1x1
    convolution, for which oneDNN's fused kernel on some CPUs (AMD Zen 4, one thread) rounds
    differently from the plain one (~1e-6 relative)."""
    return (
        FUSE["conv_relu"]
        and torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and ((type(c) is nn.Conv2d and c.groups == 1) or type(c) is DepthwiseConv2d)
        and c.weight.dtype == torch.float32
        and c.padding_mode == "zeros"
        and not isinstance(c.padding, str)
        and not c._forward_hooks
        and not c._forward_pre_hooks
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.onnx.is_in_onnx_export()
    )


class ConvChain(nn.Sequential):
    """nn.Sequential (same children, same state_dict) whose Conv2d -> ReLU pairs run as one
    fused kernel (`_ConvReLU`) where `_fusable` allows; everything else runs module by module.
    A fused pair skips the ReLU module's own forward (and any hook on it)."""

    def forward(self, x):
        mods = list(self)
        i = 0
        while i < len(mods):
            m = mods[i]
            if (
                i + 1 < len(mods)
                and isinstance(mods[i + 1], nn.ReLU)
                and not mods[i + 1]._forward_hooks
                and _fusable(x, m)
            ):
                x = _ConvReLU.apply(x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)
                i += 2
            else:
                x = m(x)
                i += 1
        return x


def _relu() -> nn.ReLU:
    """In place: every ReLU here follows a conv, norm or sum whose backward does not read its
    output, so overwriting it is safe (autograd checks) and saves a tensor and a pass."""
    return nn.ReLU(inplace=True)


@register("conv")
def _conv(c_in, c_out, stride, norm="none", k=3, padding=None, relu=True):
    """Plain convolution + ReLU (the Nature CNN uses padding 0)."""
    pad = k // 2 if padding is None else padding
    layer = init_layer(nn.Conv2d(c_in, c_out, k, stride, padding=pad))
    return ConvChain(layer, nn.ReLU(inplace=True)) if relu else layer


class BasicBlock(nn.Module):
    """CIFAR ResNet basic block; the residual branch ends at zero so a block starts as identity."""

    def __init__(self, c_in, c_out, stride, norm="none"):
        super().__init__()
        self.branch = ConvChain(
            conv(c_in, c_out, 3, stride, norm=norm),
            _relu(),
            conv(c_out, c_out, 3, 1, norm=norm, std=0.0),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else conv(c_in, c_out, 1, stride, norm=norm, std=1.0)
        )

    def forward(self, x):
        return (self.branch(x) + self.shortcut(x)).relu_()


@register("basic")
def _basic(c_in, c_out, stride, norm="none"):
    return BasicBlock(c_in, c_out, stride, norm)


class ChannelShuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class InvertedResidual(nn.Module):
    """FBNet/MobileNetV2 block: 1x1 expand -> KxK depthwise (carries the stride) -> 1x1 project."""

    def __init__(self, c_in, c_out, stride, k, e, g=1, norm="none"):
        super().__init__()
        mid = c_in * e
        layers: list[nn.Module] = [conv(c_in, mid, 1, 1, groups=g, norm=norm), _relu()]
        if g > 1:
            layers.append(ChannelShuffle(g))
        layers += [conv(mid, mid, k, stride, groups=mid, norm=norm), _relu()]
        self.residual = stride == 1 and c_in == c_out
        # the projection starts at zero when it is a residual branch (block = identity at init)
        layers.append(
            conv(mid, c_out, 1, 1, groups=g, norm=norm, std=0.0 if self.residual else 1.0)
        )
        self.branch = ConvChain(*layers)

    def forward(self, x):
        y = self.branch(x)
        return x + y if self.residual else y


class Skip(nn.Module):
    """Identity, or a 1x1 projection where the shape changes (how the search makes nets shallower)."""

    def __init__(self, c_in, c_out, stride, norm="none"):
        super().__init__()
        self.proj = (
            None
            if stride == 1 and c_in == c_out
            else conv(c_in, c_out, 1, stride, norm=norm, std=1.0)
        )

    def forward(self, x):
        return x if self.proj is None else self.proj(x)


@register("skip")
def _skip(c_in, c_out, stride, norm="none"):
    return Skip(c_in, c_out, stride, norm)


_CELL_RE = re.compile(r"^k(\d)_e(\d)(?:_g(\d))?$")


def _register_cell_op(name: str) -> None:
    k, e, g = _CELL_RE.match(name).groups()

    def factory(c_in, c_out, stride, norm="none", _k=int(k), _e=int(e), _g=int(g or 1)):
        return InvertedResidual(c_in, c_out, stride, _k, _e, _g, norm)

    factory.__doc__ = f"Inverted residual, kernel {k}, expansion {e}, groups {g or 1}."
    register(name)(factory)


for _name in CELL_OPS:
    if _name != "skip":
        _register_cell_op(_name)


class MixedOp(nn.Module):
    """A searchable cell: all candidate ops, combined as the attached controller says.

    The controller (the search's architecture state, see ``a2d.search.controller``) returns,
    per forward pass, either ``("hard", index, weight)`` — only op ``index`` runs and its output
    is scaled by ``weight`` (1 in value, straight-through gradient to alpha; None: no scaling) — or
    ``("soft", weights)`` — the weighted sum of every op (FBNet). Models know nothing of RL or
    of how the controller decides. With no controller attached it is the uniform mixture.
    """

    def __init__(self, c_in, c_out, stride, norm="none", choices=CELL_OPS):
        super().__init__()
        self.choices = tuple(choices)
        self.candidates = nn.ModuleList(
            OPS[name](c_in, c_out, stride, norm=norm) for name in self.choices
        )
        self.controller = None
        self.cell = -1

    def forward(self, x):
        if self.controller is None:  # no search attached: the uniform mixture of every op
            return sum(op(x) for op in self.candidates) / len(self.candidates)
        how = self.controller.cell_weights(self.cell)
        if how[0] == "hard":
            _, index, weight = how
            y = self.candidates[index](x)
            return y if weight is None else y * weight
        weights = how[1]
        return sum(w * op(x) for w, op in zip(weights, self.candidates))


@register("mixed")
def _mixed(c_in, c_out, stride, norm="none", choices=CELL_OPS):
    return MixedOp(c_in, c_out, stride, norm, choices)
