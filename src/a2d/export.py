"""Export a trained agent for deployment: ``a2d export --run DIR --format onnx|torchscript``.

The exported model is self-contained: input ``frames``, uint8 ``[batch, 4, 84, 84]`` (the last four
preprocessed 84x84 grey frames, oldest first, values 0-255; the graph casts and divides by 255
itself); outputs ``logits`` float32 ``[batch, n_actions]`` (the policy's unnormalised
log-probabilities over the game's minimal ALE action set) and ``value`` float32 ``[batch]``.
Beside it a JSON card (``<file>.json``) records the game, the architecture, MACs, parameters,
the test score, the preprocessing the model expects, the action names, the measured parity with
PyTorch on real observations, batch-1 CPU latencies and the file's size and SHA-256.

Parity is checked on observations the agent itself meets in a test game (not random noise):
both batched and batch-1, max abs error on logits and value must be <= ``tol`` (1e-4), or the
export fails and leaves no file. ONNX uses torch's TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``, opset 17; the dynamo exporter would need
``onnxscript``); TorchScript uses ``torch.jit.trace`` (deprecated in torch 2.13 but supported,
and what C++/mobile runtimes load).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2d import A2DError

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
OPSET = 17
INPUT, OUTPUTS = "frames", ("logits", "value")


class ExportError(A2DError):
    pass


def action_names(game: str) -> list[str]:
    """Names of the game's minimal ALE action set, in the order of the logits."""
    import ale_py
    from ale_py import Action, ALEInterface, roms

    from a2d.envs import rom_id

    ale = ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.loadROM(roms.get_rom_path(rom_id(game)))
    return [Action(a).name for a in ale.getMinimalActionSet()]


def real_observations(agent: torch.nn.Module, game: str, n: int = 256, seed: int = 1) -> np.ndarray:
    """``n`` observations (uint8, n x 4 x 84 x 84) from a test game played by ``agent``."""
    from a2d.play import play

    frames: list[np.ndarray] = []
    play(agent, game, episodes=1_000_000, seed=seed, max_steps=n, on_obs=frames.append)
    return np.concatenate(frames)[:n]


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 20) -> float:
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def _ort_session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, tmp: Path, meta: dict) -> None:
    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes={k: {0: "batch"} for k in (INPUT, *OUTPUTS)},
            do_constant_folding=True,
        )
    m = onnx.load(str(tmp))
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v if isinstance(v, str) else json.dumps(v)
    m.producer_name = "a2d"
    onnx.checker.check_model(m)
    onnx.save(m, str(tmp))


def _export_torchscript(
    model: torch.nn.Module, example: torch.Tensor, tmp: Path, meta: dict
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, check_trace=True)
        traced = torch.jit.freeze(traced.eval())
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={"a2d.json": json.dumps(meta)})
    tmp.write_bytes(buf.getvalue())


