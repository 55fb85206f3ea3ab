"""The teacher file: the JSON that names a game's teacher (``a2d teacher --run DIR --out FILE``).

It records which finished run teaches a game, and that run's test score and MACs::

    {"game", "arch", "seed", "run", "agent", "agent_sha256", "test_mean", "test_std", "macs"}

``agent`` (the run's agent.pt) is what a search or a retrain given ``--teacher FILE`` loads. It is
written relative to the teacher file's folder (the file and the results tree move together) and
read back against that folder, wherever the reader's working directory is; an absolute path is
refused. ``agent_sha256`` is the agent.pt's SHA-256: an agent.pt that differs from the one the
teacher was made from is refused before it is unpickled. The writer and the reader live here,
side by side; ``--teacher`` also takes a run directory or an agent.pt directly.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from a2d import A2DError
from a2d.checkpoint import CheckpointError, Digest

#: the teacher file's keys, in the order they are written
FIELDS = ("game", "arch", "seed", "run", "agent", "agent_sha256", "test_mean", "test_std", "macs")


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
    """Record the finished run ``run`` (its eval.json and agent.pt) as a teacher in ``out``: the
    agent's path relative to ``out``'s folder, and its SHA-256."""
    from a2d.checkpoint import atomic_write_json, file_sha256

    ev = check_run(run)
    run = Path(run)
    agent = run / "agent.pt"
    out_dir = Path(out).parent
    rel = os.path.relpath(agent.resolve(), out_dir.resolve())
    record = {
        "game": ev["game"],
        "arch": ev["arch"],
        "seed": ev["seed"],
        "run": str(run),
        "agent": Path(rel).as_posix(),
        "agent_sha256": file_sha256(agent),
        "test_mean": ev["mean"],
        "test_std": ev["std"],
        "macs": ev["macs"],
    }
    atomic_write_json(out, record)
    return record


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def read_teacher(path: str | Path) -> dict[str, Any]:
    """A teacher file's record; ``TeacherFileError`` if it is unreadable, names no agent, names
    it by an absolute path or carries no digest of it."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        # never the file's bytes: the error names the problem, not the content
        detail = getattr(e, "strerror", None) or (
            "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else str(e).splitlines()[0][:100]
        )
        raise TeacherFileError(f"teacher file {path} unreadable: {detail}") from None
    if not isinstance(record, dict):
        raise TeacherFileError(f"teacher file {path} is not a JSON object")
    agent = record.get("agent")
    if not isinstance(agent, str) or not agent:
        raise TeacherFileError(f"teacher file {path} names no agent (its 'agent' entry)")
    if Path(agent).is_absolute():
        raise TeacherFileError(
            f"teacher file {path} names its agent by an absolute path; teacher files name it "
            "relative to their folder: re-run `a2d teacher --run RUN --out FILE`"
        )
    if Path(agent).name != "agent.pt":
        raise TeacherFileError(f"teacher file {path}: its 'agent' entry must name an agent.pt")
    digest = record.get("agent_sha256")
    if digest is None:
        raise TeacherFileError(
            f"teacher file {path} records no agent_sha256 (written by an older a2d): "
            "re-run `a2d teacher --run RUN --out FILE` (the workflow's teacher rule does)"
        )
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise TeacherFileError(f"teacher file {path}: agent_sha256 is not a SHA-256 hex digest")
    return record


def teacher_source(teacher: str | Path) -> tuple[Path, Digest | None]:
    """The agent.pt of a teacher given as a run directory, its agent.pt, or a teacher file, with
    the SHA-256 it must have (None unless a teacher file records it)."""
    p = Path(teacher)
    digest = None
    if p.is_dir():
        p = p / "agent.pt"
    elif p.suffix == ".json":
        record = read_teacher(p)
        digest = Digest(record["agent_sha256"], "teacher agent", f"the teacher file {teacher}")
        p = p.parent / record["agent"]
    if not p.is_file():
        raise TeacherFileError(
            f"teacher not found: {p} (give a run directory, its agent.pt or teachers/<game>.json)"
        )
    return p, digest


def teacher_agent_path(teacher: str | Path) -> Path:
    """The agent.pt of a teacher given as a run directory, its agent.pt, or a teacher file (its
    'agent' entry, resolved against the file's folder)."""
    return teacher_source(teacher)[0]


def load_teacher(teacher: str | Path, game: str, device: str) -> torch.nn.Module:
    """The teacher's agent (see ``teacher_source``), refused unless its digest matches the
    teacher file's and it was trained on ``game``."""
    from a2d.envs import canonical
    from a2d.models.agent_file import load_agent

    path, digest = teacher_source(teacher)
    agent, ckpt = load_agent(path, device, digest)
    game = canonical(game)
    if ckpt["game"] != game:
        raise TeacherGameError(
            f"teacher was trained on {ckpt['game']}, not {game}; a teacher must match the game"
        )
    return agent
