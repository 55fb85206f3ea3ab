"""Costs of a network: MACs from PyTorch's own FLOP counter, parameters, CPU latency."""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from a2d.models.builder import OBS_SHAPE
from a2d.models.ops import MixedOp, plain_ops


def count_macs(model: nn.Module, input_shape=OBS_SHAPE) -> int:
    """Multiply-accumulates of one forward pass at batch 1 (FlopCounterMode FLOPs / 2)."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, *input_shape, dtype=torch.uint8, device=next(model.parameters()).device)
    with torch.no_grad(), plain_ops(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops() // 2)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def cpu_latency_ms(model: nn.Module, batch: int = 1, repeats: int = 50, warmup: int = 10) -> float:
    """Median batch-`batch` forward latency on the CPU, milliseconds."""
    model = model.eval()
    x = torch.randint(0, 255, (batch, *OBS_SHAPE), dtype=torch.uint8)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    times.sort()
    return 1000 * times[len(times) // 2]


def model_card(model, arch: str) -> dict:
    return {"arch": arch, "macs": count_macs(model), "params": count_params(model)}


def cells_and_shapes(net: nn.Module) -> tuple[list, list[tuple[int, ...]], tuple[int, ...] | None]:
    """A supernet's mixed cells, each one's input shape (C, H, W) and the last cell's output
    shape (None without cells), from one forward pass of a zero frame with hooks."""
    cells = [m for m in net.modules() if isinstance(m, MixedOp)]
    shapes: list[tuple[int, ...]] = []
    out: list[tuple[int, ...]] = []
    handles = [
        c.register_forward_pre_hook(lambda m, args: shapes.append(tuple(args[0].shape[1:])))
        for c in cells
    ]
    if cells:
        handles.append(
            cells[-1].register_forward_hook(lambda m, a, y: out.append(tuple(y.shape[1:])))
        )
    with torch.no_grad():
        net(torch.zeros(1, *OBS_SHAPE, dtype=torch.uint8))
    for h in handles:
        h.remove()
    return cells, shapes, (out[0] if out else None)


def cell_macs_table(
    spec: dict, n_actions: int = 4, norm: str = "none"
) -> tuple[list[list[int]], int, list[str]]:
    """Per-cell MACs of every candidate op of a supernet spec, measured once with the FLOP counter.

    Returns ``(table, fixed, choices)``: ``table[i][j]`` = MACs of op ``choices[j]`` in cell ``i``
    at that cell's input shape; ``fixed`` = MACs of everything outside the cells (stem, head conv,
    FC, heads). A derived net's MACs = fixed + sum_i table[i][op_i].
    """
    from a2d.models.builder import build

    net = build(spec, n_actions, norm=norm).eval()
    cells, shapes, _ = cells_and_shapes(net)
    table = []
    for cell, shape in zip(cells, shapes):
        row = []
        for op in cell.candidates:
            with torch.no_grad(), plain_ops(), FlopCounterMode(display=False) as counter:
                op(torch.zeros(1, *shape))
            row.append(int(counter.get_total_flops() // 2))
        table.append(row)
    total_uniform = count_macs(net)  # uniform mixture runs every op once per cell
    fixed = total_uniform - sum(sum(r) for r in table)
    return table, fixed, list(cells[0].choices)
