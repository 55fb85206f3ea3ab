"""Issue 7, items 2-5: no half-written results, bad input named in one line, numerical faults
stopped with the step and the term, repeatability. Runs go through ``a2d.cli.main`` in-process
(the exact command-line code path, without paying for a fresh interpreter each time)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch

from a2d import cli
from a2d.config import TrainConfig
from a2d.faults import NAN_VAR
from a2d.models import build
from a2d.models.agent_file import AGENT_FORMAT
from a2d.models.builder import derived_spec, supernet_spec
from a2d.rl.ppo import PPOHook, train

TINY = [
    "--num-envs", "2", "--steps", "192", "--device", "cpu",
    "--set", "ppo.num_steps=16", "--set", "ppo.num_minibatches=2", "--set", "ppo.update_epochs=2",
    "--set", "eval.curve_episodes=1", "--set", "eval.episodes=2", "--set", "eval.num_envs=2",
    "--set", "eval.frame_cap=400", "--set", "eval.interval=64", "--set", "checkpoint.interval=64",
    "--set", "torch_threads=1",
]  # fmt: skip
OUTPUTS = ("eval.json", "curve.csv", "model.json", "agent.pt")


def run_cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def train_cli(capsys, out: Path, *extra, seed=1, arch="vanilla", game="Pong"):
    return run_cli(
        capsys, "train", "--game", game, "--arch", arch, "--seed", seed, "--out", out, *TINY, *extra
    )


def result(run: Path):
    """What a run computed: curve.csv and eval.json (no wall-clock fields: those are in
    timing.csv) and the weights."""
    curve, ev = (run / "curve.csv").read_text(), json.loads((run / "eval.json").read_text())
    assert "wall_s" not in curve.splitlines()[0] and "train_wall_s" not in ev
    return curve, ev, torch.load(run / "agent.pt", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """A finished tiny Pong run, seed 1 (its agent also serves as a teacher)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert cli.main([str(a) for a in ["train", "--game", "Pong", "--arch", "vanilla", "--seed", "1",
                                      "--out", out, *TINY]]) == 0  # fmt: skip
    return out


# ---- item 5: repeatability -------------------------------------------------------------------


def test_same_seed_gives_identical_curve_and_eval_json(ref, tmp_path, capsys):
    assert train_cli(capsys, tmp_path / "again")[0] == 0
    c1, e1, w1 = result(ref)
    c2, e2, w2 = result(tmp_path / "again")
    assert c1 == c2 and e1 == e2
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    # byte for byte: the wall-clock fields live in timing.csv
    for f in ("curve.csv", "eval.json", "model.json"):
        assert (ref / f).read_bytes() == (tmp_path / "again" / f).read_bytes(), f
    assert (ref / "timing.csv").is_file()


def test_different_seed_differs(ref, tmp_path, capsys):
    assert train_cli(capsys, tmp_path / "seed2", seed=2)[0] == 0
    _, e1, w1 = result(ref)
    _, e2, w2 = result(tmp_path / "seed2")
    assert not all(torch.equal(w1[k], w2[k]) for k in w1)
    assert (e1["seed"], e2["seed"]) == (1, 2)  # each eval.json names its own seed


# ---- item 4: numerical faults -----------------------------------------------------------------


