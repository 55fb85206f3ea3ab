"""Operator registry: every layer of every network is built from ``{"op": name, ...}``.

A factory takes ``(c_in, c_out, stride, norm, **kwargs)`` and returns an ``nn.Module``. The same
registry builds the manual nets (``conv``, ``basic``), the FBNet-style cell operators of the
search space (``k3_e1`` ... ``k5_e6``, ``*_g2``, ``skip``) and, later, the supernet's mixed cells.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

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


@register("conv")
def _conv(c_in, c_out, stride, norm="none", k=3, padding=None, relu=True):
    """Plain convolution + ReLU (the Nature CNN uses padding 0)."""
    pad = k // 2 if padding is None else padding
    layer = init_layer(nn.Conv2d(c_in, c_out, k, stride, padding=pad))
    return nn.Sequential(layer, nn.ReLU()) if relu else layer


class BasicBlock(nn.Module):
    """CIFAR ResNet basic block; the residual branch ends at zero so a block starts as identity."""

    def __init__(self, c_in, c_out, stride, norm="none"):
        super().__init__()
        self.branch = nn.Sequential(
            conv(c_in, c_out, 3, stride, norm=norm),
            nn.ReLU(),
            conv(c_out, c_out, 3, 1, norm=norm, std=0.0),
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else conv(c_in, c_out, 1, stride, norm=norm, std=1.0)
        )

    def forward(self, x):
        return torch.relu(self.branch(x) + self.shortcut(x))


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
        layers: list[nn.Module] = [conv(c_in, mid, 1, 1, groups=g, norm=norm), nn.ReLU()]
        if g > 1:
            layers.append(ChannelShuffle(g))
        layers += [conv(mid, mid, k, stride, groups=mid, norm=norm), nn.ReLU()]
        self.residual = stride == 1 and c_in == c_out
        # the projection starts at zero when it is a residual branch (block = identity at init)
        layers.append(
            conv(mid, c_out, 1, 1, groups=g, norm=norm, std=0.0 if self.residual else 1.0)
        )
        self.branch = nn.Sequential(*layers)

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
