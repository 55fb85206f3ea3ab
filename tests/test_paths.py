"""a2d.paths: the results tree's layout (docs/pipeline.md, "Results tree"), for the workflow and the tools."""

from __future__ import annotations

from pathlib import Path

from a2d import paths
from a2d.paths import ResultsTree


def test_layout_of_a_results_tree():
    t = ResultsTree("results/smoke")
    assert t.run_dir("Breakout", "vanilla", 2) == "results/smoke/runs/Breakout/vanilla/seed2"
    assert (
        t.run_file("Pong", "resnet8", 1, "curve.csv")
        == "results/smoke/runs/Pong/resnet8/seed1/curve.csv"
    )
    assert (
        t.search_dir("Pong", "a2d_one_level", 3) == "results/smoke/search/Pong/a2d_one_level/seed3"
    )
    assert (
        t.search_file("Pong", "vanilla_dnas", 1, "search_curve.csv")
        == "results/smoke/search/Pong/vanilla_dnas/seed1/search_curve.csv"
    )
    assert (
        t.derived_arch("Pong", "a2d_bi_level", 2)
        == "results/smoke/derived/Pong/a2d_bi_level/seed2/arch.json"
    )
    assert (
        t.export_file("Pong", paths.searched("a2d_one_level"), 1, "agent.onnx.json")
        == "results/smoke/export/Pong/searched_a2d_one_level/seed1/agent.onnx.json"
    )
    assert t.teacher_json("Pong") == "results/smoke/teachers/Pong.json"
    assert t.random_json("Pong") == "results/smoke/random/Pong.json"
    assert t.video("Pong", "html") == "results/smoke/videos/Pong.html"
    assert t.figure("fig1", "pdf") == "results/smoke/figures/fig1.pdf"
    assert t.table("table4", "tex") == "results/smoke/tables/table4.tex"
    assert t.table_prefix("table4") == "results/smoke/tables/table4"
    assert t.config_yaml == "results/smoke/config.yaml"
    assert t.log("train", paths.job_key("Pong", "vanilla", 1)) == (
        "results/smoke/logs/train/Pong/vanilla/seed1.log"
    )
    assert t.log("teacher", "Pong") == "results/smoke/logs/teacher/Pong.log"
    assert t.log("config_used") == "results/smoke/logs/config_used.log"
    assert t.benchmark("tables", "table2") == "results/smoke/benchmarks/tables/table2.tsv"


def test_wildcards_pass_through_as_snakemake_patterns():
    t = ResultsTree("/abs/results")
    assert t.run_file("{game}", "{arch}", "{seed}", "eval.json") == (
        "/abs/results/runs/{game}/{arch}/seed{seed}/eval.json"
    )
    assert t.run_dir("{game}", paths.searched("{method}"), "{seed}") == (
        "/abs/results/runs/{game}/searched_{method}/seed{seed}"
    )
    assert t.benchmark("search", paths.job_key("{game}", "{method}", "{seed}")) == (
        "/abs/results/benchmarks/search/{game}/{method}/seed{seed}.tsv"
    )


def test_subtree_functions_agree_with_the_tree():
    """The tools take a subtree's root (--runs, --search, --random, --exports); the workflow
    passes the tree's: both name the same files."""
    t = ResultsTree(Path("out"))
    assert paths.run_dir(t.runs, "Pong", "vanilla", 1) == t.run_dir("Pong", "vanilla", 1)
    assert paths.search_dir(t.search, "Pong", "m", 1) == t.search_dir("Pong", "m", 1)
    assert paths.run_dir(t.export, "Pong", "a", 1) == t.export_dir("Pong", "a", 1)
    assert paths.game_json(t.random, "Pong") == t.random_json("Pong")
    assert paths.game_json(t.teachers, "Pong") == t.teacher_json("Pong")
    # a root given as a Path works the same as a string
    assert paths.run_dir(Path("out/runs"), "Pong", "vanilla", 1) == "out/runs/Pong/vanilla/seed1"


def test_control_run_names():
    """The control runs' names (controls: in the config) and the arch each one trains."""
    assert paths.kd("resnet14") == "resnet14_kd"
    assert paths.nokd("a2d_one_level") == "searched_a2d_one_level_nokd"
    assert paths.equal_budget("vanilla") == "vanilla_eq"
    assert paths.kd(paths.equal_budget("resnet20")) == "resnet20_eq_kd"
    assert paths.manual_arch("resnet20_eq_kd") == "resnet20"
    assert paths.manual_arch("vanilla_kd") == "vanilla"
    assert paths.manual_arch("resnet8_eq") == "resnet8"
    assert paths.manual_arch("resnet8") == "resnet8"
    t = ResultsTree("r")
    assert t.run_dir("Pong", paths.kd("{arch}"), "{seed}") == "r/runs/Pong/{arch}_kd/seed{seed}"
