"""The agent file (``agent.pt``): a trained net's weights with the spec that rebuilds it.

Written once by the PPO loop at the end of a run; read by ``a2d evaluate``, ``export``,
``play`` and by a search that distils from a teacher. Both sides live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from a2d.checkpoint import CheckpointError, atomic_torch_save, load_torch
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


def load_agent(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained agent from its agent.pt."""
    ckpt = load_torch(path, "agent checkpoint")
    if ckpt.get("format") != AGENT_FORMAT:
        raise CheckpointError(f"{path}: format {ckpt.get('format')!r} is not {AGENT_FORMAT!r}")
    missing = [k for k in ("spec", "n_actions", "norm", "state_dict", "game") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: agent checkpoint lacks {', '.join(missing)}")
    agent = build(ckpt["spec"], ckpt["n_actions"], norm=ckpt["norm"]).to(device)
    try:
        agent.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: weights do not fit its architecture {ckpt['spec'].get('arch')!r} "
            f"({str(e).splitlines()[0][:100]})"
        ) from None
    return agent, ckpt
