"""Estimate the compute of a whole DAG from `snakemake -n` and measured steps/s.

    python benchmarks/estimate_compute.py [--configfile presets/x.yaml ...]
        [--bench benchmarks/out/bench.json] [--search-bench benchmarks/out/bench_search.json]
        [--gpu-sps 590]

The jobs come from the DAG itself (`snakemake -n -p`: every `a2d train` / `a2d search` command
with its arch or method), the steps per job from the merged config, and the time per step from a
`benchmarks/run.py` JSON: PPO seconds per step is fitted as a + b * MACs through the measured
`ppo_vanilla` and `ppo_resnet20` points (both on the same machine, in one run); a retrained
searched net uses the measured `ppo_derived` time and a search the measured `search_hard` time.
Test evaluations are not counted (the quick preset's logs put them at 10-20 % of a run).
`--gpu-sps` converts the env-step total to GPU-hours at an assumed steps/s per GPU job (no GPU
measurement is taken by this script).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dag_jobs(configfiles: list[str]) -> list[tuple[str, str]]:
    """(kind, arch-or-method) of every training and search job of the DAG."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1"]
    if configfiles:
        cmd += ["--configfile", "config.yaml", *configfiles]
    cmd += ["--config", "results=/nonexistent/estimate"]  # nothing exists: every job is listed
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    jobs = []
    for line in out.splitlines():
        if m := re.search(r"a2d train --game \S+ --arch (\S+)", line):
            arch = m.group(1)
            jobs.append(("retrain" if arch.endswith(".json") else "train", arch))
        elif m := re.search(r"a2d search --game \S+ --method (\S+)", line):
            jobs.append(("search", m.group(1)))
    return jobs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", nargs="*", default=[], help="overlays on config.yaml")
    ap.add_argument("--bench", default=str(ROOT / "benchmarks/out/bench.json"))
    ap.add_argument("--search-bench", default=str(ROOT / "benchmarks/out/bench_search.json"))
    ap.add_argument("--gpu-sps", type=float, help="assumed env steps/s of one GPU job")
    a = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT / "src"))
    from a2d import config
    from a2d.models import get_spec
    from a2d.models.builder import build
    from a2d.models.cost import count_macs

    cfg = config.load([str(ROOT / "config.yaml"), *a.configfile])
    train_steps = cfg["ppo"]["total_steps"]
    search_steps = cfg["search"]["steps"]
    bench_doc = json.loads(Path(a.bench).read_text())
    machine, bench = bench_doc.get("machine", {}), bench_doc["results"]
    sbench = json.loads(Path(a.search_bench).read_text())["results"]
    (m1, s1), (m2, s2) = [
        (bench[k]["macs"], 1 / bench[k]["sps"]) for k in ("ppo_vanilla", "ppo_resnet20")
    ]
    slope = (s2 - s1) / (m2 - m1)

    def sec_per_step(kind: str, name: str) -> float:
        if kind == "search":
            return 1 / sbench["search_hard"]["sps"]
        if kind == "retrain":
            return 1 / sbench["ppo_derived"]["sps"]
        return s1 + slope * (count_macs(build(get_spec(name), n_actions=18)) - m1)

    jobs = dag_jobs(a.configfile)
    rows: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for kind, name in jobs:
        steps = search_steps if kind == "search" else train_steps
        key = (kind, "searched net" if kind == "retrain" else name)
        rows[key][0] += 1
        rows[key][1] += steps
        rows[key][2] += steps * sec_per_step(kind, name)
    print(f"{'stage':8} {'net / method':16} {'jobs':>5} {'env steps':>14} {'CPU hours':>10}")
    total_steps = total_h = 0.0
    for (kind, name), (n, steps, sec) in sorted(rows.items()):
        print(f"{kind:8} {name:16} {n:5d} {steps:14,.0f} {sec / 3600:10,.0f}")
        total_steps += steps
        total_h += sec / 3600
    print(f"{'total':25} {len(jobs):5d} {total_steps:14,.0f} {total_h:10,.0f}")
    print(
        f"(CPU hours: one job on the {machine.get('cores', '?')}-core benchmark machine, "
        f"{machine.get('torch_threads', '?')} torch threads; test evaluations not counted)"
    )
    if a.gpu_sps:
        print(
            f"GPU hours at an assumed {a.gpu_sps:,.0f} env steps/s per job: "
            f"{total_steps / a.gpu_sps / 3600:,.0f}"
        )


if __name__ == "__main__":
    main()
