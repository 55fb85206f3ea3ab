"""The evidence preset (presets/evidence.yaml): its DAG holds every rule of the paper DAG and the
distillation controls for its games and seeds, counted from the config; rule evidence_docs
depends on all of it."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from test_workflow import (
    KNOWN_RULES,
    check_counts,
    dry_run,
    expected_jobs,
    job_stats,
    listed_files,
)

from a2d.config import deep_merge
from a2d.envs import canonical
from a2d.paths import ResultsTree, kd, nokd

#: rules of the paper DAG the evidence preset need not run: the equal-budget control is off there
OPTIONAL = {"train_budget"}


@pytest.fixture(scope="module")
def evidence(repo, venv_bin, venv_env, tmp_path_factory):
    """(merged config, results root, stdout of the default target's dry run)."""
    tmp = tmp_path_factory.mktemp("evidence")
    preset = repo / "presets" / "evidence.yaml"
    p = dry_run(repo, venv_bin, venv_env, tmp, configfiles=[preset])
    assert p.returncode == 0, p.stderr[-3000:]
    base = yaml.safe_load((repo / "config.yaml").read_text())
    cfg = deep_merge(base, yaml.safe_load(preset.read_text()))
    return cfg, tmp / "results", p.stdout


def test_evidence_preset_runs_every_rule_of_the_paper_dag(evidence):
    cfg, _, stdout = evidence
    stats = job_stats(stdout)
    check_counts(stats, cfg)  # every rule's jobs as the config asks, counted from it
    missing = [r for r in KNOWN_RULES if r not in OPTIONAL and stats.get(r, 0) == 0]
    assert missing == []
    # the scale the preset promises: 2+ games, 3 seeds, vanilla DNAS beside A2D (searched,
    # derived, retrained, in Fig 2), both KD controls, 100k-step (Atari 100k) training runs,
    # into results/evidence
    assert len(cfg["games"]) >= 2 and cfg["seeds"] == [1, 2, 3]
    pair = {"vanilla_dnas", cfg["search"]["main_method"]}
    assert pair <= set(cfg["search"]["methods"]) and pair <= set(cfg["search"]["fig2_methods"])
    assert cfg["controls"]["kd_baselines"] and cfg["controls"]["scratch_retrain"]
    assert cfg["ppo"]["total_steps"] == 100_000 and cfg["results"] == "results/evidence"


def test_evidence_preset_has_the_kd_controls_for_its_games_and_seeds(evidence):
    cfg, results, stdout = evidence
    tree, listed = ResultsTree(results), listed_files(stdout)
    games = [canonical(g) for g in cfg["games"]]
    main = cfg["search"]["main_method"]
    for g in games:
        for s in cfg["seeds"]:
            for b in cfg["baselines"]:  # every baseline distilled from the teacher
                assert tree.run_file(g, kd(b), s, "eval.json") in listed, (g, b, s)
            # the main method's derived net retrained without the teacher
            assert tree.run_file(g, nokd(main), s, "eval.json") in listed, (g, s)
    jobs = expected_jobs(cfg)
    assert len(jobs["train_kd"]) == len(games) * len(cfg["baselines"]) * len(cfg["seeds"])
    fig = [canonical(g) for g in cfg["figure_games"]]
    others = set(cfg["search"]["ablation_methods"]) - {main}
    n_nokd = (len(games) + len(fig) * len(others)) * len(cfg["seeds"])
    assert len(jobs["retrain_nokd"]) == n_nokd


def test_evidence_docs_target_needs_the_whole_dag(repo, venv_bin, venv_env, tmp_path, evidence):
    """`snakemake evidence_docs`: every job of the default target (less rule all) and itself."""
    cfg = evidence[0]
    preset = repo / "presets" / "evidence.yaml"
    cmd = [str(venv_bin / "snakemake"), "-n", "--cores", "1", "evidence_docs"]
    cmd += ["--configfile", str(preset), "--config", f"results={tmp_path / 'results'}"]
    p = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=venv_env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    stats = job_stats(p.stdout)
    expected = {r: len(j) for r, j in expected_jobs(cfg).items() if r != "all" and j}
    assert {r: n for r, n in stats.items() if r not in ("total", "evidence_docs")} == expected
    assert stats["evidence_docs"] == 1
    assert str(ResultsTree(tmp_path / "results").evidence_record) in listed_files(p.stdout)


def test_gpu_day_overlay_runs_every_rule_on_two_learning_figure_games(
    repo, venv_bin, venv_env, tmp_path
):
    """presets/evidence-gpu-day.yaml on the evidence preset: every rule of the paper DAG as its
    config asks, two figure games (claim (a) testable), each one of the 2-core preset's games
    (the ones measured to learn within 100k steps), and a sweep of more than one size."""
    presets = [repo / "presets" / "evidence.yaml", repo / "presets" / "evidence-gpu-day.yaml"]
    p = dry_run(repo, venv_bin, venv_env, tmp_path, configfiles=presets)
    assert p.returncode == 0, p.stderr[-3000:]
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    for f in presets:
        cfg = deep_merge(cfg, yaml.safe_load(f.read_text()))
    stats = job_stats(p.stdout)
    check_counts(stats, cfg)
    assert [r for r in KNOWN_RULES if r not in OPTIONAL and stats.get(r, 0) == 0] == []
    learn_by_100k = yaml.safe_load(presets[0].read_text())["games"]
    assert len(cfg["figure_games"]) >= 2 and set(cfg["figure_games"]) <= set(learn_by_100k)
    assert len(cfg["sweep"]["archs"]) >= 2 and len(cfg["seeds"]) >= 3
