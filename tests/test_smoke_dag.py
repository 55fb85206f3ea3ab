"""The whole DAG end to end on the smoke preset (slow: run with ``pytest -m slow``)."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
import yaml

from a2d.config import deep_merge
from a2d.envs import canonical

pytestmark = pytest.mark.slow

FIELDS = ["step", "test_mean", "test_std", "train_return"]


@pytest.mark.timeout(2400)
def test_smoke_dag(repo, venv_bin, venv_env, tmp_path):
    preset = repo / "presets" / "smoke.yaml"
    cfg = deep_merge(
        yaml.safe_load((repo / "config.yaml").read_text()), yaml.safe_load(preset.read_text())
    )
    results = tmp_path / "smoke"
    workdir = tmp_path / "work"  # Snakemake's .snakemake/ (metadata, locks) stays out of the repo
    workdir.mkdir()

    def snakemake(*extra: str, timeout: int) -> None:
        """Snakemake on the smoke preset, results under tmp_path, metadata in workdir."""
        p = subprocess.run(
            [
                str(venv_bin / "snakemake"),
                "--snakefile",
                str(repo / "Snakefile"),
                "--directory",
                str(workdir),
                "--configfile",
                str(repo / "config.yaml"),
                str(preset),
                "--config",
                f"results={results}",
                *extra,
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            env=venv_env,
            timeout=timeout,
        )
        assert p.returncode == 0, p.stderr[-5000:]

    snakemake("--cores", "2", timeout=2000)  # ~5 min on an idle 2-core machine before the controls

    figs = results / "figures"
    assert (figs / "fig1.pdf").read_bytes()[:5] == b"%PDF-"
    assert (figs / "fig1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    games = [canonical(g) for g in cfg["games"]]
    fig_games = [canonical(g) for g in cfg["figure_games"]]
    t_arch, t_seed = cfg["teacher"]["arch"], cfg["teacher"]["seed"]
    for g in games:
        teacher = json.loads((results / "teachers" / f"{g}.json").read_text())
        assert (teacher["game"], teacher["arch"], teacher["seed"]) == (g, t_arch, t_seed)
        assert teacher["agent"].endswith("agent.pt")
    for g in set(games) | set(fig_games):
        rnd = json.loads((results / "random" / f"{g}.json").read_text())
        assert rnd["policy"] == "random" and rnd["episodes"] == cfg["eval"]["episodes"]

    total = cfg["ppo"]["total_steps"]
    interval = cfg["eval"]["interval"]
    runs = {(g, a, s) for g in fig_games for a in cfg["sweep"]["archs"] for s in cfg["seeds"]}
    runs |= {(g, t_arch, t_seed) for g in games}
    for g, a, s in sorted(runs):
        d = results / "runs" / g / a / f"seed{s}"
        ev = json.loads((d / "eval.json").read_text())
        assert ev["episodes"] == cfg["eval"]["episodes"] == len(ev["scores"])
        assert (ev["game"], ev["arch"], ev["seed"], ev["steps"]) == (g, a, s, total)
        assert ev["frame_cap"] == cfg["eval"]["frame_cap"]
        model = json.loads((d / "model.json").read_text())
        assert model["arch"] == a and model["macs"] > 0 and model["params"] > 0
        with open(d / "curve.csv") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == FIELDS
            steps = [int(r["step"]) for r in reader]
        assert steps == list(range(0, total + 1, interval))
        with open(d / "timing.csv") as f:
            assert [int(r["step"]) for r in csv.DictReader(f)] == steps
        assert (d / "agent.pt").stat().st_size > 0
    # the resnet is costlier than the Nature CNN, as model.json says
    g = fig_games[0]
    macs = {
        a: json.loads((results / "runs" / g / a / "seed1" / "model.json").read_text())["macs"]
        for a in cfg["sweep"]["archs"]
    }
    assert macs["vanilla"] < macs["resnet8"]

    # the search stage: every search, its derivation and retraining, Fig 2 and Tables 2-4
    assert (figs / "fig2.pdf").read_bytes()[:5] == b"%PDF-"
    search = cfg["search"]
    for g in fig_games:
        for m in search["methods"]:
            for s in cfg["seeds"]:
                d = results / "search" / g / m / f"seed{s}"
                arch = json.loads((d / "arch.json").read_text())
                assert len(arch["ops"]) == 14 and arch["macs"] > 0
                with open(d / "search_curve.csv") as f:
                    phases = [r["phase"] for r in csv.DictReader(f)]
                assert phases[0] == "warmup" and phases[-1] == "search"
                assert (d / "supernet.pt").stat().st_size > 0 and not (d / "agent.pt").exists()
    for g in fig_games:
        for m in set(search["fig2_methods"]) | set(search["ablation_methods"]):
            for s in cfg["seeds"]:
                d = results / "runs" / g / f"searched_{m}" / f"seed{s}"
                ev = json.loads((d / "eval.json").read_text())
                derived = json.loads(
                    (results / "derived" / g / m / f"seed{s}" / "arch.json").read_text()
                )
                assert ev["macs"] == derived["macs"]
    # the control runs (the smoke preset switches all three on): each baseline at A2D's
    # pipeline's env steps ({arch}_eq: 1,024 + 768 + 1,024) and distilled ({arch}_eq_kd), the
    # main and ablation methods' derived nets retrained without the teacher
    assert cfg["controls"] == {"kd_baselines": True, "scratch_retrain": True, "equal_budget": True}
    for g in games:
        for a in cfg["baselines"]:
            for s in cfg["seeds"]:
                for run in (f"{a}_eq", f"{a}_eq_kd"):
                    ev = json.loads(
                        (results / "runs" / g / run / f"seed{s}" / "eval.json").read_text()
                    )
                    assert ev["steps"] == 2816 and ev["seed"] == s, (run, ev["steps"])
    scratch = {(g, search["main_method"]) for g in games}
    scratch |= {(g, m) for g in fig_games for m in search["ablation_methods"]}
    for g, m in sorted(scratch):
        for s in cfg["seeds"]:
            d = results / "runs" / g / f"searched_{m}_nokd" / f"seed{s}"
            ev = json.loads((d / "eval.json").read_text())
            derived = json.loads(
                (results / "derived" / g / m / f"seed{s}" / "arch.json").read_text()
            )
            assert ev["macs"] == derived["macs"] and ev["steps"] == total
    for t in ("table1", "table2", "table3", "table4", "aggregate"):
        rows = list(csv.reader(open(results / "tables" / f"{t}.csv")))
        assert len(rows) > 1
        md = (results / "tables" / f"{t}.md").read_text()
        tex = (results / "tables" / f"{t}.tex").read_text()
        assert rows[1][0] in md and rows[1][0] in tex
    # Fig 3 / Table 1 / aggregate: the baselines and the main method's retrained net per game
    for f in ("fig3", "aggregate"):
        assert (figs / f"{f}.pdf").read_bytes()[:5] == b"%PDF-"
    t1 = list(csv.reader(open(results / "tables" / "table1.csv")))
    assert [r[0] for r in t1[1:]] == games
    assert t1[0][-1].startswith("MACs saving vs")
    n_seeds = len(cfg["seeds"])
    scores = [c for h, c in zip(t1[0], t1[1]) if h.endswith(" score")]
    assert len(scores) == len(cfg["baselines"]) * 2 + 2  # each with its KD control; A2D, no-KD
    for cell in scores:  # mean [95 % interval] over seeds
        assert ("[" in cell) == (n_seeds > 1), cell
    # the claims table: a verdict per claim, never "supported" without several seeds
    claims = list(csv.reader(open(results / "tables" / "claims.csv")))
    col = {name: i for i, name in enumerate(claims[0])}
    verdicts = [r[col["verdict"]] for r in claims[1:] if r[col["level"]] == "claim"]
    assert len(verdicts) == 4 and set(verdicts) <= {"supported", "contradicted", "inconclusive"}
    for f in ("profile", "poi", "sample_efficiency"):
        assert (figs / f"{f}.png").stat().st_size > 0
    # deployment: ONNX exports (their latency in Table 4) and a gameplay video page per game
    t4 = list(csv.reader(open(results / "tables" / "table4.csv")))
    assert t4[0][-1] == "ONNX Runtime b1 (ms)" and all(float(r[-1]) > 0 for r in t4[1:])
    for g in games:
        for s in cfg["seeds"]:
            card = json.loads(
                (
                    results
                    / "export"
                    / g
                    / f"searched_{search['main_method']}"
                    / f"seed{s}"
                    / "agent.onnx.json"
                ).read_text()
            )
            assert card["parity"]["max_abs_err_logits"] <= 1e-4
        page = (results / "videos" / f"{g}.html").read_text()
        assert "data:video/mp4;base64," in page
        assert json.loads((results / "videos" / f"{g}.json").read_text())["episodes"] == 1
    used = yaml.safe_load((results / "config.yaml").read_text())
    assert used["seeds"] == cfg["seeds"] and used["results"] == str(results)

    # the self-contained HTML report: every figure and table, with captions, and the config
    report = tmp_path / "report.html"
    snakemake("--report", str(report), timeout=300)
    html = report.read_text()
    assert len(html) > 100_000  # figures embedded
    for name in (
        "fig1.pdf",
        "fig2.png",
        "fig3.png",
        "aggregate.png",
        "table1.csv",
        "config.yaml",
        f"{games[0]}.html",
    ):
        assert name in html, name
    for caption in ("Figure 1", "Figure 2", "Figure 3", "Table 1", "human-normalised"):
        assert caption in html, caption
