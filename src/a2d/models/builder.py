"""One builder for every network: architectures are data.

A spec is ``{"arch": name, "layers": [{"op": ..., "c": out_channels, "s": stride, ...}, ...],
"fc": 512}``. The builder walks the layers with the op registry, flattens, adds the FC layer and
the actor (logits) and critic (value) heads, initialised as in CleanRL. Named architectures are
registered spec factories (``vanilla``, ``resnetN``); a searched net is a spec read from
``arch.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2d import A2DError
from a2d.models.ops import CELL_OPS, OPS, init_layer, keep_freed_memory

OBS_SHAPE = (4, 84, 84)

ARCHS: dict[str, Callable[[], dict[str, Any]]] = {}


class ArchError(A2DError):
    pass


def register_arch(name: str):
    def deco(fn):
        ARCHS[name] = fn
        return fn

    return deco


@register_arch("vanilla")
def vanilla_spec() -> dict[str, Any]:
    """Nature-DQN CNN (Mnih et al. 2015), as in CleanRL's ppo_atari.py."""
    return {
        "arch": "vanilla",
        "layers": [
            {"op": "conv", "c": 32, "k": 8, "s": 4, "padding": 0},
            {"op": "conv", "c": 64, "k": 4, "s": 2, "padding": 0},
            {"op": "conv", "c": 64, "k": 3, "s": 1, "padding": 0},
        ],
        "fc": 512,
    }


def resnet_spec(depth: int) -> dict[str, Any]:
    """CIFAR-style ResNet-N, N = 6n+2 (docs/search-space.md#resnet-n, reconstruction)."""
    if depth < 8 or (depth - 2) % 6:
        raise ArchError(
            f"resnet depth must be 6n+2 with n >= 1 (8, 14, 20, 26, 32, ...), got {depth}"
        )
    n = (depth - 2) // 6
    layers: list[dict[str, Any]] = [{"op": "conv", "c": 16, "k": 3, "s": 2}]
    for stage, c in enumerate((16, 32, 64)):
        for i in range(n):
            layers.append({"op": "basic", "c": c, "s": 2 if (i == 0 and stage > 0) else 1})
    return {"arch": f"resnet{depth}", "layers": layers, "fc": 512}


#: Supernet stages (channels, cells, first stride): 14 cells (docs/search-space.md#supernet).
SUPERNET_STAGES = ((16, 1, 1), (24, 3, 2), (32, 3, 2), (64, 3, 2), (96, 3, 1), (160, 1, 1))


def _cell_layout(stages=SUPERNET_STAGES) -> list[tuple[int, int]]:
    return [(c, s if i == 0 else 1) for c, n, s in stages for i in range(n)]


#: The supernet's stem per stride (docs/search-space.md#stem-stride): 2 is the paper's 3x3
#: stride-2 stem; 4 is an option, 5x5 so that a stride of 4 skips no input pixel.
STEMS = {2: {"op": "conv", "c": 16, "k": 3, "s": 2}, 4: {"op": "conv", "c": 16, "k": 5, "s": 4}}


def stem_layer(stem_stride: int = 2) -> dict[str, Any]:
    if stem_stride not in STEMS:
        raise ArchError(
            f"stem stride must be one of {', '.join(map(str, STEMS))}, got {stem_stride!r}"
        )
    return dict(STEMS[stem_stride])


def supernet_layers(
    cell_ops: list[str] | None, stages=SUPERNET_STAGES, stem_stride: int = 2
) -> list[dict[str, Any]]:
    """Stem -> cells -> 1x1 head conv to 64 ch. ``cell_ops=None``: every cell a mixed op."""
    layout = _cell_layout(stages)
    if cell_ops is not None and len(cell_ops) != len(layout):
        raise ArchError(f"this search space has {len(layout)} cells, got {len(cell_ops)} ops")
    layers: list[dict[str, Any]] = [stem_layer(stem_stride)]
    for i, (c, s) in enumerate(layout):
        op = "mixed" if cell_ops is None else cell_ops[i]
        if cell_ops is not None and op not in CELL_OPS:
            raise ArchError(f"cell {i}: unknown op {op!r}; valid: {', '.join(CELL_OPS)}")
        layers.append({"op": op, "c": c, "s": s})
    layers.append({"op": "conv", "c": 64, "k": 1, "s": 1})
    return layers


@register_arch("supernet")
def supernet_spec(stages=SUPERNET_STAGES, stem_stride: int = 2) -> dict[str, Any]:
    """The search space: 14 cells, each a choice among the 9 CELL_OPS."""
    return {"arch": "supernet", "layers": supernet_layers(None, stages, stem_stride), "fc": 512}


