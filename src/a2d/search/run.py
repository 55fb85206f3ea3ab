"""Running a search and deriving its architecture. The PPO loop is ``a2d.rl.ppo.train``; the search
is the hooks it is given (SearchHook, plus DistillHook for the A2D methods)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from a2d import A2DError
from a2d.checkpoint import CheckpointError, atomic_torch_save, atomic_write_json, load_torch
from a2d.config import MethodConfig, TrainConfig
from a2d.models import build, get_spec
from a2d.models.builder import derived_spec, spec_stem_stride, supernet_spec
from a2d.models.cost import count_macs, count_params, cpu_latency_ms
from a2d.rl.ppo import held_out_size, train
from a2d.search.distill import DistillHook
from a2d.search.hooks import SearchHook
from a2d.teacher_file import load_teacher

SUPERNET_FORMAT = "a2d-supernet-v1"


def search_spec(tc: TrainConfig) -> dict[str, Any]:
    """The supernet spec a search with these settings runs (and its cost table is measured on)."""
    return {**supernet_spec(stem_stride=tc.search.stem_stride), "fc": tc.model.fc_dim}


def load_search_cost_table(path: str | Path | None, tc: TrainConfig) -> dict[str, Any] | None:
    """The latency table of a ``search.cost: latency`` search, checked against the search's
    supernet, normalisation and ``search.cost_target`` (None with the MACs cost)."""
    from a2d.models.cost_table import check_matches, read_cost_table

    if tc.search.cost != "latency":
        if path is not None:
            raise A2DError("--cost-table is used only with search.cost: latency")
        return None
    if path is None:
        raise A2DError(
            "search.cost: latency needs --cost-table FILE (make it with a2d cost-table "
            f"--target {tc.search.cost_target})"
        )
    table = read_cost_table(path)
    check_matches(table, search_spec(tc), tc.model.norm, str(path))
    if table["target"] != tc.search.cost_target:
        raise A2DError(
            f"cost table {path} was measured on {table['target']}, "
            f"search.cost_target is {tc.search.cost_target}"
        )
    return table


def run_search(
    game: str,
    method_name: str,
    method: MethodConfig,
    teacher: str | Path | None,
    seed: int,
    out_dir: str | Path,
    tc: TrainConfig,
    log=print,
    force: bool = False,
    cost_table: str | Path | None = None,
) -> dict[str, Any]:
    """Search on ``game`` into ``out_dir``, locked for the whole search. A folder holding a
    finished search (eval.json, which ``train`` writes after the search's outputs) is refused
    unless ``force``, which moves it aside (``a2d.runlock``). ``cost_table``: the latency table
    file of ``search.cost: latency``."""
    from a2d.runlock import refuse_finished, run_lock

    table = load_search_cost_table(cost_table, tc)  # before the lock: a bad table costs nothing
    with run_lock(out_dir):
        refuse_finished(out_dir, force)  # before any of the search's own work
        return _run_search(game, method_name, method, teacher, seed, out_dir, tc, log, force, table)


def _run_search(game, method_name, method, teacher, seed, out_dir, tc, log, force, table):
    out = Path(out_dir)
    tcs = copy.deepcopy(tc)
    tcs.ppo.total_steps = tc.search.steps
    p = tcs.ppo
    tcs.eval.interval = tc.search.eval_interval or min(
        tc.eval.interval, max(p.batch_size, tc.search.steps // 8)
    )
    num_iterations = max(1, -(-p.total_steps // p.batch_size))
    spec = search_spec(tc)
    if method.optimisation == "bi_level":  # before anything runs: the held-out split must fit
        held_out_size(tc.search.bilevel_alpha_share, p.batch_size, p.num_minibatches)
    macs_ref = count_macs(build(get_spec(tc.search.macs_ref_arch), 18))
    search = SearchHook(
        spec, tc.search, method, num_iterations, macs_ref, out, tc.model.norm, cost_table=table
    )
    hooks = [search]
    if method.actor > 0 or method.critic > 0:
        if teacher is None:
            raise A2DError(f"method {method_name} distils from a teacher: give --teacher")
        from a2d.config import resolve_device

        hooks.append(
            DistillHook(
                load_teacher(teacher, game, resolve_device(tc.device)), method.actor, method.critic
            )
        )
    log(
        f"search {method_name} on {game}: {method}, {tc.search.mode} mode, {p.total_steps} steps, "
        f"warm-up {search.warmup_iterations}/{num_iterations} iterations"
    )

    def finish(result: dict[str, Any], agent_payload: dict[str, Any]) -> None:
        # the search's declared outputs, before train() writes eval.json (its finish marker)
        search.write_outputs()
        atomic_torch_save(
            out / "supernet.pt",
            {
                **agent_payload,
                "format": SUPERNET_FORMAT,
                "alpha": search.ctl.alpha.detach().cpu(),
                "choices": search.ctl.choices,
                "macs_table": search.ctl.macs_table.cpu(),
                "macs_fixed": search.ctl.macs_fixed,
                "method": method_name,
                "search_wall_s": result["train_wall_s"],
                **(
                    {
                        "latency_table": search.ctl.latency_table.cpu(),
                        "latency_fixed": search.ctl.latency_fixed,
                        "latency_target": table["target"],
                    }
                    if table is not None
                    else {}
                ),
            },
        )
        derive(out / "supernet.pt", out / "arch.json")

    final = train(game, spec, seed, out, tcs, hooks=hooks, log=log, finish=finish, force=force)
    (out / "agent.pt").unlink(missing_ok=True)  # the supernet.pt holds these weights
    return final


def check_supernet_payload(ckpt: dict[str, Any], where: str) -> None:
    """Refuse a supernet payload with a missing or badly typed field, naming it (``where``:
    the file, for the message)."""
    from a2d.config import NORMS
    from a2d.models.ops import CELL_OPS

    missing = [
        k
        for k in (
            "alpha",
            "choices",
            "spec",
            "n_actions",
            "norm",
            "game",
            "method",
            "seed",
            "steps",
            "search_wall_s",
        )
        if k not in ckpt
    ]
    if missing:
        raise CheckpointError(f"{where}: supernet checkpoint lacks {', '.join(missing)}")

    def bad(key: str, want: str) -> CheckpointError:
        return CheckpointError(f"{where}: {key} must be {want}, got {type(ckpt[key]).__name__}")

    choices = ckpt["choices"]
    if not isinstance(choices, list) or not choices:
        raise bad("choices", "a non-empty list of cell ops")
    if not all(isinstance(c, str) and c in CELL_OPS for c in choices):
        raise CheckpointError(f"{where}: choices must name cell ops ({', '.join(CELL_OPS)})")
    alpha = ckpt["alpha"]
    if not isinstance(alpha, torch.Tensor) or not alpha.is_floating_point() or alpha.dim() != 2:
        raise bad("alpha", "a 2-D float tensor")
    if alpha.shape[1] != len(choices) or not bool(torch.isfinite(alpha).all()):
        raise CheckpointError(
            f"{where}: alpha must be finite with one column per choice "
            f"(shape {tuple(alpha.shape)}, {len(choices)} choices)"
        )
    try:
        derived_spec([choices[0]] * alpha.shape[0])
    except A2DError:
        raise CheckpointError(
            f"{where}: alpha has {alpha.shape[0]} rows, not one per cell of the search space"
        ) from None
    if not isinstance(ckpt["spec"], dict):
        raise bad("spec", "a mapping")
    n = ckpt["n_actions"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise bad("n_actions", "an integer >= 1")
    if not isinstance(ckpt["norm"], str) or ckpt["norm"] not in NORMS:
        raise CheckpointError(f"{where}: norm must be one of {', '.join(NORMS)}")
    for key in ("game", "method"):
        if not isinstance(ckpt[key], str):
            raise bad(key, "a string")
    for key in ("seed", "steps"):
        if isinstance(ckpt[key], bool) or not isinstance(ckpt[key], int):
            raise bad(key, "an integer")
    w = ckpt["search_wall_s"]
    if isinstance(w, bool) or not isinstance(w, (int, float)):
        raise bad("search_wall_s", "a number")
    fc = ckpt["spec"].get("fc", 512)
    if isinstance(fc, bool) or not isinstance(fc, int) or fc < 1:
        raise CheckpointError(f"{where}: spec.fc must be an integer >= 1, got {fc!r:.40}")


def derive(supernet: str | Path, out: str | Path, name: str | None = None) -> dict[str, Any]:
    """Per-cell argmax of alpha -> arch.json (14 op names, MACs, params, where it came from)."""
    ckpt = load_torch(supernet, "supernet checkpoint")
    if ckpt.get("format") != SUPERNET_FORMAT:
        raise CheckpointError(
            f"{supernet} is not a supernet checkpoint (format {ckpt.get('format')!r:.60})"
        )
    check_supernet_payload(ckpt, f"supernet checkpoint {supernet}")
    alpha = ckpt["alpha"]
    ops = [ckpt["choices"][j] for j in alpha.argmax(-1).tolist()]
    stem_stride = spec_stem_stride(ckpt["spec"])
    spec = {
        **derived_spec(ops, name or f"{ckpt['method']}", stem_stride=stem_stride),
        "fc": ckpt["spec"].get("fc", 512),
    }
    net = build(spec, ckpt["n_actions"], norm=ckpt["norm"])
    probs = torch.softmax(alpha, -1)
    arch = {
        **spec,
        "macs": count_macs(net),
        "params": count_params(net),
        "game": ckpt["game"],
        "method": ckpt["method"],
        "seed": ckpt["seed"],
        "search_steps": ckpt["steps"],
        "search_wall_s": ckpt["search_wall_s"],
        "norm": ckpt["norm"],
        "confidence": [round(float(probs[i].max()), 4) for i in range(len(ops))],
        "latency_ms_b1": round(cpu_latency_ms(net), 3),  # PyTorch eager, this machine's CPU
    }
    if isinstance(ckpt.get("latency_table"), torch.Tensor):  # searched with search.cost: latency
        lat = ckpt["latency_table"]
        if lat.shape != alpha.shape or not isinstance(ckpt.get("latency_fixed"), (int, float)):
            raise CheckpointError(
                f"supernet checkpoint {supernet}: latency_table must match alpha's shape "
                f"{tuple(alpha.shape)} and latency_fixed be a number"
            )
        idx = alpha.argmax(-1)
        arch["predicted_latency_ms"] = {
            "target": str(ckpt.get("latency_target")),
            "ms": round(
                float(ckpt["latency_fixed"]) + float(lat.gather(1, idx.unsqueeze(1)).sum()), 4
            ),
            "source": "the search's cost table",
        }
    atomic_write_json(out, arch)
    return arch
