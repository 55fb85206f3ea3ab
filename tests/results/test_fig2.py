"""a2d.results.fig2 on synthetic search curves."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest

from a2d.results import fig2
from a2d.results.curves import method_label, read_curve

GAMES = ["Breakout", "Pong"]
METHODS = ["vanilla_dnas", "a2d_one_level", "a2d_bi_level"]
SEEDS = [1, 2]
FIELDS = [
    "step",
    "test_mean",
    "test_std",
    "temperature",
    "expected_macs",
    "lambda_f",
    "argmax_macs",
    "alpha_entropy",
    "phase",
]


def write_search_curve(path, steps=(0, 128, 256, 384, 512), warmup_until=128, offset=0.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for step in steps:
            warm = step <= warmup_until
            w.writerow(
                {
                    "step": step,
                    "test_mean": step / 64 + offset,
                    "test_std": 0.5,
                    "temperature": math.nan if warm else 5.0 - step / 256,
                    "expected_macs": 9e6,
                    "lambda_f": 0.1,
                    "argmax_macs": 8e6,
                    "alpha_entropy": 2.1,
                    "phase": "warmup" if warm else "search",
                }
            )


@pytest.fixture
def search(tmp_path):
    root = tmp_path / "search"
    for g in GAMES:
        for i, m in enumerate(METHODS):
            for s in SEEDS:
                write_search_curve(root / g / m / f"seed{s}" / "search_curve.csv", offset=i + s)
    return root


def _check_figures(pdf, png):
    assert pdf.stat().st_size > 1000 and pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(pdf.parent)) == sorted({pdf.name, png.name})  # no temp files left


def test_plot_writes_pdf_and_png(search, tmp_path):
    pdf, png = tmp_path / "fig" / "fig2.pdf", tmp_path / "fig" / "fig2.png"
    fig2.plot(search, GAMES, METHODS, SEEDS, pdf, png)
    _check_figures(pdf, png)


def test_main_single_seed(search, tmp_path):
    pdf, png = tmp_path / "out" / "f.pdf", tmp_path / "out" / "f.png"
    fig2.main(
        ["--search", str(search), "--games", "Pong", "--methods", *METHODS, "--seeds", "1"]
        + ["--pdf", str(pdf), "--png", str(png)]
    )
    _check_figures(pdf, png)


def test_read_search_curve_keeps_phase_and_nan_temperature(search):
    c = read_curve(search / "Pong" / "a2d_one_level" / "seed1" / "search_curve.csv")
    assert c["phase"].tolist() == ["warmup", "warmup", "search", "search", "search"]
    assert np.isnan(c["temperature"][:2]).all() and c["temperature"][2] == pytest.approx(4.0)
    assert c["step"].dtype.kind == "f"


def test_warmup_span():
    phase = np.array(["warmup", "warmup", "search"])
    step = np.array([0.0, 10.0, 20.0])
    assert fig2.warmup_span({"step": step, "phase": phase}) == (0.0, 20.0)
    assert fig2.warmup_span({"step": step, "phase": np.array(["search"] * 3)}) is None
    assert fig2.warmup_span({"step": step, "phase": np.array(["warmup"] * 3)}) == (0.0, 20.0)
    assert fig2.warmup_span({"step": step}) is None


def test_method_labels():
    assert [method_label(m) for m in METHODS + ["a2d_actor_only", "a2d_critic_only", "x_y"]] == [
        "Vanilla-DNAS",
        "A2D-One-level",
        "A2D-Bi-level",
        "A2D-actor-only",
        "A2D-critic-only",
        "x_y",
    ]


def test_missing_curve_fails_without_outputs(search, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="a2d_actor_only"):
        fig2.plot(search, GAMES, ["a2d_actor_only"], SEEDS, out / "f.pdf", out / "f.png")
    assert not out.exists()
