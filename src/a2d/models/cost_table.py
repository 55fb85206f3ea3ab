"""Measured per-cell latency table of a supernet (the cost of ``search.cost: latency``).

FBNet searched against a table of each candidate op's latency measured on the target device;
this module builds that table for the supernet spec the search uses: for every cell and every
op of the cell's choices, that op alone is built at the cell's input shape (the very modules of
the supernet, so the table follows whatever spec the search runs) and timed at batch 1 on the
target; the fixed part (input scaling, stem, head convolution, FC, actor and critic heads) is
timed as one module. A derived net's predicted latency is

    fixed_ms + sum over cells of ms[cell][op]

where ``ms = max(raw_ms - overhead_ms, 0)``: each op was timed as a call of its own, which pays
what a whole net pays once: the runtime's per-call cost and, for ONNX Runtime, the conversion of
the input and output to and from its blocked (NCHWc) layout. ``overhead_ms`` of a cell is the
median latency of a call that does (almost) nothing on that cell's input: for
``onnxruntime-cpu`` a depthwise 1x1 convolution (the same call and layout conversions, next to no
arithmetic), for the PyTorch targets a copy of the tensor. ``fixed_ms`` keeps the one call of
the net.

Targets (batch 1, median of ``repeats`` calls after ``warmup`` calls):

- ``onnxruntime-cpu``: the module exported alone to ONNX (the exporter of ``a2d export``), run
  by an ONNX Runtime CPU session with ``threads`` intra-op threads;
- ``torch-cpu``: PyTorch eager on the CPU under ``torch.inference_mode`` with ``threads`` threads;
- ``cuda``: PyTorch eager on the GPU, synchronised after every call.

The table is JSON (``a2d cost-table``), written atomically, with the machine it was measured on.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2d import A2DError
from a2d.config import COST_TARGETS
from a2d.machine import cpu_model
from a2d.models.builder import OBS_SHAPE, build, get_spec
from a2d.models.cost import cells_and_shapes
from a2d.models.ops import MixedOp

FORMAT = "a2d-cost-table-v1"
#: actions of the heads the table is measured with (the full ALE set; a smaller game's heads
#: are a few hundred MACs smaller, far below the timing's resolution)
N_ACTIONS = 18


class CostTableError(A2DError):
    pass


def check_target(target: str) -> None:
    """Refuse an unknown target, or ``cuda`` without a GPU, with one line naming the valid ones."""
    if target not in COST_TARGETS:
        raise CostTableError(f"unknown cost target {target!r}; valid: {', '.join(COST_TARGETS)}")
    if target == "cuda" and not torch.cuda.is_available():
        valid = [t for t in COST_TARGETS if t != "cuda"]
        raise CostTableError(
            f"cost target cuda needs a CUDA GPU and none is available; valid here: "
            f"{', '.join(valid)}"
        )


# ---------------------------------------------------------------- timing one module


STATISTICS = {"median": statistics.median, "min": min}


def _median_ms(
    call: Callable[[], Any], repeats: int, warmup: int, sync=lambda: None, statistic="median"
) -> float:
    """``statistic`` (median, or min: what a busy machine leaves least disturbed) of the call's
    wall time over ``repeats`` calls after ``warmup`` calls, in ms."""
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        call()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1000 * STATISTICS[statistic](times)


def _time_torch(module, inputs, device, repeats, warmup, statistic) -> float:
    module = module.to(device).eval()
    xs = tuple(x.to(device) for x in inputs)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch.inference_mode():
        return _median_ms(lambda: module(*xs), repeats, warmup, sync, statistic)


def _time_ort(module, inputs, threads, repeats, warmup, statistic) -> float:
    import onnxruntime as ort

    names = [f"x{i}" for i in range(len(inputs))]
    with tempfile.TemporaryDirectory(prefix="a2d-cost-") as tmp:
        path = Path(tmp) / "op.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                tuple(inputs),
                str(path),
                dynamo=False,
                opset_version=17,
                input_names=names,
                do_constant_folding=True,
            )
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feed = {i.name: x.contiguous().numpy() for i, x in zip(sess.get_inputs(), inputs)}
    return _median_ms(lambda: sess.run(None, feed), repeats, warmup, statistic=statistic)


def time_module(
    module: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    target: str,
    *,
    threads: int = 1,
    repeats: int = 50,
    warmup: int = 10,
    statistic: str = "median",
) -> float:
    """Median (or ``statistic``) batch-1 latency (ms) of ``module(*inputs)`` on ``target``."""
    check_target(target)
    if statistic not in STATISTICS:
        raise CostTableError(f"unknown statistic {statistic!r}; valid: {', '.join(STATISTICS)}")
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        if target == "onnxruntime-cpu":
            return _time_ort(module, inputs, threads, repeats, warmup, statistic)
        device = "cuda" if target == "cuda" else "cpu"
        return _time_torch(module, inputs, device, repeats, warmup, statistic)
    finally:
        torch.set_num_threads(old)


def net_latency_ms(net: nn.Module, target: str, **kw) -> float:
    """Median batch-1 latency (ms) of a whole agent (uint8 frames in, logits and value out)."""
    x = torch.randint(0, 256, (1, *OBS_SHAPE), dtype=torch.uint8)
    return time_module(net, (x,), target, **kw)


class _Copy(nn.Module):
    def forward(self, x):
        return x.clone()


def pass_through(channels: int, target: str) -> nn.Module:
    """The call that does (almost) nothing on a cell's input, which ``overhead_ms`` times."""
    if target == "onnxruntime-cpu":
        conv = nn.Conv2d(channels, channels, 1, groups=channels, bias=False)
        nn.init.ones_(conv.weight)
        return conv.to(memory_format=torch.channels_last)
    return _Copy()