def load_exported(
    path: str | Path, threads: int = 1, fmt: str | None = None
) -> Callable[[np.ndarray], tuple]:
    """A callable ``frames (uint8 N x 4 x 84 x 84) -> (logits, value)`` numpy arrays, for an
    exported file (``fmt`` from its name when not given: ``.onnx`` or else TorchScript)."""
    path = Path(path)
    if (fmt or ("onnx" if path.suffix == ".onnx" else "torchscript")) == "onnx":
        sess = _ort_session(path, threads)
        return lambda x: tuple(sess.run(list(OUTPUTS), {INPUT: x}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = torch.jit.load(str(path), map_location="cpu")

    def run(x):
        with torch.inference_mode():
            lo, v = m(torch.from_numpy(x))
        return lo.numpy(), v.numpy()

    return run


def _card(fmt, out, agent, ckpt, ev, names, parity, eager, exported_ms, threads, repeats) -> dict:
    """What an exported file is and how to feed it: the card written beside it (``<out>.json``)."""
    from a2d.config import EnvConfig, EvalConfig
    from a2d.models.cost import count_macs, count_params

    env, ev_cfg = EnvConfig(), EvalConfig()
    game, spec = ckpt["game"], ckpt["spec"]
    data = out.read_bytes()
    exported_key = "onnxruntime" if fmt == "onnx" else "torchscript"
    card: dict[str, Any] = {
        "format": fmt,
        "file": out.name,
        "file_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "game": game,
        "arch": spec.get("arch"),
        **({"ops": spec["ops"]} if "ops" in spec else {}),
        "seed": ckpt.get("seed"),
        "train_steps": ckpt.get("steps"),
        "macs": count_macs(agent),
        "params": count_params(agent),
        "test_score": None
        if ev is None
        else {k: ev.get(k) for k in ("mean", "std", "episodes", "frame_cap", "sticky", "noop_max")},
        "inputs": {INPUT: {"dtype": "uint8", "shape": ["batch", 4, 84, 84]}},
        "outputs": {
            "logits": {"dtype": "float32", "shape": ["batch", ckpt["n_actions"]]},
            "value": {"dtype": "float32", "shape": ["batch"]},
        },
        "action_names": names,
        "preprocessing": {
            "emulator": "ALE via ale-py AtariVectorEnv, minimal action set",
            "frameskip": env.frameskip,
            "max_pool_last_two_frames": True,
            "grayscale": True,
            "resize": [84, 84],
            "frame_stack": 4,
            "stack_order": "oldest first",
            "dtype": "uint8 0-255 (scaling to [0, 1] is inside the model)",
            "noop_max": ev_cfg.noop_max,
            "repeat_action_probability": ev["sticky"] if ev else ev_cfg.sticky,
            "fire_after_life_loss": False,  # the test protocol: every action the policy's
            "action": "sample from softmax(logits) (the test protocol), or argmax",
        },
        "parity": parity,
        "latency_ms_b1": {
            "pytorch_eager": round(eager, 4),
            exported_key: exported_ms,
            "threads": threads,
            "repeats": repeats,
            "statistic": "median",
        },
        "exporter": {
            "torch": torch.__version__.split("+")[0],
            **({"opset": OPSET} if fmt == "onnx" else {}),
            **_versions(fmt),
        },
    }
    return card


def export_run(
    run: str | Path,
    fmt: str = "onnx",
    out: str | Path | None = None,
    *,
    n_obs: int = 256,
    tol: float = 1e-4,
    threads: int = 1,
    repeats: int = 200,
    seed: int = 1,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Export the agent of run directory ``run`` (or an agent.pt) to ``out``; return the card.

    ``out`` defaults to ``<run>/export/agent.onnx`` (or ``agent.torchscript.pt``); the card goes
    to ``<out>.json``. Both are written atomically.
    """
    from a2d.checkpoint import atomic_write, atomic_write_json
    from a2d.models.agent_file import load_agent

    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    for name, value in (("observations", n_obs), ("threads", threads), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ExportError(f"{name} must be an integer >= 1, got {value!r}")
    run = Path(run)
    agent_path = run / "agent.pt" if run.is_dir() else run
    run_dir = agent_path.parent
    if not agent_path.exists():
        raise ExportError(f"{run}: no agent.pt (is it a finished run directory?)")
    agent, ckpt = load_agent(agent_path, "cpu")
    agent.eval()
    game = ckpt["game"]
    spec = ckpt["spec"]
    out = Path(out) if out is not None else run_dir / "export" / f"agent{SUFFIX[fmt]}"
    card_path = Path(f"{out}.json")
    try:
        ev = json.loads((run_dir / "eval.json").read_text())
    except (OSError, json.JSONDecodeError):
        ev = None

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        log(f"{game} {spec.get('arch')}: playing {n_obs} steps for real observations")
        obs = real_observations(agent, game, n_obs, seed)
        with torch.inference_mode():
            ref_logits, ref_value = (t.numpy() for t in agent(torch.from_numpy(obs)))
        names = action_names(game)
        if len(names) != ckpt["n_actions"]:
            raise ExportError(
                f"{game}: {len(names)} ALE actions but the agent has {ckpt['n_actions']}"
            )
        meta = {
            "a2d_format": "a2d-exported-agent-v1",
            "game": game,
            "arch": spec.get("arch"),
            "n_actions": ckpt["n_actions"],
            "action_names": names,
        }
        example = torch.from_numpy(obs[:1].copy())

        def write(tmp: Path) -> None:
            (_export_onnx if fmt == "onnx" else _export_torchscript)(agent, example, tmp, meta)
            # parity on the temporary file: a failing export never reaches its final name
            run_exported = load_exported(tmp, threads, fmt)
            lo, va = run_exported(obs)
            lo1, va1 = zip(*(run_exported(obs[i : i + 1]) for i in range(min(32, len(obs)))))
            lo1, va1 = np.concatenate(lo1), np.concatenate(va1)
            k = len(lo1)
            err_l = float(max(np.abs(lo - ref_logits).max(), np.abs(lo1 - ref_logits[:k]).max()))
            err_v = float(max(np.abs(va - ref_value).max(), np.abs(va1 - ref_value[:k]).max()))
            parity.update(
                observations=len(obs),
                batch1_observations=k,
                max_abs_err_logits=err_l,
                max_abs_err_value=err_v,
                argmax_agreement=float(np.mean(lo.argmax(-1) == ref_logits.argmax(-1))),
                tolerance=tol,
            )
            if not (err_l <= tol and err_v <= tol):
                raise ExportError(
                    f"{fmt} export differs from PyTorch by {max(err_l, err_v):.2e} > {tol:g} "
                    f"(logits {err_l:.2e}, value {err_v:.2e}); nothing written"
                )
            x1 = obs[:1]
            lat["exported"] = round(_median_ms(lambda: run_exported(x1), repeats), 4)

        parity: dict[str, Any] = {}
        lat: dict[str, float] = {}
        atomic_write(out, write)
        x1t = torch.from_numpy(obs[:1].copy())
        with torch.inference_mode():
            eager = _median_ms(lambda: agent(x1t), repeats)
    finally:
        torch.set_num_threads(old_threads)

    card = _card(fmt, out, agent, ckpt, ev, names, parity, eager, lat["exported"], threads, repeats)
    card["source"] = str(agent_path)
    atomic_write_json(card_path, card)
    return card


def _versions(fmt: str) -> dict[str, str]:
    if fmt != "onnx":
        return {}
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
