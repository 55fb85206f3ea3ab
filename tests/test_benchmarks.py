"""benchmarks/run.py's case syntax and side-by-side ratios (the timings themselves are not
unit-tested: they are what the benchmark measures)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_parse_case_nested_overrides(bench):
    name, sets = bench.parse_case("ppo_vanilla:precision=fp32,env.async_groups=2,ppo.num_envs=64")
    assert name == "ppo_vanilla"
    assert sets == {"precision": "fp32", "env": {"async_groups": 2}, "ppo": {"num_envs": 64}}
    assert bench.parse_case("env_only") == ("env_only", {})
    with pytest.raises(SystemExit, match="write key=value"):
        bench.parse_case("ppo_vanilla:precision")


def test_case_overrides_reach_the_train_config(bench):
    cfg = bench._train_cfg(bench.parse_case("x:env.async_groups=4,precision=bf16")[1])
    assert (cfg.env.async_groups, cfg.precision, cfg.ppo.num_envs) == (4, "bf16", 8)


def test_ratios_pair_cases_with_the_same_env_count_and_precision(bench):
    res = {
        "env_only": {"sps": 1000.0, "num_envs": 8},
        "env_only:ppo.num_envs=64": {"sps": 8000.0, "num_envs": 64},
        "cleanrl": {"sps": 50.0, "num_envs": 8},
        "ppo_vanilla": {"sps": 100.0, "num_envs": 8, "precision": "bf16"},
        "ppo_vanilla:ppo.num_envs=64": {"sps": 6000.0, "num_envs": 64, "precision": "bf16"},
        "ppo_derived": {"sps": 20.0, "num_envs": 8, "precision": "bf16"},
        "ppo_derived:precision=fp32": {"sps": 10.0, "num_envs": 8, "precision": "fp32"},
        "search_hard": {"sps": 16.0, "precision": "bf16"},
        "search_hard:precision=fp32": {"sps": 5.0, "precision": "fp32"},
    }
    bench._ratios(res)
    assert res["ppo_vanilla"]["fraction_of_env_only"] == pytest.approx(0.1)
    assert res["ppo_vanilla"]["x_cleanrl"] == pytest.approx(2.0)
    assert res["ppo_vanilla:ppo.num_envs=64"]["fraction_of_env_only"] == pytest.approx(0.75)
    assert "x_cleanrl" not in res["ppo_vanilla:ppo.num_envs=64"]  # no 64-env CleanRL case
    assert res["search_hard"]["cost_vs_derived"] == pytest.approx(1.25)
    assert res["search_hard:precision=fp32"]["cost_vs_derived"] == pytest.approx(2.0)


def test_rates_whole_run_and_steady_state(bench):
    import numpy as np

    # rows: step 0, after a slow first iteration (warm-up), then two 1,000-step/s iterations
    timing = {
        "step": np.array([0, 1024, 2048, 3072]),
        "wall_s": np.array([0.0, 4.096, 5.12, 6.144]),
    }
    r = bench._rates(timing)
    assert r["steps"] == 3072
    assert r["sps"] == pytest.approx(3072 / 6.144)  # 500/s: the warm-up counted, as CleanRL's
    assert r["sps_steady"] == pytest.approx(1000.0)
    assert "sps_steady" not in bench._rates(
        {"step": np.array([0, 1024]), "wall_s": np.array([0.0, 1.0])}
    )


# ---- benchmarks/estimate_compute.py ---------------------------------------------------------


@pytest.fixture(scope="module")
def est():
    spec = importlib.util.spec_from_file_location(
        "estimate_compute", ROOT / "benchmarks" / "estimate_compute.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks its module up there
    spec.loader.exec_module(mod)
    return mod


def _cmd(verb: str, flag: str, value: str, cfg: dict) -> str:
    """One job as `snakemake -n -p` prints it (the rule's shell command)."""
    import json
    import shlex

    return (
        f"    a2d {verb} --game Pong {flag} {value} --seed 1  --out /x/out "
        f"--config-json {shlex.quote(json.dumps(cfg))} > /x/log 2>&1"
    )


FIXTURE_DAG = "\n".join(
    [
        "rule train:",
        _cmd("train", "--arch", "vanilla", {"ppo": {"total_steps": 360_000, "num_envs": 8}}),
        _cmd("train", "--arch", "resnet20", {"ppo": {"total_steps": 360_000, "num_envs": 8}}),
        _cmd("train", "--arch", "mid", {"ppo": {"total_steps": 360_000, "num_envs": 8}}),
        "rule search:",
        _cmd("search", "--method", "m1", {"ppo": {"num_envs": 8}, "search": {"steps": 36_000}}),
        "rule retrain:",
        _cmd("train", "--arch", "/x/derived/Pong/m1/seed1.json", {"ppo": {"total_steps": 72_000}}),
        "rule derive:",
        "    a2d derive --search /x/search --out /x/arch.json",
    ]
)

# round numbers, so the hours below are worked out by hand
FIXTURE_RATES = {
    "cpu": {
        "machine": "m",
        "date": "d",
        "cores": 2,
        "num_envs": 8,
        "rates": {
            "env_only": {"sps": 300},  # 150 steps/s per core
            "ppo_vanilla": {"sps": 100, "macs": 10},
            "ppo_resnet20": {"sps": 50, "macs": 110},
            "ppo_derived": {"sps": 20},
            "search_hard": {"sps": 10},
        },
    },
    "gpu": {"machine": "g", "date": "d", "cores": 16, "rates": {"8": {"sps": 200}}},
}
MACS = {"vanilla": 10, "resnet20": 110, "mid": 60}.__getitem__


def test_parse_dag_takes_steps_and_envs_from_each_command(est):
    jobs = est.parse_dag(FIXTURE_DAG)
    assert [(j.kind, j.name, j.steps, j.num_envs) for j in jobs] == [
        ("train", "vanilla", 360_000, 8),
        ("train", "resnet20", 360_000, 8),
        ("train", "mid", 360_000, 8),
        ("search", "m1", 36_000, 8),
        ("retrain", "searched net", 72_000, 8),
    ]


def test_estimate_arithmetic_on_a_fixture_dag(est):
    jobs = est.parse_dag(FIXTURE_DAG)
    # node (c): 1 GPU x 2 jobs, 8 cores / 1 core per job -> 2 slots; each job at
    # min(200 GPU, 300 env-only * 1/2 cores) = 150 steps/s
    res = est.estimate(
        jobs, FIXTURE_RATES, gpus=1, cores=8, jobs_per_gpu=2, cores_per_job=1, macs_of=MACS
    )
    assert res["slots"] == 2
    train, search, retrain = (res["rows"][(s, "")] for s in ("train", "search", "retrain"))
    assert (train["jobs"], train["env_steps"]) == (3, 1_080_000)
    # (a): vanilla 3,600 s, resnet20 7,200 s, mid (60 MACs, halfway) 0.015 s/step = 5,400 s
    assert train["cpu_h"] == pytest.approx(1 + 2 + 1.5)
    assert search["cpu_h"] == pytest.approx(1.0)  # 36k steps at 10/s
    assert retrain["cpu_h"] == pytest.approx(1.0)  # 72k steps at 20/s
    # (b): one job at a time at 200 steps/s
    assert train["gpu_h"] == pytest.approx(1.5)
    assert (search["gpu_h"], retrain["gpu_h"]) == (pytest.approx(0.05), pytest.approx(0.1))
    # (c): 3 jobs of 2/3 h on 2 slots -> two waves, 4/3 h; search 1 job of 1/15 h; retrain 2/15 h
    assert train["node_h"] == pytest.approx(4 / 3)
    assert search["node_h"] == pytest.approx(1 / 15)
    assert retrain["node_h"] == pytest.approx(2 / 15)
    assert res["total"]["cpu_h"] == pytest.approx(6.5)
    assert res["total"]["node_h"] == pytest.approx(4 / 3 + 1 / 15 + 2 / 15)
    # by net: the same totals, the node's wall time still per stage (nets share the slots)
    by_net = est.estimate(
        jobs,
        FIXTURE_RATES,
        gpus=1,
        cores=8,
        jobs_per_gpu=2,
        cores_per_job=1,
        macs_of=MACS,
        by_net=True,
    )
    assert by_net["rows"][("train", "mid")]["cpu_h"] == pytest.approx(1.5)
    assert by_net["total"]["node_h"] == pytest.approx(4 / 3 + 1 / 15 + 2 / 15)


def test_stage_wall_time_schedules_longest_job_first(est):
    assert est.stage_wall_h([1.0] * 5, 2) == 3.0  # 3 waves
    assert est.stage_wall_h([3.0, 2.0, 2.0, 1.0], 2) == 4.0  # 3+1 | 2+2
    assert est.stage_wall_h([0.5], 32) == 0.5
    assert est.stage_wall_h([], 4) == 0.0


def test_node_slots_are_capped_by_cores_and_gpu_rate_by_env_count(est):
    assert est.slots(gpus=4, cores=3, jobs_per_gpu=4, cores_per_job=2) == 1
    assert est.slots(gpus=2, cores=64, jobs_per_gpu=3, cores_per_job=2) == 6
    # the GPU rate binds when the cores can step the emulators faster
    assert est.node_job_rate(FIXTURE_RATES, 200.0, cores_per_job=4) == 200.0
    jobs = [est.Job("train", "vanilla", 1000, 4)]  # no GPU rate at 4 envs: left out, not guessed
    res = est.estimate(
        jobs, FIXTURE_RATES, gpus=1, cores=8, jobs_per_gpu=1, cores_per_job=1, macs_of=MACS
    )
    assert res["total"]["gpu_h"] is None and res["total"]["node_h"] is None
    assert res["total"]["cpu_h"] == pytest.approx(10 / 3600)
    res = est.estimate(
        jobs,
        FIXTURE_RATES,
        gpus=1,
        cores=8,
        jobs_per_gpu=1,
        cores_per_job=1,
        gpu_sps=500.0,
        macs_of=MACS,
    )
    assert res["total"]["gpu_h"] == pytest.approx(2 / 3600)


def test_missing_or_incomplete_rates_file_is_refused_by_name(est, tmp_path, capsys):
    missing = tmp_path / "nope.json"
    with pytest.raises(est.RatesError, match=r"rates file .*nope\.json not found"):
        est.load_rates(missing)
    assert est.main(["--rates", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("estimate_compute: error: rates file") and "Traceback" not in err
    import copy
    import json

    broken = copy.deepcopy(FIXTURE_RATES)
    del broken["cpu"]["rates"]["search_hard"]
    (tmp_path / "r.json").write_text(json.dumps(broken))
    with pytest.raises(est.RatesError, match=r"cpu\.rates\.search_hard\.sps"):
        est.load_rates(tmp_path / "r.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(est.RatesError, match="cannot be read as JSON"):
        est.load_rates(tmp_path / "bad.json")


def test_committed_rates_name_machine_command_and_date(est):
    rates = est.load_rates(est.RATES)
    for section in ("cpu", "gpu"):
        assert rates[section]["machine"] and rates[section]["date"].startswith("measured")
    for case, r in rates["cpu"]["rates"].items():
        assert r["command"].startswith("python benchmarks/run.py"), case
    assert rates["gpu"]["command"].startswith("benchmarks/gpu.sh")
    # the MACs anchors of the CPU fit are the nets' real MACs
    from a2d.models import build, count_macs

    for arch in ("vanilla", "resnet20"):
        assert rates["cpu"]["rates"][f"ppo_{arch}"]["macs"] == count_macs(build(arch, 18))


def test_estimate_runs_on_a_fresh_clones_files(tmp_path):
    """The script needs only tracked files (no benchmarks/out/): run it in a copy of them."""
    import os
    import shutil
    import subprocess

    ls = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if ls.returncode != 0:
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    for rel in filter(None, ls.stdout.split("\0")):
        if (ROOT / rel).is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, clone / rel)
    assert (clone / "benchmarks" / "rates.json").is_file()
    assert not (clone / "benchmarks" / "out").exists()
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}
    p = subprocess.run(
        [sys.executable, "benchmarks/estimate_compute.py", "--configfile", "presets/quick.yaml"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert any(line.startswith("(b) GPU box:") for line in lines)
    assert any("a MODEL from measured single-job rates" in line for line in lines)
    # the quick preset's DAG: 2 training runs of 100k steps and their 2 KD controls, 3 searches
    # of 16,384, 3 retrainings and 2 without the teacher
    rows = {
        line.split()[0]: line.split()
        for line in lines
        if line.split()[:1] in (["train"], ["search"], ["retrain"])
    }
    assert rows["train"][1:3] == ["4", "400,000"]
    assert rows["search"][1:3] == ["3", "49,152"]
    assert rows["retrain"][1:3] == ["5", "500,000"]


def test_kd_update_times_a_distilled_update_and_refuses_a_bad_pair(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("kd_update", ROOT / "benchmarks" / "kd_update.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.measure("vanilla:vanilla", 1)
    assert res["cpu_ms"] > 0 and len(res["cpu_ms_all"]) == 1
    assert Path(res["a2d"]).name == "a2d"
    monkeypatch.setattr(sys, "argv", ["kd_update.py", "--pairs", "resnet8"])
    with pytest.raises(SystemExit, match="student:teacher"):
        mod.main()
