"""SHA-256 of a tiny fixed run's outputs, to show a speed-up leaves the numbers unchanged.

    python benchmarks/outputs_sha.py [--threads 1] > sha_after.json
    PYTHONPATH=/tmp/before/src python benchmarks/outputs_sha.py > sha_before.json   # old code

Runs on CPU, seed 1: `vanilla` PPO on Breakout (8 envs x 128 steps, 3 iterations, a resume
checkpoint and env re-seed after iteration 2, test evaluations at 0 and 2048 steps and the final
one), the same `vanilla` PPO for 2 iterations distilled from a fixed untrained teacher (the
distillation hook's terms), and a hard-mode search (the hooks: extra losses, the architecture step, Gumbel draws) of 2
iterations. Prints curve.csv, eval.json and the final weights' hashes (each tensor of the
state_dict in order, name, dtype, shape and bytes) as JSON, and which `a2d` it imported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_sha(state: dict) -> str:
    h = hashlib.sha256()
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes())
    return h.hexdigest()


def run_hashes(d: Path) -> dict:
    """Hashes of a finished run's curve.csv, eval.json and final weights."""
    import torch

    return {
        "curve.csv": file_sha(d / "curve.csv"),
        "eval.json": file_sha(d / "eval.json"),
        "agent.pt state_dict": state_sha(
            torch.load(d / "agent.pt", weights_only=True)["state_dict"]
        ),
    }


#: --precision / --async-groups of this run (attributes an older a2d simply ignores)
OPTS: dict = {}


def tiny_cfg(threads: int, steps: int):
    from a2d.config import TrainConfig

    cfg = TrainConfig()
    cfg.device, cfg.torch_threads = "cpu", threads
    cfg.precision = OPTS.get("precision", "fp32")
    cfg.env.async_groups = OPTS.get("async_groups", 1)
    cfg.ppo.total_steps = steps
    cfg.eval.interval = 2048
    cfg.eval.curve_episodes = cfg.eval.episodes = 2
    cfg.eval.frame_cap = 1000
    cfg.checkpoint_interval = 2048
    return cfg


def run_ppo(d: Path, threads: int) -> dict:
    from a2d.rl.ppo import train

    train("Breakout", "vanilla", 1, d, tiny_cfg(threads, 3 * 1024), log=lambda s: None)
    return run_hashes(d)


def run_kd(d: Path, threads: int) -> dict:
    """`vanilla` PPO distilled from a fixed untrained `vanilla` teacher (seed 123): the
    distillation hook's terms in every minibatch loss."""
    import torch

    from a2d.models import build
    from a2d.rl.ppo import train
    from a2d.search.distill import DistillHook

    torch.manual_seed(123)
    teacher = build("vanilla", 4)  # Breakout's 4 actions
    hook = DistillHook(teacher, 1.0, 0.5)
    train(
        "Breakout", "vanilla", 1, d, tiny_cfg(threads, 2 * 1024), hooks=[hook], log=lambda s: None
    )
    return run_hashes(d)


def run_search(d: Path, threads: int) -> dict:
    from a2d.config import MethodConfig
    from a2d.models.builder import supernet_spec
    from a2d.rl.ppo import train
    from a2d.search.hooks import SearchHook

    cfg = tiny_cfg(threads, 2 * 1024)
    cfg.model.fc_dim = 64
    cfg.search.mode, cfg.search.warmup = "hard", 0.0
    hook = SearchHook(
        supernet_spec(), cfg.search, MethodConfig(0.0, 0.0, "one_level"), 2, 9.35e6, d
    )
    train("Breakout", supernet_spec(), 1, d, cfg, hooks=[hook], log=lambda s: None)
    return {**run_hashes(d), "alpha": state_sha({"alpha": hook.ctl.alpha})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch_threads of the runs")
    ap.add_argument("--no-search", action="store_true", help="skip the search run")
    ap.add_argument("--precision", default="fp32", help="fp32 (the code before bf16) | bf16 | auto")
    ap.add_argument("--async-groups", type=int, default=1, help="env.async_groups (1: sync loop)")
    a = ap.parse_args()
    OPTS.update(precision=a.precision, async_groups=a.async_groups)
    import a2d

    doc = {"a2d": str(Path(a2d.__file__).parent), "threads": a.threads, **OPTS}
    with tempfile.TemporaryDirectory() as d:
        doc["ppo_vanilla"] = run_ppo(Path(d) / "ppo", a.threads)
        doc["ppo_distilled"] = run_kd(Path(d) / "kd", a.threads)
        if not a.no_search:
            doc["search_hard"] = run_search(Path(d) / "search", a.threads)
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
