"""Estimate the env steps, jobs and hours of a whole DAG from `snakemake -n` and measured rates.

    python benchmarks/estimate_compute.py [--configfile presets/x.yaml ...]
        [--rates benchmarks/rates.json] [--gpus 8 --cores 64 --jobs-per-gpu 4 --cores-per-job 2]
        [--gpu-sps 1424] [--bench benchmarks/out/bench.json --search-bench ...] [--by-net]

The jobs come from the DAG itself (`snakemake -n -p`: every `a2d train` / `a2d search` command,
its arch or method and its steps from the command's own `--config-json`). The rates are
measured ones, each with its machine, command and date, in the committed
`benchmarks/rates.json`. Three machines:

(a) the 2-core CPU box the CPU rates were measured on, one job at a time (2 torch threads).
    PPO seconds per step is a + b * MACs through the measured `vanilla` and `resnet20` points; a
    retrained searched net costs the measured derived-net rate, a search the measured
    hard-mode search rate.
(b) one GPU box (the one the GPU rates were measured on), one job at a time: every job at the
    measured rate of PPO `vanilla` at the DAG's env count. Only `vanilla` was measured on a GPU,
    so for the larger nets, the searches and the retrainings this is optimistic.
(c) a node with N GPUs and C cores: a MODEL built from the measured single-job rates, not a
    measurement. Jobs run side by side in `slots = min(N * jobs_per_gpu, C // cores_per_job)`;
    each job runs at `min(GPU rate of (b), env-only rate of the CPU box scaled to
    cores_per_job cores)`, i.e. aggregate throughput = min(N * jobs_per_gpu * r_gpu,
    C / cores_per_job * r_cpu_bound) with no slowdown between co-located jobs assumed. A
    stage (train, search, retrain) is scheduled longest job first on the slot that frees
    first (equal jobs: ceil(jobs / slots) waves); the stages run one after another.

Test evaluations are not counted (the quick preset's logs put them at 10-20 % of a run).
"""

from __future__ import annotations

import argparse
import functools
import heapq
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATES = ROOT / "benchmarks" / "rates.json"
STAGES = ("train", "search", "retrain")


class RatesError(Exception):
    """The rates file is missing, unreadable or lacks a rate the estimate needs."""


class DagError(Exception):
    """`snakemake -n` failed or listed no training or search job."""


@dataclass(frozen=True)
class Job:
    kind: str  # train | search | retrain
    name: str  # arch (train), method (search), "searched net" (retrain)
    steps: int
    num_envs: int


def load_rates(path: str | Path) -> dict:
    """Read and check a rates file (see benchmarks/rates.json); RatesError names what is wrong."""
    p = Path(path)
    if not p.is_file():
        raise RatesError(
            f"rates file {p} not found: the measured rates are benchmarks/rates.json in the "
            "repository (give another with --rates)"
        )
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RatesError(f"rates file {p} cannot be read as JSON: {e}") from None
    need = {
        "cpu": ("machine", "date", "cores", "num_envs", "rates"),
        "gpu": ("machine", "date", "cores", "rates"),
    }
    for section, keys in need.items():
        if not isinstance(doc.get(section), dict):
            raise RatesError(f"rates file {p}: no '{section}' section")
        for k in keys:
            if k not in doc[section]:
                raise RatesError(f"rates file {p}: '{section}' has no '{k}'")
    for case in ("env_only", "ppo_vanilla", "ppo_resnet20", "ppo_derived", "search_hard"):
        rate = doc["cpu"]["rates"].get(case, {})
        if not _positive(rate.get("sps")):
            raise RatesError(f"rates file {p}: cpu.rates.{case}.sps is missing or not > 0")
    for case in ("ppo_vanilla", "ppo_resnet20"):
        if not _positive(doc["cpu"]["rates"][case].get("macs")):
            raise RatesError(f"rates file {p}: cpu.rates.{case}.macs is missing or not > 0")
    for n_envs, rate in doc["gpu"]["rates"].items():
        if not _positive(rate.get("sps")):
            raise RatesError(f"rates file {p}: gpu.rates.{n_envs}.sps is missing or not > 0")
    return doc


