"""a2d export: ONNX / TorchScript files that match PyTorch on real observations, with a card."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from a2d.checkpoint import atomic_torch_save, atomic_write_json
from a2d.export import ExportError, export_run, load_exported, real_observations
from a2d.models import build
from a2d.models.agent_file import AGENT_FORMAT
from a2d.models.builder import derived_spec

DERIVED_OPS = ["k3_e1", "k3_e1_g2", "k5_e3", "skip", "k3_e6", "k5_e1_g2", "k5_e6"] * 2


def make_run(path, spec, game="Breakout", n_actions=4, seed=0):
    """A run directory as `a2d train` leaves it, with an agent whose logits are not tiny."""
    torch.manual_seed(seed)
    agent = build(spec, n_actions)
    with torch.no_grad():
        agent.actor.weight.mul_(300.0)  # CleanRL's init makes logits ~0: parity would be trivial
        agent.critic.weight.mul_(3.0)
    path.mkdir(parents=True)
    atomic_torch_save(
        path / "agent.pt",
        {
            "format": AGENT_FORMAT,
            "spec": agent.spec,
            "n_actions": n_actions,
            "norm": "none",
            "game": game,
            "seed": 1,
            "steps": 1024,
            "state_dict": agent.state_dict(),
        },
    )
    atomic_write_json(
        path / "eval.json",
        {"game": game, "arch": agent.spec["arch"], "mean": 12.5, "std": 3.0, "episodes": 30,
         "frame_cap": 108000, "sticky": 0.0, "noop_max": 30},
    )  # fmt: skip
    return agent.eval()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "vanilla": (root / "vanilla", make_run(root / "vanilla", "vanilla")),
        "derived": (
            root / "derived",
            make_run(root / "derived", derived_spec(DERIVED_OPS, "searched_test"), seed=1),
        ),
    }


@pytest.mark.parametrize("arch", ["vanilla", "derived"])
def test_onnx_export_matches_pytorch_on_real_observations(runs, arch, tmp_path):
    import onnx
    import onnxruntime as ort

    run, agent = runs[arch]
    out = tmp_path / "agent.onnx"
    card = export_run(run, "onnx", out, n_obs=64, repeats=5)

    # the card
    assert json.loads((tmp_path / "agent.onnx.json").read_text()) == card
    assert card["file_bytes"] == out.stat().st_size > 100_000
    assert (card["game"], card["arch"], card["format"]) == ("Breakout", agent.spec["arch"], "onnx")
    assert card["action_names"] == ["NOOP", "FIRE", "RIGHT", "LEFT"]
    assert card["test_score"]["mean"] == 12.5 and card["macs"] > 1e6 and card["params"] > 1e5
    assert card["inputs"]["frames"] == {"dtype": "uint8", "shape": ["batch", 4, 84, 84]}
    assert card["preprocessing"]["frame_stack"] == 4 and card["preprocessing"]["frameskip"] == 4
    assert card["parity"]["observations"] == 64
    assert card["parity"]["max_abs_err_logits"] <= 1e-4
    assert set(card["latency_ms_b1"]) == {
        "pytorch_eager", "onnxruntime", "threads", "repeats", "statistic"
    } and card["latency_ms_b1"]["repeats"] == 5  # fmt: skip
    if arch == "derived":
        assert card["ops"] == DERIVED_OPS

    # the graph: uint8 frames in (scaling inside), logits and value out, any batch size
    model = onnx.load(str(out))
    (inp,) = model.graph.input
    assert inp.name == "frames" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [o.name for o in model.graph.output] == ["logits", "value"]
    assert {p.key: p.value for p in model.metadata_props}["game"] == "Breakout"

    # independently of export_run's own check: fresh real observations, a fresh session
    obs = real_observations(agent, "Breakout", n=48, seed=7)
    assert obs.dtype == np.uint8 and obs.shape == (48, 4, 84, 84) and obs.std() > 0
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits, value = sess.run(None, {"frames": obs})
    with torch.inference_mode():
        ref_l, ref_v = agent(torch.from_numpy(obs))
    assert logits.shape == (48, 4) and value.shape == (48,)
    assert np.abs(ref_l.numpy()).max() > 0.1  # a non-trivial comparison
    np.testing.assert_allclose(logits, ref_l.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(value, ref_v.numpy(), atol=1e-4, rtol=0)


def test_torchscript_export(runs, tmp_path, monkeypatch):
    import a2d.export

    run, agent = runs["derived"]
    timed = []  # what each latency measurement timed (one batch-1 call), and its fake median

    def median_ms(fn, repeats, warmup=20):
        out = fn()
        timed.append((out[0].shape[0], repeats))
        return [0.123456, 2.0][len(timed) - 1]

    monkeypatch.setattr(a2d.export, "_median_ms", median_ms)
    card = export_run(run, "torchscript", n_obs=32, repeats=5)
    out = run / "export" / "agent.torchscript.pt"
    assert card["file"] == out.name and out.exists()
    assert json.loads((run / "export" / "agent.torchscript.pt.json").read_text()) == card
    assert timed == [(1, 5), (1, 5)]  # the exported model first, then PyTorch eager
    assert card["latency_ms_b1"] == {
        "torchscript": 0.1235, "pytorch_eager": 2.0, "threads": 1, "repeats": 5,
        "statistic": "median",
    }  # fmt: skip
    m = torch.jit.load(str(out))
    obs = real_observations(agent, "Breakout", n=16, seed=3)
    with torch.inference_mode():
        lo, va = m(torch.from_numpy(obs))
        ref_l, ref_v = agent(torch.from_numpy(obs))
    assert lo.dtype == torch.float32 and va.shape == (16,)
    torch.testing.assert_close(lo, ref_l, atol=1e-4, rtol=0)
    torch.testing.assert_close(va, ref_v, atol=1e-4, rtol=0)
    run_ts = load_exported(out)
    np.testing.assert_allclose(run_ts(obs)[0], ref_l.numpy(), atol=1e-4, rtol=0)


def test_failed_parity_leaves_nothing(runs, tmp_path):
    run, _ = runs["vanilla"]
    out = tmp_path / "x" / "agent.onnx"
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_run(run, "onnx", out, n_obs=8, tol=-1.0, repeats=1)
    assert not out.exists() and not (tmp_path / "x" / "agent.onnx.json").exists()
    assert list((tmp_path / "x").iterdir()) == []  # no temporary file either


def test_cli_export(runs, tmp_path, venv_bin):
    run, _ = runs["vanilla"]
    out = tmp_path / "v.onnx"
    p = subprocess.run(
        [str(venv_bin / "a2d"), "export", "--run", str(run), "--format", "onnx", "--out",
         str(out), "--observations", "16"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "wrote v.onnx" in p.stdout and "onnxruntime" in p.stdout
    assert json.loads((tmp_path / "v.onnx.json").read_text())["parity"]["observations"] == 16
    p = subprocess.run(
        [str(venv_bin / "a2d"), "export", "--run", str(tmp_path / "nope"), "--format", "onnx"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.startswith("a2d: error: ") and "no agent.pt" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
