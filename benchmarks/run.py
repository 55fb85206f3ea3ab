"""Throughput benchmarks, measured side by side in one run so ratios are fair.

    python benchmarks/run.py [--game Breakout] [--steps 8192] [--out benchmarks/out/bench.json]
    python benchmarks/run.py --cases env_only ppo_vanilla ppo_vanilla:precision=fp32 \
        --cleanrl PATH/TO/cleanrl/cleanrl/ppo_atari.py
    python benchmarks/run.py --set device=cuda --set ppo.num_envs=64 --cases env_only ppo_vanilla

Cases (each in its own subprocess, so peak memory is per case); each may carry config
overrides after a colon, `ppo_vanilla:precision=fp32,env.async_groups=2`, and `--set` applies
overrides to every case (a case's own win):
  env_only      the training vector env (TrainEnv, same settings as training), random actions
  ppo_<arch>    the real `a2d.rl.ppo.train` loop at the default hyperparameters (8 envs x 128
                steps, 4 epochs x 4 minibatches): `sps` over the whole run (warm-up included,
                as CleanRL's SPS line), `sps_steady` from the second iteration on; test
                evaluations excluded from both; `gpu_busy` = mean NVML utilisation on CUDA
  ppo_derived   the derived net with every cell = BENCH_OP
  search_hard   a search with alpha pinned to BENCH_OP (hard: only that op runs), and
  search_soft   the same in soft mode (all 9 ops run); `search_hard:method.optimisation=bi_level`
                the bi-level search (held-out split); cost_vs_derived = time per step / that of
                the derived net's PPO at the same precision
  infer_<arch>  forward latency at batch 1 and batch 8: PyTorch eager and ONNX Runtime (CPU)
  cleanrl       CleanRL's own ppo_atari.py (default hyperparameters; the cases' ppo.num_envs and
                device), given with --cleanrl PATH/TO/cleanrl/ppo_atari.py and run through
                benchmarks/cleanrl_runner.py (needs `pip install tyro opencv-python-headless`);
                PPO cases with its env count get `x_cleanrl`
PPO cases get `fraction_of_env_only` against the env_only case with their env count. Writes
JSON with machine info and versions, and prints a table.

`--against PATH/TO/other/src` measures another checkout of a2d (its `src/` folder: e.g. the
commit before a change, from `git worktree add`) side by side: every case runs once with this
checkout's code and once with that one, in alternating order, and each gets `case@against` and
`x_against` (this checkout's steps/s over the other's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def case_env_only(game: str, steps: int, sets: dict) -> dict:
    import numpy as np

    from a2d.envs import TrainEnv

    cfg = _train_cfg(sets)
    n = cfg.ppo.num_envs
    env = TrainEnv(game, n, cfg.env, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(50):
        env.step(rng.integers(0, env.n_actions, n))
    t0 = time.perf_counter()
    iters = steps // n
    for _ in range(iters):
        env.step(rng.integers(0, env.n_actions, n))
    dt = time.perf_counter() - t0
    env.close()
    return {"sps": iters * n / dt, "num_envs": n}


def _train_cfg(sets: dict):
    """The default TrainConfig with a case's overrides (`case:key=value,...`) applied."""
    from a2d import config

    return config.train_config(config.load(overrides=sets))


class GpuBusy:
    """Samples NVML's utilisation (% of time a kernel ran) every 50 ms on a thread: the mean is
    the fraction of the run the GPU was busy. Does nothing without a CUDA device or NVML."""

    def __init__(self, device: str):
        self.samples: list[float] = []
        self._handle = None
        if device.startswith("cuda"):
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            except Exception:  # noqa: BLE001 - no NVML: no GPU-busy figure
                self._handle = None

    def __enter__(self):
        import threading

        self._stop = threading.Event()
        if self._handle is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.05):
            self.samples.append(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)

    def __exit__(self, *exc):
        self._stop.set()
        if self._handle is not None:
            self._thread.join()

    def result(self) -> dict:
        if not self.samples:
            return {}
        return {"gpu_busy": sum(self.samples) / len(self.samples) / 100.0}


