"""Fault injection for the tests that kill real runs (issue 7). Inert unless its variables are set.

``A2D_TEST_KILL_AT="point:n[,point:n...]"``: the process SIGKILLs itself the n-th time it reaches
``point`` (counted from process start). Points: ``rollout`` (every rollout step), ``update`` (after
every optimiser step), ``eval`` (every policy call of a test evaluation), ``ckpt_write`` (a resume
checkpoint is fully written to its temporary file, not yet renamed), ``ckpt_rotate`` (the previous
checkpoint has been renamed to ``ckpt.prev.pt``, the new one not yet into place), ``ckpt_done``
(just after a checkpoint is in place), ``final`` (between the final outputs and eval.json).

``A2D_TEST_NAN_AT="term:iteration[:once]"``: the loss term ``term`` of PPO iteration ``iteration``
becomes NaN (``once``: only the first time in this process, a transient fault that a retry clears).
"""

from __future__ import annotations

import functools
import os
import signal
from collections import Counter

KILL_VAR = "A2D_TEST_KILL_AT"
NAN_VAR = "A2D_TEST_NAN_AT"

_counts: Counter[str] = Counter()
_nan_fired: set[tuple[str, int]] = set()


@functools.cache
def _kill_plan(spec: str) -> dict[str, int]:
    plan = {}
    for item in spec.split(","):
        name, _, n = item.strip().partition(":")
        plan[name] = int(n or 1)
    return plan


def point(name: str) -> None:
    """A named place where a test may kill this process (no-op unless A2D_TEST_KILL_AT is set)."""
    spec = os.environ.get(KILL_VAR)
    if not spec:
        return
    plan = _kill_plan(spec)
    if name in plan:
        _counts[name] += 1
        if _counts[name] == plan[name]:
            os.kill(os.getpid(), signal.SIGKILL)


def nan_now(term: str, iteration: int) -> bool:
    """Whether the test asks for loss term ``term`` to be NaN at PPO iteration ``iteration``."""
    spec = os.environ.get(NAN_VAR)
    if not spec:
        return False
    parts = spec.split(":")
    if parts[0] != term or int(parts[1]) != iteration:
        return False
    if len(parts) > 2 and parts[2] == "once":
        if (term, iteration) in _nan_fired:
            return False
        _nan_fired.add((term, iteration))
    return True
