"""benchmarks/run.py's case syntax and side-by-side ratios (the timings themselves are not
unit-tested: they are what the benchmark measures)."""

from __future__ import annotations

import importlib.util
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