def _gpu_peak(device: str) -> dict:
    import torch

    if not device.startswith("cuda"):
        return {}
    return {"gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20}


def case_ppo(game: str, steps: int, arch: str, sets: dict) -> dict:
    from a2d.config import resolve_device, resolve_precision
    from a2d.models.builder import derived_spec
    from a2d.results.curves import read_curve
    from a2d.rl.ppo import train

    cfg = _bench_cfg(_train_cfg(sets), steps)
    spec = derived_spec([BENCH_OP] * 14, f"derived_{BENCH_OP}") if arch == "derived" else arch
    device = resolve_device(cfg.device)
    with tempfile.TemporaryDirectory() as d, GpuBusy(device) as busy:
        train(game, spec, 1, d, cfg, log=lambda s: None)
        curve = read_curve(Path(d) / "timing.csv")
        macs = json.loads((Path(d) / "model.json").read_text())["macs"]
    return {
        **_rates(curve),
        "macs": macs,
        "device": device,
        "precision": resolve_precision(cfg.precision, device),
        "num_envs": cfg.ppo.num_envs,
        "async_groups": cfg.env.async_groups,
        **busy.result(),
        **_gpu_peak(device),
    }


BENCH_OP = "k3_e3"  # the op the search cases are pinned to, and the derived net they compare with


def case_search(game: str, steps: int, mode: str, sets: dict) -> dict:
    """One search (vanilla DNAS, no warm-up) with alpha pinned to BENCH_OP in every cell, so the
    hard-mode sampled net equals the derived all-BENCH_OP net: the ratio is the search overhead."""
    import math

    import torch

    from a2d.config import MethodConfig, resolve_device, resolve_precision
    from a2d.models.builder import supernet_spec
    from a2d.results.curves import read_curve
    from a2d.rl.ppo import train
    from a2d.search.hooks import SearchHook

    class PinnedSearch(SearchHook):
        def setup(self, agent, n_actions, device):
            super().setup(agent, n_actions, device)
            with torch.no_grad():
                self.ctl.alpha[:, self.ctl.choices.index(BENCH_OP)] = 30.0

    sets = dict(sets)
    optimisation = sets.pop("method", {}).get("optimisation", "one_level")  # e.g. bi_level
    cfg = _bench_cfg(_train_cfg(sets), steps)
    cfg.search.mode, cfg.search.warmup = mode, 0.0
    iters = math.ceil(steps / cfg.ppo.batch_size)
    with tempfile.TemporaryDirectory() as d:
        hook = PinnedSearch(
            supernet_spec(), cfg.search, MethodConfig(0.0, 0.0, optimisation), iters, 9.35e6, d
        )
        train(game, supernet_spec(), 1, d, cfg, hooks=[hook], log=lambda s: None)
        curve = read_curve(Path(d) / "timing.csv")
    return {
        **_rates(curve),
        "mode": mode,
        "optimisation": optimisation,
        "pinned_op": BENCH_OP,
        "precision": resolve_precision(cfg.precision, resolve_device(cfg.device)),
    }


def _bench_cfg(cfg, steps):
    cfg.ppo.total_steps = steps
    # a (short, untimed) test evaluation after every iteration gives timing.csv a row per
    # iteration: the steady rate leaves out the first iteration's warm-up (cuDNN autotuning,
    # oneDNN kernel creation: 1.5-3.7 s on the H200 box)
    cfg.eval.interval = cfg.ppo.batch_size
    cfg.eval.curve_episodes = cfg.eval.episodes = 1
    cfg.eval.frame_cap = 400
    cfg.checkpoint_interval = 10**9
    return cfg


def _rates(timing) -> dict:
    """Training steps/s over the whole run (warm-up included, as CleanRL's SPS line) and from
    the second iteration on (`sps_steady`); evaluations are excluded from both."""
    steps, wall = timing["step"], timing["wall_s"]
    out = {"sps": float(steps[-1] / wall[-1]), "steps": int(steps[-1])}
    if len(steps) >= 3:  # rows: step 0, after iteration 1, ..., final
        out["sps_steady"] = float((steps[-1] - steps[1]) / (wall[-1] - wall[1]))
    return out


def case_infer(arch: str) -> dict:
    import numpy as np
    import torch

    from a2d.export import _export_onnx, _median_ms, _ort_session
    from a2d.models import build
    from a2d.models.builder import derived_spec
    from a2d.models.cost import cpu_latency_ms

    m = build(derived_spec([BENCH_OP] * 14) if arch == "derived" else arch, 4)
    out = {"latency_ms_b1": cpu_latency_ms(m, 1), "latency_ms_b8": cpu_latency_ms(m, 8)}
    # the same net through ONNX Runtime (what `a2d export` writes), as many threads as torch
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "agent.onnx"
        _export_onnx(m.eval(), torch.zeros(1, 4, 84, 84, dtype=torch.uint8), path, {})
        sess = _ort_session(path, torch.get_num_threads())
        for b in (1, 8):
            x = np.random.default_rng(0).integers(0, 256, (b, 4, 84, 84), dtype=np.uint8)
            feed = {sess.get_inputs()[0].name: x}
            out[f"onnxruntime_ms_b{b}"] = _median_ms(lambda f=feed: sess.run(None, f), 50)
    return out


def case_cleanrl(game: str, steps: int, script: str, sets: dict) -> dict:
    """CleanRL's ppo_atari.py for `steps` env steps; its last printed SPS (global_step over the
    wall time since its loop started, as ours: no test evaluations in either)."""
    import re

    runner = Path(__file__).resolve().parent / "cleanrl_runner.py"
    cmd = [sys.executable, str(runner), script, "--env-id", f"{game}NoFrameskip-v4"]
    cmd += ["--total-timesteps", str(steps), "--seed", "1"]
    num_envs = sets.get("ppo", {}).get("num_envs", 8)
    cmd += ["--num-envs", str(num_envs)]
    cuda = sets.get("device") == "cuda"
    cmd += [] if cuda else ["--no-cuda"]
    with tempfile.TemporaryDirectory() as d:  # CleanRL writes runs/ into its working directory
        out = subprocess.run(cmd, cwd=d, check=True, capture_output=True, text=True).stdout
    sps = [int(m) for m in re.findall(r"^SPS: (\d+)$", out, flags=re.M)]
    if not sps:
        raise SystemExit(f"no SPS line in CleanRL's output:\n{out[-2000:]}")
    return {
        "sps": float(sps[-1]),
        "steps": steps,
        "num_envs": num_envs,
        "script": script,
        "cuda": cuda,
    }


def parse_case(case: str) -> tuple[str, dict]:
    """`ppo_vanilla:precision=fp32,env.async_groups=2` -> ("ppo_vanilla", nested overrides)."""
    import yaml

    name, _, rest = case.partition(":")
    sets: dict = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"bad case override {item!r} in {case!r}; write key=value")
        node = sets
        *parents, leaf = key.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = yaml.safe_load(value)
    return name, sets