def spec_stem_stride(spec: dict[str, Any]) -> int:
    """The stem stride of a supernet or derived spec (2 where the first layer says nothing)."""
    layers = spec.get("layers")
    first = layers[0] if isinstance(layers, list) and layers else None
    stride = first.get("s", 2) if isinstance(first, dict) else 2
    return stride if _is_int(stride) and stride in STEMS else 2


def derived_spec(
    cell_ops: list[str], name: str = "derived", stages=SUPERNET_STAGES, stem_stride: int = 2
) -> dict[str, Any]:
    """A searched net: the supernet layout with one fixed op per cell."""
    return {
        "arch": name,
        "ops": list(cell_ops),
        "layers": supernet_layers(list(cell_ops), stages, stem_stride),
        "fc": 512,
    }


_RESNET_RE = re.compile(r"^resnet(\d+)$")


def valid_arch_names() -> list[str]:
    return sorted(ARCHS) + ["resnetN (N = 6n+2: resnet8, resnet14, resnet20, resnet32, ...)"]


def get_spec(arch: str) -> dict[str, Any]:
    """A registered name, ``resnetN``, or a path to an ``arch.json``/spec JSON file."""
    if arch in ARCHS:
        return ARCHS[arch]()
    m = _RESNET_RE.match(arch)
    if m:
        return resnet_spec(int(m.group(1)))
    if arch.endswith(".json") or "/" in arch:
        return load_spec(arch)
    raise ArchError(
        f"unknown arch {arch!r}; valid: {', '.join(valid_arch_names())}, or a path to arch.json"
    )


