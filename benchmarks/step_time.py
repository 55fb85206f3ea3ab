"""Training-step time per net: forward + backward + Adam on one PPO minibatch, side by side.

    python benchmarks/step_time.py [--batch 256] [--threads 1] [--repeats 5] \
        [--out benchmarks/out/step_time.json] [--against PATH/TO/other/src]

Nets (`--nets`): `vanilla`; `derived_<op>` (every one of the 14 cells = <op>, e.g.
derived_k3_e3); `hard_<op>` (the search's supernet in hard mode, alpha pinned to <op> in every
cell, so the net that runs is derived_<op>, with the straight-through weights and alpha's
gradient of the real search); `stem4_<op>` (derived_<op> with `search.stem_stride: 4`, a
5x5 stride-4 stem: an option, not the paper's search space). Each net is measured in its own
subprocess (1 intra-op thread by default), `--repeats` steps after 2 warm-up steps; each gets the
median and minimum wall time and CPU time (process time: the one to compare on a busy machine,
where other processes' time slices inflate the wall clock but not this process's CPU time),
its MACs (`a2d.models.count_macs`, batch 1) and `cpu_ms_per_mmac_vs_vanilla` (CPU time per MAC
over vanilla's). `hard_<op>` also gets `cpu_vs_derived` (its CPU time over derived_<op>'s).

`--against OTHER/src`: every net also runs with another checkout's code (`name@against`, and
`x_against` = other's CPU time / this one's: the speed-up). The order alternates per net, and
`--rounds 2` (default) runs everything a second time in reverse order; each number is the best
round's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

NETS = [
    "vanilla",
    "derived_k3_e1",
    "derived_k3_e3",
    "derived_k5_e6",
    "hard_k3_e3",
    "stem4_k3_e3",
]


def build_net(name: str, n_actions: int):
    """(module, extra parameters to optimise, MACs of the net that runs)."""
    import torch

    from a2d.models import build, count_macs
    from a2d.models.builder import derived_spec, supernet_spec

    kind, _, op = name.partition("_")
    if kind == "vanilla":
        net = build("vanilla", n_actions)
        return net, [], count_macs(net)
    if kind == "derived":
        net = build(derived_spec([op] * 14), n_actions)
        return net, [], count_macs(net)
    if kind == "stem4":
        net = build(derived_spec([op] * 14, name, stem_stride=4), n_actions)
        return net, [], count_macs(net)
    if kind == "hard":
        from a2d.search.controller import ArchController

        net = build(supernet_spec(), n_actions)
        ctl = ArchController(net, [[0] * 9] * 14, 0, mode="hard")
        with torch.no_grad():
            ctl.alpha[:, ctl.choices.index(op)] = 30.0
        ctl.new_iteration(0.0, warmup=False)
        assert set(ctl.index.tolist()) == {ctl.choices.index(op)}
        macs = count_macs(build(derived_spec([op] * 14), n_actions))
        return net, [ctl.alpha], macs
    raise SystemExit(f"unknown net {name!r}; e.g. {', '.join(NETS)}")


def measure(name: str, batch: int, threads: int, repeats: int) -> dict:
    import torch

    import a2d

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net, extra, macs = build_net(name, 4)
    opt = torch.optim.Adam([*net.parameters(), *extra], lr=2.5e-4, eps=1e-5)
    x = torch.randint(0, 256, (batch, 4, 84, 84), dtype=torch.uint8)

    def step():
        logits, value = net(x)
        loss = logits.log_softmax(-1)[:, 0].mean() + value.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(1000 * (time.perf_counter() - t0))
        cpu.append(1000 * (time.process_time() - c0))
    wall.sort()
    cpu.sort()
    from a2d.models import ops

    return {
        "wall_ms": wall[len(wall) // 2],
        "wall_ms_min": wall[0],
        "cpu_ms": cpu[len(cpu) // 2],
        "cpu_ms_min": cpu[0],
        "macs": macs,
        "a2d": str(Path(a2d.__file__).parent),
        "fused_conv_relu": getattr(ops, "FUSE", {}).get("conv_relu", False),
        "malloc_kept": getattr(ops, "_MALLOC_KEPT", False),
    }


def machine(threads: int) -> dict:
    import torch

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        model = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln)
        flags = sorted({f for f in ("amx_bf16", "avx512_bf16", "avx512f") if f" {f}" in text})
    except (OSError, StopIteration):
        flags = []
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": model,
        "cpu_flags": flags,
        "cores": len(os.sched_getaffinity(0)),
        "threads": threads,
        "load_avg": os.getloadavg(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=NETS)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="2: a second pass in reverse order")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/step_time.json"))
    ap.add_argument("--against", type=Path, help="another checkout's src/ folder")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.child, a.batch, a.threads, a.repeats)))
        return
    if a.against is not None and not (a.against / "a2d" / "__init__.py").is_file():
        raise SystemExit(f"--against {a.against}: no a2d package there (give a checkout's src/)")
    here = str(Path(__file__).resolve().parents[1] / "src")
    plan = []  # (key, net, PYTHONPATH)
    for i, n in enumerate(a.nets):
        pair = [(n, n, here)]
        if a.against is not None:
            pair.append((f"{n}@against", n, str(a.against.resolve())))
        plan += pair if i % 2 == 0 else pair[::-1]
    runs = []
    for r in range(a.rounds):
        runs += plan if r % 2 == 0 else plan[::-1]
    rounds: dict[str, list[dict]] = {}
    for key, n, pythonpath in runs:
        cmd = [sys.executable, __file__, "--child", n, "--batch", str(a.batch)]
        cmd += ["--threads", str(a.threads), "--repeats", str(a.repeats)]
        env = {**os.environ, "PYTHONPATH": pythonpath}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        res = json.loads(out.strip().splitlines()[-1])
        rounds.setdefault(key, []).append(res)
        print(f"{key:28s} cpu {res['cpu_ms']:8.1f} ms  wall {res['wall_ms']:8.1f} ms", flush=True)
    results = {}
    for key, rs in rounds.items():
        best = min(rs, key=lambda r: r["cpu_ms"])
        results[key] = {**best, "rounds_cpu_ms": [r["cpu_ms"] for r in rs]}
        results[key]["wall_ms"] = min(r["wall_ms"] for r in rs)
    for suffix in ("", "@against"):
        van = results.get(f"vanilla{suffix}")
        for key, r in results.items():
            if not key.endswith(suffix) or (suffix == "" and key.endswith("@against")):
                continue
            if van:
                per = r["cpu_ms"] / r["macs"]
                r["cpu_ms_per_mmac"] = 1e6 * per
                r["cpu_ms_per_mmac_vs_vanilla"] = per / (van["cpu_ms"] / van["macs"])
            if key.startswith("hard_"):
                d = results.get("derived_" + key[len("hard_") :])
                if d:
                    r["cpu_vs_derived"] = r["cpu_ms"] / d["cpu_ms"]
    for key, r in results.items():
        other = results.get(f"{key}@against")
        if other:
            r["x_against"] = other["cpu_ms"] / r["cpu_ms"]
            r["x_against_wall"] = other["wall_ms"] / r["wall_ms"]
    doc = {
        "machine": machine(a.threads),
        "batch": a.batch,
        "repeats": a.repeats,
        "rounds": a.rounds,
        "results": results,
    }
    if a.against is not None:
        doc["against"] = str(a.against.resolve())
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"\n{'net':28s} {'MMACs':>7s} {'cpu ms':>8s} {'wall ms':>8s} {'ms/MMAC':>8s}"
        f" {'x vanilla':>9s} {'x derived':>9s} {'x against':>9s}"
    )
    for key, r in results.items():

        def f(k, fmt, r=r):
            return format(r[k], fmt) if k in r else "-"

        print(
            f"{key:28s} {r['macs'] / 1e6:7.2f} {r['cpu_ms']:8.1f} {r['wall_ms']:8.1f}"
            f" {f('cpu_ms_per_mmac', '8.1f'):>8s} {f('cpu_ms_per_mmac_vs_vanilla', '9.2f'):>9s}"
            f" {f('cpu_vs_derived', '9.2f'):>9s} {f('x_against', '9.2f'):>9s}"
        )
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
