"""Reading results files (curve.csv, eval.json, model.json) and aggregating across seeds."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np


def read_curve(path: str | Path) -> dict[str, np.ndarray]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: empty curve")
    return {
        k: np.array([float(r[k]) if r[k] not in ("", "nan") else math.nan for r in rows])
        for k in rows[0]
    }


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def run_dir(runs_root: str | Path, game: str, arch: str, seed: int) -> Path:
    return Path(runs_root) / game / arch / f"seed{seed}"


def across_seeds(curves: list[dict[str, np.ndarray]], key: str = "test_mean"):
    """Align curves on the steps they share; return steps, mean, lower, upper across seeds.

    With one seed the band is ± the test-episode std of that seed (stated in the caption)."""
    steps = sorted(set.intersection(*(set(c["step"].tolist()) for c in curves)))
    steps = np.array(steps)
    ys = np.stack([np.interp(steps, c["step"], c[key]) for c in curves])
    mean = ys.mean(0)
    if len(curves) > 1:
        sd = ys.std(0, ddof=1)
    else:
        sd = np.interp(steps, curves[0]["step"], curves[0]["test_std"])
    return steps, mean, mean - sd, mean + sd