def load_spec(path: str | Path) -> dict[str, Any]:
    try:
        spec = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArchError(f"arch file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise ArchError(f"arch file {path} is not valid JSON: {e}") from None
    check_spec(spec, str(path))
    return spec


#: Keys a layer may carry besides op, c and s, per op (what each op's factory accepts).
_LAYER_KEYS = {"conv": {"k", "padding", "relu"}, "mixed": {"choices"}}
_MAX_CHANNELS = 4096
_MAX_LAYERS = 256


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_layer(layer: Any, i: int, where: str) -> None:
    if not isinstance(layer, dict) or "op" not in layer or "c" not in layer:
        raise ArchError(f"{where}: layer {i} needs 'op' and 'c' keys")
    op = layer["op"]
    if not isinstance(op, str) or op not in OPS:
        raise ArchError(
            f"{where}: layer {i} has unknown op {op!r}; valid: {', '.join(sorted(OPS))}"
        )
    extra = sorted(set(layer) - {"op", "c", "s"} - _LAYER_KEYS.get(op, set()), key=str)
    if extra:
        valid = ", ".join(["op", "c", "s", *sorted(_LAYER_KEYS.get(op, set()))])
        raise ArchError(f"{where}: layer {i} ({op}) has unknown key {extra[0]!r}; valid: {valid}")
    c = layer["c"]
    if not _is_int(c) or not 1 <= c <= _MAX_CHANNELS:
        raise ArchError(
            f"{where}: layer {i} 'c' must be an integer in 1..{_MAX_CHANNELS}, got {c!r}"
        )
    stride = layer.get("s", 1)
    if not _is_int(stride) or not 1 <= stride <= 8:
        raise ArchError(f"{where}: layer {i} 's' must be an integer in 1..8, got {stride!r}")
    if "k" in layer and (not _is_int(layer["k"]) or not 1 <= layer["k"] <= 11):
        raise ArchError(f"{where}: layer {i} 'k' must be an integer in 1..11, got {layer['k']!r}")
    pad = layer.get("padding")
    if pad is not None and (not _is_int(pad) or not 0 <= pad <= 5):
        raise ArchError(
            f"{where}: layer {i} 'padding' must be null or an integer in 0..5, got {pad!r}"
        )
    if "relu" in layer and not isinstance(layer["relu"], bool):
        raise ArchError(f"{where}: layer {i} 'relu' must be true or false, got {layer['relu']!r}")
    if "choices" in layer:
        ch = layer["choices"]
        if not isinstance(ch, list) or not ch or any(x not in CELL_OPS for x in ch):
            raise ArchError(
                f"{where}: layer {i} 'choices' must list cell ops from {', '.join(CELL_OPS)}"
            )


def check_spec(spec: Any, where: str = "spec") -> None:
    """Refuse a malformed architecture spec with one line naming the problem (never a traceback
    from deeper down): unknown op or key, wrong cell count, missing keys, wrong types or ranges."""
    if not isinstance(spec, dict):
        raise ArchError(f"{where}: an architecture spec must be a JSON object")
    n_cells = len(_cell_layout())
    if "ops" in spec:
        ops = spec["ops"]
        if not isinstance(ops, list) or len(ops) != n_cells:
            got = f"{len(ops)}" if isinstance(ops, list) else type(ops).__name__
            raise ArchError(f"{where}: 'ops' must list {n_cells} cell ops (got {got})")
        bad = [o for o in ops if not isinstance(o, str) or o not in CELL_OPS]
        if bad:
            raise ArchError(f"{where}: unknown cell op {bad[0]!r}; valid: {', '.join(CELL_OPS)}")
        if "layers" not in spec:  # a bare list of cell ops: the derived layout
            spec["layers"] = supernet_layers(ops)
        elif spec["layers"] != supernet_layers(ops, stem_stride=spec_stem_stride(spec)):
            raise ArchError(
                f"{where}: 'layers' do not match 'ops' (the derived layout of those ops)"
            )
    layers = spec.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ArchError(f"{where}: an architecture spec needs a non-empty 'layers' list (or 'ops')")
    if len(layers) > _MAX_LAYERS:
        raise ArchError(f"{where}: {len(layers)} layers; at most {_MAX_LAYERS}")
    for i, layer in enumerate(layers):
        _check_layer(layer, i, where)
    fc = spec.get("fc", 512)
    if not _is_int(fc) or not 1 <= fc <= 65536:
        raise ArchError(f"{where}: 'fc' must be an integer in 1..65536, got {fc!r}")
    if "arch" in spec and not isinstance(spec["arch"], str):
        raise ArchError(f"{where}: 'arch' must be a string name, got {spec['arch']!r}")


class Agent(nn.Module):
    """Shared trunk with an actor head (logits) and a critic head (scalar value).

    Input: uint8 frames (N, 4, 84, 84); scaled to [0, 1] inside ``forward``.
    """

    def __init__(self, spec: dict[str, Any], n_actions: int, norm: str = "none"):
        super().__init__()
        check_spec(spec)
        keep_freed_memory()  # activations reused, not page-faulted in afresh (ops.py)
        self.spec = spec
        self.n_actions = n_actions
        self.norm = norm
        c, h, w = OBS_SHAPE
        layers = []
        for i, layer in enumerate(spec["layers"]):
            kw = {k: v for k, v in layer.items() if k not in ("op", "c", "s")}
            try:
                layers.append(OPS[layer["op"]](c, layer["c"], layer.get("s", 1), norm=norm, **kw))
            except (ValueError, RuntimeError) as e:  # e.g. channels not divisible by groups
                raise ArchError(
                    f"layer {i} ({layer['op']}, {c} -> {layer['c']} channels) cannot be built: "
                    f"{str(e).splitlines()[0][:120]}"
                ) from None
            c = layer["c"]
        self.body = nn.Sequential(*layers)
        try:
            with torch.no_grad():
                flat = self.body(torch.zeros(1, *OBS_SHAPE)).numel()
        except RuntimeError as e:  # e.g. the layers shrink the frame below a kernel
            raise ArchError(
                f"architecture {spec.get('arch', '?')!r} does not fit a {OBS_SHAPE} frame: "
                f"{str(e).splitlines()[0][:120]}"
            ) from None
        fc = spec.get("fc", 512)
        self.fc = nn.Sequential(
            nn.Flatten(), init_layer(nn.Linear(flat, fc)), nn.ReLU(inplace=True)
        )
        self.actor = init_layer(nn.Linear(fc, n_actions), std=0.01)
        self.critic = init_layer(nn.Linear(fc, 1), std=1.0)
        # NHWC convolutions: measured 1.5-2x faster forward+backward on CPU for every net here
        # (depthwise convs most), and the layout cuDNN prefers; the maths is unchanged.
        self.to(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        # one new float tensor, scaled in place: the same values as `x.float() / 255.0` without
        # a second frame-sized allocation (copy=True: never scale a float input in place)
        x = x.to(torch.float32, copy=True).div_(255.0)
        return self.fc(self.body(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        if torch.is_autocast_enabled(h.device.type):
            # under bf16 autocast the two small heads still run in float32: the policy's
            # log-probabilities (PPO's ratio) and the value keep full precision
            with torch.autocast(h.device.type, enabled=False):
                h = h.float()
                return self.actor(h), self.critic(h).squeeze(-1)
        return self.actor(h), self.critic(h).squeeze(-1)


def build(
    arch: str | dict[str, Any], n_actions: int, norm: str = "none", fc_dim: int | None = None
) -> Agent:
    spec = get_spec(arch) if isinstance(arch, str) else arch
    if fc_dim is not None:
        spec = {**spec, "fc": fc_dim}
    return Agent(spec, n_actions, norm)
