"""a2d.results.fig1 on synthetic results files."""

from __future__ import annotations

import csv
import json
import os

import pytest

from a2d.results import fig1

GAMES = ["Breakout", "Pong"]
ARCHS = {"vanilla": 9_345_536, "resnet8": 26_372_864}
SEEDS = [1, 2]
FIELDS = ["step", "test_mean", "test_std", "train_return", "sps", "wall_s"]


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for g in GAMES:
        for i, (arch, macs) in enumerate(ARCHS.items()):
            for s in SEEDS:
                d = root / g / arch / f"seed{s}"
                d.mkdir(parents=True)
                (d / "model.json").write_text(
                    json.dumps({"arch": arch, "macs": macs, "params": 1000})
                )
                with open(d / "curve.csv", "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=FIELDS)
                    w.writeheader()
                    for step in (0, 128, 256):
                        w.writerow(
                            {
                                "step": step,
                                "test_mean": step / 64 + i + s,
                                "test_std": 0.5,
                                "train_return": "nan",
                                "sps": 100,
                                "wall_s": step / 100,
                            }
                        )
    rnd = tmp_path / "random"
    rnd.mkdir()
    (rnd / "Breakout.json").write_text(json.dumps({"mean": 1.2}))
    return root, rnd


def _check_figures(pdf, png):
    assert pdf.stat().st_size > 1000 and pdf.read_bytes()[:5] == b"%PDF-"
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(pdf.parent)) == sorted({pdf.name, png.name})  # no temp files left


def test_plot_writes_pdf_and_png(runs, tmp_path):
    root, rnd = runs
    pdf, png = tmp_path / "fig" / "fig1.pdf", tmp_path / "fig" / "fig1.png"
    fig1.plot(root, GAMES, list(ARCHS), SEEDS, pdf, png, random_dir=rnd)
    _check_figures(pdf, png)


def test_main_single_game_single_seed(runs, tmp_path):
    root, _ = runs
    pdf, png = tmp_path / "out" / "f.pdf", tmp_path / "out" / "f.png"
    fig1.main(
        [
            "--runs",
            str(root),
            "--games",
            "Pong",
            "--archs",
            "vanilla",
            "--seeds",
            "1",
            "--pdf",
            str(pdf),
            "--png",
            str(png),
        ]
    )
    _check_figures(pdf, png)


def test_missing_run_fails(runs, tmp_path):
    root, _ = runs
    with pytest.raises(FileNotFoundError):
        fig1.plot(root, ["Breakout"], ["resnet20"], SEEDS, tmp_path / "f.pdf", tmp_path / "f.png")
    assert not (tmp_path / "f.pdf").exists()