def run_case(case: str, game: str, steps: int, cleanrl: str | None = None) -> dict:
    name, sets = parse_case(case)
    if name == "cleanrl":
        if not cleanrl:
            raise SystemExit("case cleanrl needs --cleanrl PATH/TO/cleanrl/ppo_atari.py")
        res = case_cleanrl(game, steps, cleanrl, sets)
    elif name == "env_only":
        res = case_env_only(game, steps * 4, sets)
    elif name.startswith("ppo_"):
        res = case_ppo(game, steps, name[4:], sets)
    elif name.startswith("search_"):
        res = case_search(game, steps, name[7:], sets)
    elif name.startswith("infer_"):
        res = case_infer(name[6:])
    else:
        raise SystemExit(f"unknown case {name}")
    who = resource.RUSAGE_CHILDREN if name == "cleanrl" else resource.RUSAGE_SELF
    res["peak_rss_mb"] = resource.getrusage(who).ru_maxrss / 1024
    return res


def machine() -> dict:
    import ale_py
    import torch

    from a2d.config import cpu_native_bf16

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ale_py": ale_py.__version__,
        "cpu": model,
        "cpu_native_bf16": cpu_native_bf16(),
        "cores": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _ratios(results: dict) -> None:
    """Side-by-side ratios, each PPO case against the env-only / CleanRL case with its env
    count (the first such case), each search case against the first derived-net PPO case."""

    def first(prefix: str, n: int | None = None, precision: str | None = None) -> dict | None:
        for c, r in results.items():
            if (
                parse_case(c)[0] == prefix
                and (n is None or r.get("num_envs", 8) == n)
                and (precision is None or r.get("precision") == precision)
            ):
                return r
        return None

    for c, r in results.items():
        name = parse_case(c)[0]
        if name.startswith("ppo_"):
            env = first("env_only", r.get("num_envs"))
            if env:
                r["fraction_of_env_only"] = r["sps"] / env["sps"]
                if "sps_steady" in r:
                    r["fraction_of_env_only_steady"] = r["sps_steady"] / env["sps"]
            clean = first("cleanrl", r.get("num_envs"))
            if clean:
                r["x_cleanrl"] = r["sps"] / clean["sps"]
        if name.startswith("search_"):
            derived = first("ppo_derived", precision=r.get("precision"))
            if derived:
                r["cost_vs_derived"] = derived["sps"] / r["sps"]  # time per step, search / derived


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--game", default="Breakout")
    ap.add_argument("--steps", type=int, default=8192, help="PPO steps per training case")
    ap.add_argument(
        "--cases",
        nargs="+",
        default=[
            "env_only",
            "ppo_vanilla",
            "ppo_vanilla:precision=fp32",
            "ppo_resnet20",
            "ppo_derived",
            "search_hard",
            "search_soft",
            "infer_vanilla",
            "infer_resnet20",
            "infer_derived",
        ],
        help="cases, each optionally with config overrides: ppo_vanilla:precision=fp32,"
        "env.async_groups=2",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every case (a case's own overrides win), e.g. device=cuda",
    )
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/bench.json"))
    ap.add_argument("--cleanrl", help="CleanRL's cleanrl/ppo_atari.py, for the cleanrl case")
    ap.add_argument(
        "--against",
        type=Path,
        help="another checkout's src/ folder: every case also runs with that code (x_against)",
    )
    ap.add_argument("--case", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:  # child process
        print(json.dumps(run_case(a.case, a.game, a.steps, a.cleanrl)))
        return
    cases = a.cases + (["cleanrl"] if a.cleanrl and "cleanrl" not in a.cases else [])
    if a.against is not None and not (a.against / "a2d" / "__init__.py").is_file():
        raise SystemExit(f"--against {a.against}: no a2d package there (give a checkout's src/)")
    runs = []  # (result key, case, PYTHONPATH or None)
    for i, c in enumerate(cases):
        pair = [(c, c, None)]
        if a.against is not None and c != "cleanrl":
            pair.append((f"{c}@against", c, str(a.against.resolve())))
        runs += pair if i % 2 == 0 else pair[::-1]  # alternate which code goes first
    results = {}
    for key, c, pythonpath in runs:
        name, own = parse_case(c)
        full = ",".join([*a.set, *c.partition(":")[2].split(",")]).strip(",")
        child = f"{name}:{full}" if full else name
        cmd = [sys.executable, __file__, "--case", child, "--game", a.game, "--steps", str(a.steps)]
        if a.cleanrl:
            cmd += ["--cleanrl", str(Path(a.cleanrl).resolve())]
        env = dict(os.environ)
        if pythonpath is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        results[key] = json.loads(out.strip().splitlines()[-1])
        print(f"{key:40s} {json.dumps(results[key])}", flush=True)
    results = {k: results[k] for k in sorted(results, key=[r[0] for r in runs].index)}
    for key, r in results.items():
        other = results.get(f"{key}@against")
        if other and "sps" in r and "sps" in other:
            r["x_against"] = r["sps"] / other["sps"]
            if "sps_steady" in r and "sps_steady" in other:
                r["x_against_steady"] = r["sps_steady"] / other["sps_steady"]
    _ratios(results)
    doc = {"machine": machine(), "game": a.game, "set": a.set, "results": results}
    if a.against is not None:
        doc["against"] = str(a.against.resolve())
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"\n{'case':40s} {'SPS':>8s} {'steady':>7s} {'frac env':>9s} {'x derived':>9s}"
        f" {'b1 ms pt/ort':>12s} {'peak MB':>8s} {'x CleanRL':>9s} {'GPU busy':>8s}"
        f" {'x against':>9s}"
    )
    for c, r in results.items():
        sps = f"{r['sps']:.0f}" if "sps" in r else "-"
        sps += f" {r['sps_steady']:>7.0f}" if "sps_steady" in r else f" {'-':>7s}"
        frac = f"{r['fraction_of_env_only']:.2f}" if "fraction_of_env_only" in r else "-"
        frac += f" {r['cost_vs_derived']:>9.2f}" if "cost_vs_derived" in r else f" {'-':>9s}"
        lat = f"{r['latency_ms_b1']:.2f}" if "latency_ms_b1" in r else "-"
        lat += f"/{r['onnxruntime_ms_b1']:.2f}" if "onnxruntime_ms_b1" in r else ""
        xc = f"{r['x_cleanrl']:.2f}" if "x_cleanrl" in r else "-"
        busy = f"{r['gpu_busy']:.2f}" if "gpu_busy" in r else "-"
        xa = f"{r['x_against']:.2f}" if "x_against" in r else "-"
        print(
            f"{c:40s} {sps:>8s} {frac:>9s} {lat:>12s} {r['peak_rss_mb']:>8.0f} {xc:>9s} {busy:>8s}"
            f" {xa:>9s}"
        )
    print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