# ---------------------------------------------------------------- the fixed part


class FixedPart(nn.Module):
    """Everything of an agent outside its cells, as one module: the input scaling and the layers
    before the first cell (the stem) on the frames, and the layers after the last cell (the head
    convolution), FC and heads on a tensor of the last cell's output shape."""

    def __init__(self, agent: nn.Module):
        super().__init__()
        body = list(agent.body)
        cells = [i for i, m in enumerate(body) if isinstance(m, MixedOp)]
        if not cells or cells != list(range(cells[0], cells[-1] + 1)):
            raise CostTableError("the supernet's cells must be one run of consecutive layers")
        self.pre = nn.Sequential(*body[: cells[0]])
        self.post = nn.Sequential(*body[cells[-1] + 1 :])
        self.fc, self.actor, self.critic = agent.fc, agent.actor, agent.critic

    def forward(self, frames, last):
        x = frames.contiguous(memory_format=torch.channels_last).to(torch.float32) / 255.0
        h = self.fc(self.post(last))
        return self.pre(x), self.actor(h), self.critic(h).squeeze(-1)


# ---------------------------------------------------------------- the table


def _cells_and_shapes(net: nn.Module) -> tuple[list[MixedOp], list[tuple[int, ...]], tuple]:
    """The supernet's cells, each one's input shape (C, H, W) and the last cell's output shape."""
    cells, shapes, out = cells_and_shapes(net)
    if not cells:
        raise CostTableError("the spec has no searchable (mixed) cells: give a supernet spec")
    return cells, shapes, out


