"""Fault injection for the tests that kill real runs. Inert unless its variables are set.

``A2D_TEST_KILL_AT="point:n[,point:n...]"``: the process SIGKILLs itself the n-th time it reaches
``point`` (counted from process start). Points: ``rollout`` (every rollout step), ``update`` (after
every optimiser step), ``eval`` (every policy call of a test evaluation), ``ckpt_write`` (a resume
checkpoint is fully written to its temporary file, not yet renamed), ``ckpt_rotate`` (the previous
checkpoint has been renamed to ``ckpt.prev.pt``, the new one not yet into place), ``ckpt_done``
(just after a checkpoint is in place), ``final`` (between the final outputs and eval.json).

``A2D_TEST_NAN_AT="term:iteration[:once]"``: the loss term ``term`` of PPO iteration ``iteration``
becomes NaN (``once``: only the first time in this process, a transient fault that a retry clears).

The variables are read once, at import and again by ``load_plan()`` when a training run starts;
without a plan ``point()`` and ``nan_now()`` return at once (they sit on the training hot path).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

KILL_VAR = "A2D_TEST_KILL_AT"
NAN_VAR = "A2D_TEST_NAN_AT"

_counts: Counter[str] = Counter()
_nan_fired: set[tuple[str, int]] = set()
#: point -> the visit that kills (empty: no kill plan)
_kill: dict[str, int] = {}
#: (term, iteration, once) of the NaN plan, or None
_nan: tuple[str, int, bool] | None = None


def _parse_kill(spec: str) -> dict[str, int]:
    plan = {}
    for item in spec.split(","):
        name, _, n = item.strip().partition(":")
        plan[name] = int(n or 1)
    return plan


def _parse_nan(spec: str) -> tuple[str, int, bool]:
    parts = spec.split(":")
    return parts[0], int(parts[1]), len(parts) > 2 and parts[2] == "once"


def load_plan() -> None:
    """(Re)read the fault plan from the environment (visit counts carry on from process start)."""
    global _kill, _nan
    _kill = _parse_kill(os.environ[KILL_VAR]) if os.environ.get(KILL_VAR) else {}
    _nan = _parse_nan(os.environ[NAN_VAR]) if os.environ.get(NAN_VAR) else None


def point(name: str) -> None:
    """A named place where a test may kill this process (no-op without a kill plan)."""
    if not _kill or name not in _kill:
        return
    _counts[name] += 1
    if _counts[name] == _kill[name]:
        os.kill(os.getpid(), signal.SIGKILL)


def nan_now(term: str, iteration: int) -> bool:
    """Whether the test asks for loss term ``term`` to be NaN at PPO iteration ``iteration``."""
    if _nan is None or _nan[0] != term or _nan[1] != iteration:
        return False
    if _nan[2]:
        if (term, iteration) in _nan_fired:
            return False
        _nan_fired.add((term, iteration))
    return True


load_plan()
