"""The teacher file: the JSON that names a game's teacher (``a2d teacher --run DIR --out FILE``).

It records which finished run teaches a game, and that run's test score and MACs::

    {"game", "arch", "seed", "run", "agent", "test_mean", "test_std", "macs"}

``agent`` (the run's agent.pt) is what a search or a retrain given ``--teacher FILE`` loads. The
writer and the reader live here, side by side; ``--teacher`` also takes a run directory or an
agent.pt directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from a2d import A2DError
from a2d.checkpoint import CheckpointError

#: the teacher file's keys, in the order they are written
FIELDS = ("game", "arch", "seed", "run", "agent", "test_mean", "test_std", "macs")


class TeacherFileError(CheckpointError):
    """A teacher file (or the run it is made from) that cannot be used."""


class TeacherGameError(A2DError):
    """A teacher trained on another game than the one it is to teach."""


def check_run(run: str | Path) -> dict[str, Any]:
    """The eval.json of the finished run ``run``, checked: a JSON object with the teacher
    file's fields, of the right types, and an agent.pt beside it."""
    run = Path(run)
    if not run.is_dir():
        raise TeacherFileError(f"{run} is not a finished run (no such folder)")
    try:
        ev = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        detail = getattr(e, "strerror", None) or str(e).splitlines()[0][:100]
        raise TeacherFileError(
            f"{run} is not a finished run (eval.json unreadable: {detail})"
        ) from None
    if not (run / "agent.pt").is_file():
        raise TeacherFileError(f"{run} has no agent.pt")
    if not isinstance(ev, dict):
        raise TeacherFileError(f"{run}/eval.json is not a JSON object")
    missing = [k for k in ("game", "arch", "seed", "mean", "std", "macs") if k not in ev]
    if missing:
        raise TeacherFileError(f"{run}/eval.json lacks {', '.join(missing)}")
    kinds = {"game": (str,), "arch": (str,), "seed": (int,), "macs": (int, float)}
    kinds.update(mean=(int, float), std=(int, float))
    for key, types in kinds.items():
        if isinstance(ev[key], bool) or not isinstance(ev[key], types):
            raise TeacherFileError(f"{run}/eval.json: {key} has the wrong type ({ev[key]!r})")
    return ev


def write_teacher(run: str | Path, out: str | Path) -> dict[str, Any]:
    """Record the finished run ``run`` (its eval.json and agent.pt) as a teacher in ``out``."""
    from a2d.checkpoint import atomic_write_json

    ev = check_run(run)
    run = Path(run)
    record = {
        "game": ev["game"],
        "arch": ev["arch"],
        "seed": ev["seed"],
        "run": str(run),
        "agent": str(run / "agent.pt"),
        "test_mean": ev["mean"],
        "test_std": ev["std"],
        "macs": ev["macs"],
    }
    atomic_write_json(out, record)
    return record


def read_teacher(path: str | Path) -> dict[str, Any]:
    """A teacher file's record; ``TeacherFileError`` if it is unreadable or names no agent."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        detail = getattr(e, "strerror", None) or str(e).splitlines()[0][:100]
        raise TeacherFileError(f"teacher file {path} unreadable: {detail}") from None
    if not isinstance(record, dict):
        raise TeacherFileError(f"teacher file {path} is not a JSON object")
    if not isinstance(record.get("agent"), str) or not record["agent"]:
        raise TeacherFileError(f"teacher file {path} names no agent (its 'agent' entry)")
    return record


def teacher_agent_path(teacher: str | Path) -> Path:
    """The agent.pt of a teacher given as a run directory, its agent.pt, or a teacher file."""
    p = Path(teacher)
    if p.is_dir():
        p = p / "agent.pt"
    elif p.suffix == ".json":
        p = Path(read_teacher(p)["agent"])
    if not p.exists():
        raise TeacherFileError(
            f"teacher not found: {p} (give a run directory, its agent.pt or teachers/<game>.json)"
        )
    return p


def load_teacher(teacher: str | Path, game: str, device: str) -> torch.nn.Module:
    """The teacher's agent (see ``teacher_agent_path``), refused unless trained on ``game``."""
    from a2d.envs import canonical
    from a2d.models.agent_file import load_agent

    agent, ckpt = load_agent(teacher_agent_path(teacher), device)
    game = canonical(game)
    if ckpt["game"] != game:
        raise TeacherGameError(
            f"teacher was trained on {ckpt['game']}, not {game}; a teacher must match the game"
        )
    return agent