def _positive(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and x > 0


def parse_dag(text: str) -> list[Job]:
    """Every training, search and retraining job in `snakemake -n -p` output."""
    jobs = []
    for line in text.splitlines():
        m = re.search(r"\ba2d (train|search) .*", line)
        if not m:
            continue
        argv = shlex.split(m.group(0))
        opts = {argv[i]: argv[i + 1] for i in range(2, len(argv) - 1) if argv[i].startswith("--")}
        cfg = json.loads(opts.get("--config-json", "{}"))
        ppo = cfg.get("ppo", {})
        if argv[1] == "search":
            steps, kind, name = cfg["search"]["steps"], "search", opts["--method"]
        else:
            arch = opts["--arch"]
            kind = "retrain" if arch.endswith(".json") else "train"
            steps, name = ppo["total_steps"], "searched net" if kind == "retrain" else arch
        jobs.append(Job(kind, name, int(steps), int(ppo.get("num_envs", 8))))
    return jobs


def dag_jobs(configfiles: list[str]) -> list[Job]:
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1"]
    if configfiles:
        cmd += ["--configfile", "config.yaml", *configfiles]
    cmd += ["--config", "results=/nonexistent/estimate"]  # nothing exists: every job is listed
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        raise DagError(f"snakemake -n failed (exit {proc.returncode}): {tail}")
    jobs = parse_dag(proc.stdout)
    if not jobs:
        raise DagError("snakemake -n listed no a2d train / a2d search job")
    return jobs


@functools.cache
def arch_macs(name: str) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from a2d.models import get_spec
    from a2d.models.builder import build
    from a2d.models.cost import count_macs

    return count_macs(build(get_spec(name), n_actions=18))


def cpu_sec_per_step(job: Job, cpu_rates: dict, macs_of=arch_macs) -> float:
    """Seconds per env step of one job on the CPU box (see the module docstring, (a))."""
    if job.kind == "search":
        return 1 / cpu_rates["search_hard"]["sps"]
    if job.kind == "retrain":
        return 1 / cpu_rates["ppo_derived"]["sps"]
    v, r = cpu_rates["ppo_vanilla"], cpu_rates["ppo_resnet20"]
    slope = (1 / r["sps"] - 1 / v["sps"]) / (r["macs"] - v["macs"])
    return 1 / v["sps"] + slope * (macs_of(job.name) - v["macs"])


def gpu_rate(rates: dict, num_envs: int, override: float | None = None) -> float | None:
    """The measured GPU rate of one job at ``num_envs`` envs (None: not measured)."""
    if override:
        return override
    r = rates["gpu"]["rates"].get(str(num_envs))
    return None if r is None else float(r["sps"])


def node_job_rate(rates: dict, r_gpu: float, cores_per_job: int) -> float:
    """(c): one job's rate: the GPU rate, capped by the env-only rate of cores_per_job cores."""
    cpu = rates["cpu"]
    cpu_bound = cpu["rates"]["env_only"]["sps"] * cores_per_job / cpu["cores"]
    return min(r_gpu, cpu_bound)


def slots(gpus: int, cores: int, jobs_per_gpu: int, cores_per_job: int) -> int:
    return max(1, min(gpus * jobs_per_gpu, cores // cores_per_job))


def stage_wall_h(job_hours: list[float], n_slots: int) -> float:
    """A stage's wall time with n_slots jobs side by side: each job, longest first, starts on
    the slot that frees first (equal jobs: ceil(jobs / slots) waves)."""
    free = [0.0] * min(n_slots, len(job_hours))
    for h in sorted(job_hours, reverse=True):
        heapq.heapreplace(free, free[0] + h)
    return max(free, default=0.0)


def estimate(
    jobs: list[Job],
    rates: dict,
    *,
    gpus: int,
    cores: int,
    jobs_per_gpu: int,
    cores_per_job: int,
    gpu_sps: float | None = None,
    macs_of=arch_macs,
    by_net: bool = False,
) -> dict:
    """Rows per stage (or per stage and net): jobs, env steps, hours on (a), (b), (c).

    (b) and (c) are None when the GPU rate at a job's env count was not measured (and no
    ``gpu_sps`` is given): left out rather than guessed."""
    cpu = rates["cpu"]["rates"]
    n_slots = slots(gpus, cores, jobs_per_gpu, cores_per_job)
    have_gpu = all(gpu_rate(rates, j.num_envs, gpu_sps) is not None for j in jobs)

    def gpu_h(j: Job) -> float:
        return j.steps / gpu_rate(rates, j.num_envs, gpu_sps) / 3600

    def node_h(j: Job) -> float:
        r_gpu = gpu_rate(rates, j.num_envs, gpu_sps)
        return j.steps / node_job_rate(rates, r_gpu, cores_per_job) / 3600

    rows: dict[tuple[str, str], dict] = {}
    stage_walls = []
    for stage in STAGES:
        in_stage = [j for j in jobs if j.kind == stage]
        if not in_stage:
            continue
        if have_gpu:  # the nets of a stage share its slots
            stage_walls.append(stage_wall_h([node_h(j) for j in in_stage], n_slots))
        names = sorted({j.name for j in in_stage}) if by_net else [""]
        for name in names:
            sel = [j for j in in_stage if not by_net or j.name == name]
            rows[(stage, name)] = {
                "jobs": len(sel),
                "env_steps": sum(j.steps for j in sel),
                "cpu_h": sum(j.steps * cpu_sec_per_step(j, cpu, macs_of) for j in sel) / 3600,
                "gpu_h": sum(gpu_h(j) for j in sel) if have_gpu else None,
                "node_h": (
                    stage_wall_h([node_h(j) for j in sel], n_slots)
                    if have_gpu and not by_net
                    else None
                ),
            }
    total = {k: sum(r[k] for r in rows.values()) for k in ("jobs", "env_steps", "cpu_h")}
    total["gpu_h"] = sum(r["gpu_h"] for r in rows.values()) if have_gpu else None
    total["node_h"] = sum(stage_walls) if have_gpu else None
    return {"rows": rows, "total": total, "slots": n_slots}


def _h(x: float | None, fmt: str) -> str:
    return f"{'n/a':>10}" if x is None else format(x, fmt)


def render(res: dict, rates: dict, a) -> str:
    cpu, gpu = rates["cpu"], rates["gpu"]
    envs = sorted({j.num_envs for j in a.jobs})
    t = res["total"]
    lines = [f"(a) CPU box: {cpu['machine']}; one job at a time; {cpu['date']}"]
    if envs != [cpu["num_envs"]]:
        lines.append(f"    (its rates are of {cpu['num_envs']} envs; this DAG runs {envs})")
    if t["gpu_h"] is None:
        have = ", ".join(sorted(gpu["rates"], key=int))
        lines.append(
            f"(b), (c): no GPU rate measured at {', '.join(map(str, envs))} envs (measured at "
            f"{have} envs): left out; give --gpu-sps to assume one"
        )
    else:
        r_gpu = [gpu_rate(rates, n, a.gpu_sps) for n in envs]
        r_node = [node_job_rate(rates, r, a.cores_per_job) for r in r_gpu]
        lines += [
            f"(b) GPU box: {gpu['machine']}; one job at a time at "
            + ", ".join(f"{r:,.0f} env steps/s ({n} envs)" for r, n in zip(r_gpu, envs))
            + (" (--gpu-sps)" if a.gpu_sps else f" (PPO `vanilla`; {gpu['date']})"),
            f"(c) node, a MODEL from measured single-job rates, not a measurement: {a.gpus} GPUs, "
            f"{a.cores} cores, {a.jobs_per_gpu} jobs per GPU, {a.cores_per_job} cores per job "
            f"-> {res['slots']} jobs at once, each at "
            + ", ".join(f"{r:,.0f}" for r in r_node)
            + " env steps/s; stages one after another",
        ]
    lines += [
        "",
        f"{'stage':8} {'net / method':16} {'jobs':>5} {'env steps':>15} "
        f"{'(a) CPU h':>10} {'(b) GPU h':>10} {'(c) wall h':>10}",
    ]
    for (stage, name), r in res["rows"].items():
        lines.append(
            f"{stage:8} {name:16} {r['jobs']:5d} {r['env_steps']:15,.0f} "
            f"{r['cpu_h']:10,.1f} {_h(r['gpu_h'], '10,.1f')} {_h(r['node_h'], '10,.1f')}"
        )
    lines.append(
        f"{'total':25} {t['jobs']:5d} {t['env_steps']:15,.0f} "
        f"{t['cpu_h']:10,.1f} {_h(t['gpu_h'], '10,.1f')} {_h(t['node_h'], '10,.1f')}"
    )
    days = f"= (a) {t['cpu_h'] / 24:,.1f} days on the CPU box"
    if t["gpu_h"] is not None:
        days += (
            f"; (b) {t['gpu_h'] / 24:,.1f} days on one GPU; (c) {t['node_h'] / 24:,.1f} days on "
            "the node. (b) and (c) cost every job at PPO `vanilla`'s GPU rate, the only net "
            "measured on a GPU: optimistic for the larger nets, the searches and the retrainings"
        )
    lines.append(days + ". Test evaluations not counted (10-20 % more).")
    return "\n".join(lines)


def _rates_from_bench(rates: dict, bench: str, search_bench: str | None) -> dict:
    """CPU rates from benchmarks/run.py JSON instead of the committed file."""
    cpu = dict(rates["cpu"], rates=dict(rates["cpu"]["rates"]), date=f"from {bench}")
    for path in (bench, search_bench):
        if not path:
            continue
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise RatesError(f"benchmark file {path} cannot be read: {e}") from None
        for case, r in doc.get("results", {}).items():
            if case in cpu["rates"]:
                cpu["rates"][case] = dict(cpu["rates"][case], **r)
        if "machine" in doc:
            cpu["machine"] = json.dumps(doc["machine"])
    return dict(rates, cpu=cpu)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", nargs="*", default=[], help="overlays on config.yaml")
    ap.add_argument("--rates", default=str(RATES), help="measured rates (default %(default)s)")
    ap.add_argument("--gpus", type=int, default=8, help="(c): GPUs of the node")
    ap.add_argument("--cores", type=int, default=64, help="(c): CPU cores of the node")
    ap.add_argument("--jobs-per-gpu", type=int, default=4, help="(c): jobs sharing one GPU")
    ap.add_argument("--cores-per-job", type=int, default=2, help="(c): CPU cores per job")
    ap.add_argument("--gpu-sps", type=float, help="replace the measured GPU rate per job")
    ap.add_argument("--bench", help="CPU rates from a benchmarks/run.py JSON instead")
    ap.add_argument("--search-bench", help="a second benchmarks/run.py JSON (derived, search)")
    ap.add_argument("--by-net", action="store_true", help="one row per net / method")
    a = ap.parse_args(argv)
    for flag in ("gpus", "cores", "jobs_per_gpu", "cores_per_job"):
        if getattr(a, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be >= 1")
    try:
        rates = load_rates(a.rates)
        if a.bench or a.search_bench:
            rates = _rates_from_bench(rates, a.bench, a.search_bench)
        a.jobs = dag_jobs(a.configfile)
        res = estimate(
            a.jobs,
            rates,
            gpus=a.gpus,
            cores=a.cores,
            jobs_per_gpu=a.jobs_per_gpu,
            cores_per_job=a.cores_per_job,
            gpu_sps=a.gpu_sps,
            by_net=a.by_net,
        )
        print(render(res, rates, a))
    except (RatesError, DagError) as e:
        print(f"estimate_compute: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