def test_persistent_nan_stops_naming_step_and_term(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(NAN_VAR, "value_loss:3")
    out = tmp_path / "nan"
    rc, stdout, err = train_cli(capsys, out)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("a2d: error: non-finite loss term value_loss")
    assert "at step 128 (PPO iteration 3, epoch 0, minibatch 0)" in err
    assert "again after a retry from the last checkpoint" in err
    assert stdout.count("retrying once from the last checkpoint") == 1  # one retry, no more
    assert "resumed from" in stdout  # ... from the checkpoint at step 64
    for f in OUTPUTS:  # no curve of NaNs, no result at all
        assert not (out / f).exists()


def test_transient_nan_is_cleared_by_one_retry_with_the_same_result(
    ref, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(NAN_VAR, "policy_loss:3:once")
    out = tmp_path / "blip"
    rc, stdout, _ = train_cli(capsys, out)
    assert rc == 0
    assert "non-finite loss term policy_loss at step 128" in stdout
    assert "resumed from" in stdout
    c1, e1, w1 = result(ref)
    c2, e2, w2 = result(out)
    assert c1 == c2 and e1 == e2 and all(torch.equal(w1[k], w2[k]) for k in w1)


def test_real_divergence_is_caught_before_any_output(tmp_path, capsys):
    out = tmp_path / "diverge"
    rc, _, err = train_cli(capsys, out, "--set", "ppo.learning_rate=1e30")
    assert rc == 2 and err.count("\n") == 1
    assert "non-finite" in err and "at step " in err and "PPO iteration" in err
    for f in OUTPUTS:
        assert not (out / f).exists()


# ---- item 3: bad input, named in one line, nothing written -----------------------------------


def _agent_file(path: Path, arch: str, n_actions: int, game: str, weights_of: str | None = None):
    spec_net = build(arch, n_actions)
    weights = build(weights_of, n_actions) if weights_of else spec_net
    torch.save(
        {
            "format": AGENT_FORMAT,
            "spec": spec_net.spec,
            "n_actions": n_actions,
            "norm": "none",
            "game": game,
            "seed": 1,
            "steps": 0,
            "state_dict": weights.state_dict(),
        },
        path,
    )
    return path


def bad_inputs(d: Path, ref: Path) -> dict[str, tuple[list, str]]:
    """name -> (CLI arguments, a piece of the expected message)."""
    good = derived_spec(["k3_e1"] * 14)
    files = {
        "badop.json": {**good, "ops": ["k7_e9"] + ["k3_e1"] * 13},
        "cells.json": {"ops": ["k3_e1"] * 13},
        "nokeys.json": {"arch": "x", "fc": 512},
        "badtype.json": {"arch": "x", "layers": [{"op": "conv", "c": "wide"}]},
    }
    for name, spec in files.items():
        (d / name).write_text(json.dumps(spec))
    data = (ref / "agent.pt").read_bytes()
    (d / "trunc.pt").write_bytes(data[: len(data) // 3])
    (d / "text.pt").write_text("not a checkpoint\n")
    _agent_file(d / "four_actions.pt", "vanilla", 4, "Pong")
    _agent_file(d / "other_arch.pt", "vanilla", 6, "Pong", weights_of="resnet8")
    T = ["train", "--game", "Pong", "--arch", "vanilla", *TINY]
    return {
        "unknown game": (["train", "--game", "Pongg", "--arch", "vanilla", *TINY[:6]], "unknown game 'Pongg'; did you mean Pong"),
        "unknown arch": (["train", "--game", "Pong", "--arch", "resnet9", *TINY[:6]], "resnet depth must be 6n+2"),
        "unknown arch name": (["train", "--game", "Pong", "--arch", "mobilenet", *TINY[:6]], "unknown arch 'mobilenet'; valid: supernet, vanilla, resnetN"),
        "unknown search method": (["search", "--game", "Pong", "--method", "a2d_foo", "--steps", "64"], "unknown search method 'a2d_foo'; valid: vanilla_dnas, a2d_one_level"),
        "misspelled config key": ([*T, "--set", "ppo.lerning_rate=0.1"], "unknown config key 'lerning_rate' in ppo (did you mean 'learning_rate'?)"),
        "unknown config section": ([*T, "--set", "ppoo.gamma=0.9"], "unknown config key 'ppoo' in <top level> (did you mean 'ppo'?)"),
        "wrong type": ([*T, "--set", "ppo.update_epochs=abc"], "ppo.update_epochs: 'abc' is not of type 'integer' (valid: an integer >= 1)"),
        "negative steps": ([*T, "--steps", "-5"], "ppo.total_steps: -5 is less than the minimum of 1 (valid: an integer >= 1)"),
        "gamma above 1": ([*T, "--set", "ppo.gamma=1.5"], "ppo.gamma: 1.5 is greater than the maximum of 1 (valid: a number in (0, 1])"),
        "gamma zero": ([*T, "--set", "ppo.gamma=0"], "ppo.gamma: 0 is less than or equal to the minimum of 0 (valid: a number in (0, 1])"),
        "zero envs": ([*T, "--num-envs", "0"], "ppo.num_envs: 0 is less than the minimum of 1"),
        "NaN value": ([*T, "--set", "ppo.learning_rate=.nan"], "ppo.learning_rate: nan (must be a finite number)"),
        "arch.json unknown op": (["train", "--game", "Pong", "--arch", d / "badop.json", *TINY[:6]], "unknown cell op 'k7_e9'; valid: k3_e1"),
        "arch.json wrong cell count": (["train", "--game", "Pong", "--arch", d / "cells.json", *TINY[:6]], "'ops' must list 14 cell ops (got 13)"),
        "arch.json missing keys": (["train", "--game", "Pong", "--arch", d / "nokeys.json", *TINY[:6]], "needs a non-empty 'layers' list (or 'ops')"),
        "arch.json wrong type": (["train", "--game", "Pong", "--arch", d / "badtype.json", *TINY[:6]], "layer 0 'c' must be an integer in 1..4096, got 'wide'"),
        "truncated checkpoint": (["evaluate", "--agent", d / "trunc.pt"], "truncated or not a PyTorch checkpoint"),
        "not a checkpoint": (["evaluate", "--agent", d / "text.pt"], "truncated or not a PyTorch checkpoint"),
        "checkpoint of another architecture": (["evaluate", "--agent", d / "other_arch.pt"], "weights do not fit its architecture 'vanilla'"),
        "truncated teacher": ([*T, "--teacher", d / "trunc.pt"], "unreadable agent checkpoint"),
        "teacher of another game": (["train", "--game", "Breakout", "--arch", "vanilla", *TINY, "--teacher", ref], "teacher was trained on Pong, not Breakout"),
        "teacher action space": ([*T, "--teacher", d / "four_actions.pt"], "teacher has 4 actions but this game has 6"),
    }  # fmt: skip


def test_bad_inputs_named_in_one_line_and_nothing_written(ref, tmp_path, capsys):
    cases = bad_inputs(tmp_path, ref)
    if not torch.cuda.is_available():
        cases["cuda without a GPU"] = (
            ["train", "--game", "Pong", "--arch", "vanilla", *TINY, "--device", "cuda"],
            "device: cuda was asked for but no CUDA GPU is available; valid: auto, cpu",
        )
    report = {}
    for name, (args, message) in cases.items():
        out = tmp_path / "out" / name.replace(" ", "_")
        if args[0] in ("train", "search"):
            args = [*args, "--out", out]
        rc, _, err = run_cli(capsys, *args)
        report[name] = err.strip()
        assert rc == 2, (name, err)
        assert err.startswith("a2d: error: ") and err.count("\n") == 1, (name, err)
        assert message in err, (name, err)
        assert "Traceback" not in err
        assert not out.exists(), name  # nothing written, not even the run directory
    Path(tmp_path / "messages.json").write_text(json.dumps(report, indent=1))


class KeepResume(PPOHook):
    changes_training = False

    def __init__(self, run: Path, keep: Path):
        self.run, self.keep = run, keep

    def on_iteration_start(self, iteration, global_step):
        if (self.run / "resume" / "ckpt.pt").exists() and not self.keep.exists():
            shutil.copytree(self.run / "resume", self.keep)


def tiny_cfg() -> TrainConfig:
    cfg = TrainConfig()
    cfg.ppo.total_steps, cfg.ppo.num_envs, cfg.ppo.num_steps = 128, 2, 16
    cfg.ppo.num_minibatches, cfg.ppo.update_epochs = 2, 1
    cfg.eval.episodes = cfg.eval.curve_episodes = cfg.eval.num_envs = 1
    cfg.eval.frame_cap, cfg.eval.interval = 400, 64
    cfg.checkpoint_interval, cfg.device, cfg.torch_threads = 64, "cpu", 1
    return cfg


def test_resume_checkpoint_of_another_arch_or_config_refused(tmp_path, capsys):
    a = tmp_path / "a"
    train("Pong", "vanilla", 1, a, tiny_cfg(), hooks=[KeepResume(a, tmp_path / "keep")], log=str)
    for arch, extra, message in [
        ("resnet8", [], "spec.arch: checkpoint has 'vanilla', this run 'resnet8'"),
        ("vanilla", ["--set", "ppo.gamma=0.9"], "config.ppo.gamma: checkpoint has 0.99, this run 0.9"),
    ]:  # fmt: skip
        d = tmp_path / f"other_{arch}_{len(extra)}"
        shutil.copytree(tmp_path / "keep", d / "resume")
        rc, _, err = run_cli(capsys, "train", "--game", "Pong", "--arch", arch, "--seed", 1,
                             "--out", d, "--steps", 128, "--num-envs", 2, "--device", "cpu",
                             "--set", "ppo.num_steps=16", "--set", "ppo.num_minibatches=2",
                             "--set", "ppo.update_epochs=1", "--set", "eval.episodes=1",
                             "--set", "eval.curve_episodes=1", "--set", "eval.num_envs=1",
                             "--set", "eval.frame_cap=400", "--set", "eval.interval=64",
                             "--set", "checkpoint.interval=64", *extra)  # fmt: skip
        assert rc == 2 and err.count("\n") == 1
        assert "belongs to another run" in err and message in err, err
        assert sorted(p.name for p in d.iterdir()) == ["resume"]  # nothing written


# ---- item 2: no half-written results ---------------------------------------------------------


def test_declared_outputs_appear_only_at_the_end_and_eval_json_last(tmp_path):
    seen: list[set[str]] = []

    class Watch(PPOHook):
        changes_training = False

        def on_iteration_end(self, iteration, global_step, writer):
            seen.append({p.name for p in out.iterdir()})

    order: list[str] = []

    def finish(result, payload):
        order.extend(sorted(p.name for p in out.iterdir() if p.name in OUTPUTS))

    out = tmp_path / "run"
    train("Pong", "vanilla", 1, out, tiny_cfg(), hooks=[Watch()], log=str, finish=finish)
    assert seen and all(not (s & set(OUTPUTS)) for s in seen)  # none mid-run
    assert order == ["agent.pt", "curve.csv", "model.json"]  # eval.json after all others
    assert all((out / f).exists() for f in OUTPUTS)


def test_search_resume_in_process_is_exact(tmp_path):
    """The search's own state (alpha, its Adam, temperature, noise, curves) survives a resume."""
    from a2d.config import MethodConfig
    from a2d.models.cost import count_macs
    from a2d.search.hooks import SearchHook

    cfg = tiny_cfg()
    cfg.ppo.total_steps = 192
    spec = {**supernet_spec(), "fc": 64}
    macs_ref = count_macs(build("vanilla", 6))

    def hook(out):
        return SearchHook(spec, cfg.search, MethodConfig(0, 0), 6, macs_ref, out)

    ref, run = tmp_path / "ref", tmp_path / "run"
    h_ref = hook(ref)
    train("Pong", spec, 1, ref, cfg, [h_ref, KeepResume(ref, tmp_path / "keep")], log=str)
    shutil.copytree(tmp_path / "keep", run / "resume")
    logs: list[str] = []
    h_run = hook(run)
    train("Pong", copy.deepcopy(spec), 1, run, cfg, [h_run], log=logs.append)
    assert any("resumed from" in s and "step 64" in s for s in logs)
    assert torch.equal(h_ref.ctl.alpha, h_run.ctl.alpha)
    for f in ("search_curve.csv", "alpha.csv"):  # what the hook wrote at the end
        h_ref.write_outputs(), h_run.write_outputs()
        assert (ref / f).read_bytes() == (run / f).read_bytes()
    c1, e1, w1 = result(ref)
    c2, e2, w2 = result(run)
    assert c1 == c2 and e1 == e2 and all(torch.equal(w1[k], w2[k]) for k in w1)


# ---- the failpoints themselves ---------------------------------------------------------------


def test_failpoints_read_their_plan_once_not_on_every_call(monkeypatch):
    from a2d import faults

    kills: list[str] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: kills.append(sig))
    monkeypatch.delenv(faults.KILL_VAR, raising=False)
    monkeypatch.delenv(NAN_VAR, raising=False)
    faults.load_plan()
    # a plan set after the run started is not seen: point() and nan_now() read no variables
    monkeypatch.setenv(faults.KILL_VAR, "probe_a:1,probe_b:2")
    monkeypatch.setenv(NAN_VAR, "probe_term:4:once")
    faults.point("probe_a")
    assert kills == [] and not faults.nan_now("probe_term", 4)
    # ... until the next run reads it (train() does, at its start)
    faults.load_plan()
    faults.point("probe_b")
    assert kills == []
    faults.point("probe_b")  # the second visit kills
    assert len(kills) == 1
    faults.point("probe_a")  # its first visit with the plan read
    assert len(kills) == 2
    assert faults.nan_now("probe_term", 4) and not faults.nan_now("probe_term", 4)  # once
    assert not faults.nan_now("value_loss", 4) and not faults.nan_now("probe_term", 3)
    monkeypatch.delenv(faults.KILL_VAR)
    monkeypatch.delenv(NAN_VAR)
    faults.load_plan()
    faults.point("probe_b")
    assert len(kills) == 2
