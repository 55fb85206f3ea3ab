"""The agent file (``agent.pt``): a trained net's weights with the spec that rebuilds it.

Written once by the PPO loop at the end of a run; read by ``a2d evaluate``, ``export``,
``play`` and by a search that distils from a teacher. Both sides live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from a2d.checkpoint import CheckpointError, Digest, atomic_torch_save, load_torch
from a2d.models.builder import build

AGENT_FORMAT = "a2d-agent-v1"


def agent_payload(
    agent: nn.Module, spec: dict, n_actions: int, norm: str, game: str, seed: int, steps: int
) -> dict[str, Any]:
    """What agent.pt holds: enough to rebuild ``agent`` without the run's config."""
    return {
        "format": AGENT_FORMAT,
        "spec": spec,
        "n_actions": n_actions,
        "norm": norm,
        "game": game,
        "seed": seed,
        "steps": steps,
        "state_dict": agent.state_dict(),
    }


def save_agent(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (from :func:`agent_payload`) atomically."""
    atomic_torch_save(path, payload)


def check_agent_payload(ckpt: dict[str, Any], where: str) -> None:
    """Refuse an agent payload whose fields are missing or of the wrong type, naming the field
    (``where``: the file, for the message). The spec's ops and keys are checked too."""
    import torch

    from a2d.config import NORMS
    from a2d.envs import canonical
    from a2d.models.builder import check_spec

    missing = [k for k in ("spec", "n_actions", "norm", "state_dict", "game") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{where}: agent checkpoint lacks {', '.join(missing)}")
    n, spec, norm, game = ckpt["n_actions"], ckpt["spec"], ckpt["norm"], ckpt["game"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CheckpointError(f"{where}: n_actions must be an integer >= 1, got {n!r:.40}")
    if not isinstance(spec, dict):
        raise CheckpointError(f"{where}: spec must be a mapping, got {type(spec).__name__}")
    if not isinstance(norm, str) or norm not in NORMS:
        raise CheckpointError(f"{where}: norm must be one of {', '.join(NORMS)}; got {norm!r:.40}")
    if not isinstance(game, str):
        raise CheckpointError(f"{where}: game must be a string, got {type(game).__name__}")
    canonical(game)  # a known game
    sd = ckpt["state_dict"]
    if not isinstance(sd, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()
    ):
        raise CheckpointError(f"{where}: state_dict must map parameter names to tensors")
    check_spec(spec, where)


def load_agent(
    path: str | Path,
    device: str = "cpu",
    digest: Digest | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained agent from its agent.pt (loaded with weights_only, its fields checked;
    ``digest``: the SHA-256 the file must have)."""
    what = "agent checkpoint"
    ckpt = load_torch(path, what, digest)
    if ckpt.get("format") != AGENT_FORMAT:
        fmt = ckpt.get("format")
        raise CheckpointError(f"{path}: format {fmt!r:.60} is not {AGENT_FORMAT!r}")
    check_agent_payload(ckpt, f"{what} {path}")
    agent = build(ckpt["spec"], ckpt["n_actions"], norm=ckpt["norm"]).to(device)
    try:
        agent.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: weights do not fit its architecture {ckpt['spec'].get('arch')!r:.60} "
            f"({str(e).splitlines()[0][:100]})"
        ) from None
    return agent, ckpt
