"""a2d.search.run end to end at a tiny scale: a vanilla-DNAS search, an A2D search distilling from
a tiny teacher, their outputs, derivation, and teachers that must be refused."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from a2d import A2DError
from a2d.checkpoint import CheckpointError, atomic_torch_save, load_torch
from a2d.config import DEFAULT_METHODS, MethodConfig, TrainConfig
from a2d.models import build, count_macs, get_spec
from a2d.models.ops import CELL_OPS
from a2d.rl.ppo import train
from a2d.search import run as run_mod
from a2d.search.distill import DistillHook
from a2d.search.hooks import SEARCH_CURVE_FIELDS
from a2d.search.run import derive, run_search

SEED = 5
QUIET = {"log": lambda s: None}


def tiny_cfg() -> TrainConfig:
    tc = TrainConfig()
    tc.ppo.num_envs = 2
    tc.ppo.num_steps = 32
    tc.ppo.num_minibatches = 2
    tc.ppo.update_epochs = 1
    tc.search.steps = 192  # 3 iterations of 64 steps: 1 warm-up, 2 search
    tc.search.warmup = 0.34
    tc.eval.episodes = 1
    tc.eval.curve_episodes = 1
    tc.eval.num_envs = 1
    tc.eval.frame_cap = 1000
    tc.eval.interval = 64
    tc.device = "cpu"
    tc.torch_threads = 1
    return tc


class SpyDistillHook(DistillHook):
    """DistillHook that keeps the terms it added (to see that distillation took part)."""

    terms: list[dict[str, float]] = []

    def extra_losses(self, obs, logits, value):
        out = super().extra_losses(obs, logits, value)
        SpyDistillHook.terms.append({k: float(v.detach()) for k, v in out.items()})
        return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    out = {"root": root}
    out["dnas"] = run_search(
        "Breakout", "vanilla_dnas", MethodConfig(0, 0, "one_level"), None, SEED,
        root / "dnas", tiny_cfg(), **QUIET,
    )  # fmt: skip
    teacher_cfg = tiny_cfg()
    teacher_cfg.ppo.total_steps = 128
    train("Breakout", "vanilla", SEED, root / "teacher", teacher_cfg, **QUIET)
    SpyDistillHook.terms = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run_mod, "DistillHook", SpyDistillHook)
        out["a2d"] = run_search(
            "Breakout", "a2d_one_level", DEFAULT_METHODS["a2d_one_level"], root / "teacher",
            SEED, root / "a2d", tiny_cfg(), **QUIET,
        )  # fmt: skip
    out["distill_terms"] = list(SpyDistillHook.terms)
    return out


def read_csv(path):
    with open(path) as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.mark.parametrize("name", ["dnas", "a2d"])
def test_outputs_present(runs, name):
    d = runs["root"] / name
    for f in ("search_curve.csv", "alpha.csv", "supernet.pt", "arch.json", "eval.json"):
        assert (d / f).is_file(), f
    assert not (d / "agent.pt").exists()  # the supernet checkpoint replaces it
    assert runs[name]["steps"] == 192


@pytest.mark.parametrize("name", ["dnas", "a2d"])
def test_search_curve(runs, name):
    fields, rows = read_csv(runs["root"] / name / "search_curve.csv")
    assert fields == SEARCH_CURVE_FIELDS
    assert fields == [
        "step", "test_mean", "test_std", "temperature", "expected_macs", "lambda_f",
        "argmax_macs", "alpha_entropy", "phase",
    ]  # fmt: skip
    assert [int(r["step"]) for r in rows] == [0, 64, 128, 192]
    phases = [r["phase"] for r in rows]
    assert phases == ["warmup", "warmup", "search", "search"]
    for r in rows:
        # one raw Breakout game per curve point (eval.curve_episodes = 1): a whole score, no spread
        assert float(r["test_mean"]).is_integer() and float(r["test_std"]) == 0.0
        assert float(r["lambda_f"]) == pytest.approx(0.1)
        assert 0 < float(r["alpha_entropy"]) <= 1.0 + 1e-6
        assert 3e6 < float(r["argmax_macs"]) < 6e7 and 3e6 < float(r["expected_macs"]) < 6e7
        tau = float(r["temperature"])
        assert math.isnan(tau) if r["phase"] == "warmup" else 0.5 <= tau <= 5.0
    search_taus = [float(r["temperature"]) for r in rows if r["phase"] == "search"]
    assert search_taus == pytest.approx([5.0, 0.5])  # exponential from tau_start to tau_end
    # alpha is untouched in the warm-up and trained afterwards (the cost term lowers E[MACs])
    assert rows[0]["expected_macs"] == rows[1]["expected_macs"]
    assert float(rows[-1]["expected_macs"]) < float(rows[1]["expected_macs"])


@pytest.mark.parametrize("name", ["dnas", "a2d"])
def test_alpha_csv(runs, name):
    d = runs["root"] / name
    fields, rows = read_csv(d / "alpha.csv")
    assert fields == ["step", "cell", *CELL_OPS]
    _, curve = read_csv(d / "search_curve.csv")
    assert len(rows) == len(curve) * 14
    assert [(int(r["step"]), int(r["cell"])) for r in rows] == [
        (int(c["step"]), i) for c in curve for i in range(14)
    ]
    for r in rows:
        assert sum(float(r[op]) for op in CELL_OPS) == pytest.approx(1.0, abs=1e-5)
    # the last rows are softmax(alpha) of the saved supernet
    probs = torch.softmax(load_torch(d / "supernet.pt")["alpha"], -1)
    last = torch.tensor([[float(r[op]) for op in CELL_OPS] for r in rows[-14:]])
    torch.testing.assert_close(last, probs, rtol=0, atol=1e-6)
    assert all(float(rows[i][op]) == pytest.approx(1 / 9) for i in range(14) for op in CELL_OPS)


@pytest.mark.parametrize("name", ["dnas", "a2d"])
def test_supernet_checkpoint(runs, name):
    ckpt = load_torch(runs["root"] / name / "supernet.pt")
    assert ckpt["format"] == run_mod.SUPERNET_FORMAT
    assert ckpt["alpha"].shape == (14, len(CELL_OPS))
    assert ckpt["alpha"].abs().sum() > 0  # alpha was trained after the warm-up
    assert ckpt["choices"] == list(CELL_OPS)
    assert ckpt["macs_table"].shape == (14, len(CELL_OPS))
    assert (ckpt["game"], ckpt["seed"], ckpt["n_actions"], ckpt["steps"]) == (
        "Breakout", SEED, 4, 192,
    )  # fmt: skip
    assert ckpt["method"] == {"dnas": "vanilla_dnas", "a2d": "a2d_one_level"}[name]
    # the search's wall time is the PPO loop's, carried into the checkpoint and the arch.json
    assert ckpt["search_wall_s"] == runs[name]["train_wall_s"] > 0
    arch = json.loads((runs["root"] / name / "arch.json").read_text())
    assert arch["search_wall_s"] == ckpt["search_wall_s"]


@pytest.mark.parametrize("name", ["dnas", "a2d"])
def test_arch_json_and_derive(runs, name, tmp_path, monkeypatch):
    d = runs["root"] / name
    arch = json.loads((d / "arch.json").read_text())
    ckpt = load_torch(d / "supernet.pt")
    ops = arch["ops"]
    assert len(ops) == 14 and set(ops) <= set(CELL_OPS)
    assert ops == [CELL_OPS[j] for j in ckpt["alpha"].argmax(-1).tolist()]
    table = ckpt["macs_table"].tolist()
    assert arch["macs"] == ckpt["macs_fixed"] + sum(
        table[i][CELL_OPS.index(op)] for i, op in enumerate(ops)
    )
    net = build(get_spec(str(d / "arch.json")), 4)
    assert count_macs(net) == arch["macs"]
    assert (arch["game"], arch["method"], arch["seed"]) == ("Breakout", ckpt["method"], SEED)
    assert len(arch["confidence"]) == 14
    # deriving again, elsewhere, gives the same architecture; the latency is the derived net's
    # measured batch-1 latency, rounded to microseconds
    timed = []
    monkeypatch.setattr(run_mod, "cpu_latency_ms", lambda m: timed.append(m) or 1.23456)
    again = derive(d / "supernet.pt", tmp_path / "other.json", name="again")
    assert again["ops"] == ops and again["macs"] == arch["macs"]
    assert again["latency_ms_b1"] == 1.235 and count_macs(timed[0]) == arch["macs"]
    assert json.loads((tmp_path / "other.json").read_text())["arch"] == "again"


def test_a2d_search_distils_from_the_teacher(runs):
    terms = runs["distill_terms"]
    assert len(terms) == 3 * 2  # 3 iterations x 1 epoch x 2 minibatches
    assert all(set(t) == {"distill_actor", "distill_critic"} for t in terms)
    assert all(math.isfinite(v) and v > 0 for t in terms for v in t.values())


def test_derive_refuses_a_plain_agent(runs, tmp_path):
    with pytest.raises(CheckpointError, match="not a supernet"):
        derive(runs["root"] / "teacher" / "agent.pt", tmp_path / "x.json")


def test_a2d_method_needs_a_teacher(tmp_path):
    with pytest.raises(A2DError, match="teacher"):
        run_search(
            "Breakout", "a2d_one_level", DEFAULT_METHODS["a2d_one_level"], None, SEED,
            tmp_path, tiny_cfg(), **QUIET,
        )  # fmt: skip
    assert not (tmp_path / "supernet.pt").exists()


def test_teacher_of_another_game_refused(runs, tmp_path):
    # the Breakout teacher relabelled as a Pong one (cheaper than training on Pong)
    ckpt = load_torch(runs["root"] / "teacher" / "agent.pt")
    atomic_torch_save(tmp_path / "pong" / "agent.pt", {**ckpt, "game": "Pong"})
    with pytest.raises(A2DError, match="Pong"):
        run_search(
            "Breakout", "a2d_one_level", DEFAULT_METHODS["a2d_one_level"], tmp_path / "pong",
            SEED, tmp_path / "out", tiny_cfg(), **QUIET,
        )  # fmt: skip
    # and the real Breakout teacher for a Pong search
    with pytest.raises(A2DError, match="Breakout"):
        run_search(
            "Pong", "a2d_actor_only", DEFAULT_METHODS["a2d_actor_only"], runs["root"] / "teacher",
            SEED, tmp_path / "out", tiny_cfg(), **QUIET,
        )  # fmt: skip
    assert not (tmp_path / "out" / "supernet.pt").exists()


def test_missing_teacher_refused(tmp_path):
    with pytest.raises(CheckpointError, match="teacher not found"):
        run_search(
            "Breakout", "a2d_critic_only", DEFAULT_METHODS["a2d_critic_only"], tmp_path / "none",
            SEED, tmp_path / "out", tiny_cfg(), **QUIET,
        )  # fmt: skip


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"alpha": [[0.0] * 9] * 14}, "alpha must be a 2-D float tensor"),
        ({"alpha": torch.zeros(14, 3)}, "one column per choice"),
        ({"alpha": torch.full((14, 9), float("nan"))}, "alpha must be finite"),
        ({"alpha": torch.zeros(3, 9)}, "alpha has 3 rows"),
        ({"choices": ["k3_e1", "rm -rf"] + ["skip"] * 7}, "choices must name cell ops"),
        ({"choices": "k3_e1"}, "choices must be a non-empty list"),
        ({"spec": "vanilla"}, "spec must be a mapping"),
        ({"n_actions": True}, "n_actions must be an integer >= 1"),
        ({"n_actions": 0}, "n_actions must be an integer >= 1"),
        ({"norm": "layer"}, "norm must be one of"),
        ({"game": 3}, "game must be a string"),
        ({"method": None}, "method must be a string"),
        ({"seed": "1"}, "seed must be an integer"),
        ({"steps": 1.5}, "steps must be an integer"),
        ({"search_wall_s": "fast"}, "search_wall_s must be a number"),
        ({"spec": {"fc": -1}}, "spec.fc must be an integer >= 1"),
    ],
)
def test_derive_refuses_badly_typed_supernet_fields_by_name(runs, tmp_path, change, fragment):
    good = load_torch(runs["root"] / "dnas" / "supernet.pt")
    bad = tmp_path / "supernet.pt"
    torch.save({**good, **change}, bad)
    with pytest.raises(CheckpointError, match="supernet") as e:
        derive(bad, tmp_path / "arch.json")
    assert str(bad) in str(e.value) and fragment in str(e.value)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "arch.json").exists()


def test_derive_refuses_a_supernet_lacking_a_field(runs, tmp_path):
    good = load_torch(runs["root"] / "dnas" / "supernet.pt")
    bad = tmp_path / "supernet.pt"
    torch.save({k: v for k, v in good.items() if k != "search_wall_s"}, bad)
    with pytest.raises(CheckpointError, match="lacks search_wall_s"):
        derive(bad, tmp_path / "arch.json")


# ---- search.cost: latency


def latency_table_file(path, tc, target="torch-cpu"):
    """A synthetic cost table for the search's supernet: op j of cell i costs 0.01 (i+1)(j+1) ms."""
    from a2d.models.cost_table import FORMAT
    from a2d.search.run import search_spec

    table = {
        "format": FORMAT,
        "target": target,
        "spec": search_spec(tc),
        "norm": tc.model.norm,
        "choices": list(CELL_OPS),
        "cells": [
            {"cell": i, "ms": {op: 0.01 * (i + 1) * (j + 1) for j, op in enumerate(CELL_OPS)}}
            for i in range(14)
        ],
        "fixed_ms": 0.25,
        "reference": {"arch": "vanilla", "ms": 0.5},
    }
    path.write_text(json.dumps(table))
    return path