def _machine(target: str) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    try:
        import onnxruntime

        facts["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        facts["onnxruntime"] = None
    if target == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["cuda"] = torch.version.cuda
    return facts


def build_cost_table(
    spec: dict[str, Any],
    target: str,
    *,
    norm: str = "none",
    ref_arch: str = "vanilla",
    threads: int = 1,
    repeats: int = 50,
    warmup: int = 10,
    statistic: str = "median",
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """The latency table of supernet ``spec`` on ``target`` (see the module's docstring)."""
    check_target(target)
    for name, value in (("threads", threads), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CostTableError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise CostTableError(f"warmup must be an integer >= 0, got {warmup!r}")
    kw = dict(threads=threads, repeats=repeats, warmup=warmup, statistic=statistic)
    torch.manual_seed(0)
    net = build(spec, N_ACTIONS, norm=norm).eval()
    cells, shapes, last = _cells_and_shapes(net)
    choices = list(cells[0].choices)
    if any(list(c.choices) != choices for c in cells):
        raise CostTableError("every cell of the supernet must offer the same choices")
    rows = []
    for i, (cell, shape) in enumerate(zip(cells, shapes)):
        x = torch.randn(1, *shape).contiguous(memory_format=torch.channels_last)
        raw = {op: time_module(m, (x,), target, **kw) for op, m in zip(choices, cell.candidates)}
        overhead = time_module(pass_through(shape[0], target), (x,), target, **kw)
        rows.append(
            {
                "cell": i,
                "input_shape": list(shape),
                "ms": {op: round(max(t - overhead, 0.0), 6) for op, t in raw.items()},
                "raw_ms": {op: round(t, 6) for op, t in raw.items()},
                "overhead_ms": round(overhead, 6),
            }
        )
        log(
            f"cell {i} {shape}: "
            + ", ".join(f"{op} {t:.3f}" for op, t in raw.items())
            + f" ms (overhead {overhead:.4f})"
        )
    frames = torch.randint(0, 256, (1, *OBS_SHAPE), dtype=torch.uint8)
    last_x = torch.randn(1, *last).contiguous(memory_format=torch.channels_last)
    fixed = time_module(FixedPart(net), (frames, last_x), target, **kw)
    ref_ms = net_latency_ms(build(get_spec(ref_arch), N_ACTIONS, norm=norm), target, **kw)
    log(f"fixed part {fixed:.3f} ms, {ref_arch} {ref_ms:.3f} ms")
    return {
        "format": FORMAT,
        "target": target,
        "unit": "ms",
        "statistic": statistic,
        "batch": 1,
        "threads": threads,
        "repeats": repeats,
        "warmup": warmup,
        "spec": spec,
        "norm": norm,
        "n_actions": N_ACTIONS,
        "choices": choices,
        "cells": rows,
        "fixed_ms": round(fixed, 6),
        "reference": {"arch": ref_arch, "ms": round(ref_ms, 6)},
        "machine": _machine(target),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "prediction": "fixed_ms + sum over cells of ms[op]; ms = max(raw_ms - overhead_ms, 0)",
    }


def write_cost_table(path: str | Path, table: dict[str, Any]) -> None:
    from a2d.checkpoint import atomic_write_json

    atomic_write_json(path, table)


# ---------------------------------------------------------------- reading and predicting


def read_cost_table(path: str | Path) -> dict[str, Any]:
    """A table file, its fields checked (one-line errors naming the file)."""
    import json

    try:
        table = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CostTableError(
            f"cost table not found: {path} (make it with a2d cost-table)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CostTableError(f"cost table {path} cannot be read: {str(e)[:120]}") from None
    if not isinstance(table, dict) or table.get("format") != FORMAT:
        raise CostTableError(f"{path} is not a cost table (format {FORMAT})")
    try:
        choices, rows = table["choices"], table["cells"]
        for r in rows:
            if list(r["ms"]) != choices or not all(
                isinstance(v, (int, float)) and v >= 0 for v in r["ms"].values()
            ):
                raise KeyError("ms")
        float(table["fixed_ms"]), float(table["reference"]["ms"]), table["target"], table["spec"]
    except (KeyError, TypeError, ValueError) as e:
        raise CostTableError(f"cost table {path} is malformed (field {e})") from None
    return table


def check_matches(table: dict[str, Any], spec: dict[str, Any], norm: str, where: str) -> None:
    """Refuse a table measured for another supernet (spec, normalisation) than the search's."""
    if table["spec"] != spec:
        raise CostTableError(
            f"cost table {where} was measured for another supernet spec than this search's "
            f"(rebuild it with a2d cost-table and the search's config)"
        )
    if table["norm"] != norm:
        raise CostTableError(
            f"cost table {where} was measured with model.norm {table['norm']!r}, "
            f"the search uses {norm!r}"
        )


def table_matrix(table: dict[str, Any]) -> tuple[list[list[float]], float, list[str]]:
    """``(ms[cell][op index], fixed_ms, choices)``: the shape of ``cell_macs_table``'s result."""
    choices = list(table["choices"])
    return (
        [[float(r["ms"][op]) for op in choices] for r in table["cells"]],
        float(table["fixed_ms"]),
        choices,
    )


def predict_ms(table: dict[str, Any], ops: list[str]) -> float:
    """The table's latency of the derived net with one op per cell."""
    rows = table["cells"]
    if len(ops) != len(rows):
        raise CostTableError(f"the table has {len(rows)} cells, got {len(ops)} ops")
    return float(table["fixed_ms"]) + sum(float(r["ms"][op]) for r, op in zip(rows, ops))
