"""Time of one distilled PPO update (the minibatch steps of one iteration, with the teacher's
terms), this checkout against another, side by side.

    python benchmarks/kd_update.py [--against OTHER/src] [--pairs resnet8:vanilla ...] \
        [--repeats 3] [--out benchmarks/out/kd_update.json]

One PPO iteration's update as `a2d train --teacher` runs it (CleanRL's defaults: a rollout of
8 x 128 = 1,024 steps, 4 epochs x 4 minibatches of 256, Adam), on random frames, with
`DistillHook(teacher, 1.0, 0.5)` (the KD controls' coefficients) and `a2d.rl.ppo.ppo_update`, 1
intra-op thread, fp32 on the CPU. A pair `student:teacher` names two nets of the registry, or
`stem4_k3_e3` (every cell k3_e3, the stride-4 stem). Each (pair, checkout) runs in its own
subprocess: one warm-up update, then `--repeats`, the median CPU time (process time) kept; the
order alternates per pair and a second round runs in reverse, each number the best round's.
`x_against` = the other checkout's CPU time / this one's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

PAIRS = ["vanilla:vanilla", "stem4_k3_e3:vanilla", "resnet8:vanilla"]


def build_net(name: str, n_actions: int):
    from a2d.models import build
    from a2d.models.builder import derived_spec

    if name.startswith("stem4_"):
        return build(derived_spec([name[len("stem4_") :]] * 14, name, stem_stride=4), n_actions)
    return build(name, n_actions)


def measure(pair: str, repeats: int) -> dict:
    import torch

    from a2d.config import TrainConfig
    from a2d.rl.ppo import ppo_update
    from a2d.search.distill import DistillHook

    torch.set_num_threads(1)
    torch.manual_seed(0)
    student_name, teacher_name = pair.split(":")
    n_actions = 9
    student, teacher = build_net(student_name, n_actions), build_net(teacher_name, n_actions)
    p = TrainConfig().ppo
    T, N = p.num_steps, p.num_envs
    g = torch.Generator().manual_seed(0)
    rollout = SimpleNamespace(
        obs=torch.randint(0, 256, (T, N, 84, 84, 4), dtype=torch.uint8, generator=g).permute(
            0, 1, 4, 2, 3
        ),
        actions=torch.randint(0, n_actions, (T, N), generator=g),
        forced=torch.zeros((T, N), dtype=torch.bool),
        logprobs=torch.full((T, N), -2.2),
        values=torch.randn((T, N), generator=g),
        device="cpu",
    )
    adv, ret = torch.randn((T, N), generator=g), torch.randn((T, N), generator=g)
    opt = torch.optim.Adam(student.parameters(), lr=p.learning_rate, eps=1e-5)
    hook = DistillHook(teacher, 1.0, 0.5)
    hook.setup(student, n_actions, "cpu")
    amp = torch.autocast("cpu", enabled=False)

    def update(i):
        hook.on_iteration_start(i, i * T * N)
        ppo_update(student, opt, rollout, adv, ret, p, [hook], amp, i, i * T * N)
        hook.on_iteration_end(i, i * T * N, None)

    update(0)
    cpu = []
    for i in range(repeats):
        c0 = time.process_time()
        update(i + 1)
        cpu.append(1000 * (time.process_time() - c0))
    cpu.sort()
    import a2d

    return {"cpu_ms": cpu[len(cpu) // 2], "cpu_ms_all": cpu, "a2d": str(Path(a2d.__file__).parent)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", nargs="+", default=PAIRS, help="student:teacher")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/kd_update.json"))
    ap.add_argument("--against", type=Path, help="another checkout's src/ folder")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.child, a.repeats)))
        return
    if a.against is not None and not (a.against / "a2d" / "__init__.py").is_file():
        raise SystemExit(f"--against {a.against}: no a2d package there (give a checkout's src/)")
    for pair in a.pairs:
        if pair.count(":") != 1:
            raise SystemExit(f"--pairs {pair!r}: write student:teacher, e.g. resnet8:vanilla")
    here = str(Path(__file__).resolve().parents[1] / "src")
    plan = []
    for i, pair in enumerate(a.pairs):
        two = [(pair, pair, here)]
        if a.against is not None:
            two.append((f"{pair}@against", pair, str(a.against.resolve())))
        plan += two if i % 2 == 0 else two[::-1]
    rounds: dict[str, list[dict]] = {}
    for key, pair, pythonpath in plan + plan[::-1]:
        cmd = [sys.executable, __file__, "--child", pair, "--repeats", str(a.repeats)]
        env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        res = json.loads(out.strip().splitlines()[-1])
        rounds.setdefault(key, []).append(res)
        print(f"{key:30s} cpu {res['cpu_ms']:8.1f} ms per update", flush=True)
    results = {k: min(rs, key=lambda r: r["cpu_ms"]) for k, rs in rounds.items()}
    for key, r in results.items():
        other = results.get(f"{key}@against")
        if other:
            r["x_against"] = other["cpu_ms"] / r["cpu_ms"]
    from step_time import machine  # noqa: E402 (same folder)

    doc = {
        "machine": machine(1),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "results": results,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