def test_a_latency_search_records_its_tables_prediction(tmp_path):
    tc = tiny_cfg()
    tc.search.cost, tc.search.cost_target = "latency", "torch-cpu"
    table = latency_table_file(tmp_path / "cost.json", tc)
    run_search(
        "Breakout", "vanilla_dnas", MethodConfig(0, 0, "one_level"), None, SEED,
        tmp_path / "s", tc, cost_table=table, **QUIET,
    )  # fmt: skip
    fields, rows = read_csv(tmp_path / "s" / "search_curve.csv")
    assert fields == SEARCH_CURVE_FIELDS + ["expected_latency_ms", "argmax_latency_ms"]
    assert all(float(r["argmax_latency_ms"]) > 0.25 for r in rows)
    ckpt = load_torch(tmp_path / "s" / "supernet.pt")
    assert ckpt["latency_target"] == "torch-cpu" and ckpt["latency_fixed"] == 0.25
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    want = 0.25 + sum(0.01 * (i + 1) * (CELL_OPS.index(op) + 1) for i, op in enumerate(arch["ops"]))
    assert arch["predicted_latency_ms"]["target"] == "torch-cpu"
    assert arch["predicted_latency_ms"]["ms"] == pytest.approx(want, abs=1e-4)


def test_the_latency_table_must_be_given_and_fit(tmp_path):
    tc = tiny_cfg()
    tc.search.cost = "latency"  # cost_target: onnxruntime-cpu
    dnas = ("Breakout", "vanilla_dnas", MethodConfig(0, 0, "one_level"), None, SEED)
    with pytest.raises(A2DError, match="needs --cost-table FILE"):
        run_search(*dnas, tmp_path / "a", tc, **QUIET)
    table = latency_table_file(tmp_path / "cost.json", tc, target="torch-cpu")
    with pytest.raises(A2DError, match="measured on torch-cpu, search.cost_target is onnxruntime"):
        run_search(*dnas, tmp_path / "b", tc, cost_table=table, **QUIET)
    tc.search.cost = "macs"
    with pytest.raises(A2DError, match="--cost-table is used only with search.cost: latency"):
        run_search(*dnas, tmp_path / "c", tc, cost_table=table, **QUIET)
    assert not any((tmp_path / d).exists() for d in "abc")  # refused before any work


def test_stride4_stem_search_derives_a_stride4_net(tmp_path):
    """search.stem_stride: 4 runs the supernet with the 5x5 stride-4 stem; derive keeps it."""
    tc = tiny_cfg()
    tc.search.steps = 128
    tc.search.warmup = 0.5
    tc.search.stem_stride = 4
    run_search(
        "Breakout", "vanilla_dnas", MethodConfig(0, 0, "one_level"), None, SEED,
        tmp_path / "s4", tc, **QUIET,
    )  # fmt: skip
    ckpt = load_torch(tmp_path / "s4" / "supernet.pt")
    assert ckpt["spec"]["layers"][0] == {"op": "conv", "c": 16, "k": 5, "s": 4}
    arch = derive(tmp_path / "s4" / "supernet.pt", tmp_path / "arch.json")
    assert arch["layers"][0] == {"op": "conv", "c": 16, "k": 5, "s": 4}
    net = build(get_spec(str(tmp_path / "arch.json")), 4)
    assert count_macs(net) == arch["macs"]
    stride2 = build({"ops": arch["ops"]}, 4)  # the same ops in the paper's layout
    assert count_macs(stride2) > 2.5 * arch["macs"]  # the cells see a quarter of the area
