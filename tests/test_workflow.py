"""The Snakemake workflow: dry-run jobs and files derived from the config, and config errors."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from a2d.config import deep_merge
from a2d.envs import canonical
from a2d.paths import ResultsTree, job_key, searched

KNOWN_RULES = (
    "train",
    "teacher",
    "random_policy",
    "search",
    "derive",
    "retrain",
    "fig1",
    "fig2",
    "table2",
    "table3",
    "table4",
    "table1",
    "fig3",
    "aggregate",
    "config_used",
    "export",
    "play",
    "all",
)


def dry_run(repo, venv_bin, venv_env, tmp_path, *overlays: dict, configfiles=()):
    """``snakemake -n`` from the repository root, results under tmp_path (nothing exists yet)."""
    files = [str(f) for f in configfiles]
    for i, over in enumerate(overlays):
        p = tmp_path / f"overlay{i}.yaml"
        p.write_text(yaml.safe_dump(over))
        files.append(str(p))
    cmd = [str(venv_bin / "snakemake"), "-n", "--cores", "1"]
    if files:
        cmd += ["--configfile", *files]
    cmd += ["--config", f"results={tmp_path / 'results'}"]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=venv_env, timeout=300)


def job_stats(stdout: str) -> dict[str, int]:
    """The first 'Job stats' table of a dry run: {rule: count}, with 'total'."""
    lines = stdout[stdout.index("Job stats:") :].splitlines()[1:]
    stats: dict[str, int] = {}
    for line in lines:
        m = re.match(r"^(\S+)\s+(\d+)\s*$", line)
        if m:
            stats[m.group(1)] = int(m.group(2))
            if m.group(1) == "total":
                break
        elif stats:  # the table ended without a total line
            break
    assert "total" in stats, stdout
    return stats


def expected_jobs(cfg: dict) -> dict[str, set]:
    """The jobs the DAG must hold per rule, computed from the config alone: (game, arch or
    method, seed) for the per-run rules, games for the per-game ones, {None} for the others."""
    games = [canonical(g) for g in cfg["games"]]
    fig_games = [canonical(g) for g in cfg["figure_games"]]
    archs, seeds = cfg["sweep"]["archs"], cfg["seeds"]
    t_arch, t_seed = cfg["teacher"]["arch"], cfg["teacher"]["seed"]
    sweep = {(g, a, s) for g in fig_games for a in archs for s in seeds}
    search = cfg.get("search", {})
    registry = {**cfg.get("methods", {})}
    methods = search.get("methods", list(registry))
    fig2 = search.get("fig2_methods", ["vanilla_dnas", "a2d_one_level", "a2d_bi_level"])
    ablation = search.get(
        "ablation_methods", ["vanilla_dnas", "a2d_actor_only", "a2d_critic_only", "a2d_one_level"]
    )
    main = search.get("main_method", "a2d_one_level")
    searches = {(g, m, s) for g in fig_games for m in methods for s in seeds}
    searches |= {(g, main, s) for g in games for s in seeds}
    retrains = {(g, m, s) for g in fig_games for m in set(fig2) | set(ablation) for s in seeds}
    retrains |= {(g, main, s) for g in games for s in seeds}  # Fig 3, Table 1, aggregate
    baselines = cfg.get("baselines", ["vanilla", "resnet14", "resnet20"])
    baseline_runs = {(g, a, s) for g in games for a in baselines for s in seeds}

    def distils(m):
        return registry[m]["actor"] > 0 or registry[m]["critic"] > 0

    # a game needs a teacher for table/figure listing (all games), for distilling searches
    # and for every retrain (retraining distils from the teacher)
    teacher_games = (
        set(games) | {g for g, m, _ in searches if distils(m)} | {g for g, _, _ in retrains}
    )
    teachers = {(g, t_arch, t_seed) for g in teacher_games}
    once = {None}
    return {
        "train": sweep | teachers | baseline_runs,
        "teacher": teacher_games,
        "random_policy": set(games) | set(fig_games),
        "search": searches,
        "derive": retrains,
        "retrain": retrains,
        "fig1": once,
        "fig2": once,
        "table2": once,
        "table3": once,
        "table4": once,
        "table1": once,
        "fig3": once,
        "aggregate": once,
        "config_used": once,
        # the main method's retrained nets: Table 4 latency
        "export": {(g, searched(main), s) for g in games for s in seeds},
        "play": set(games),  # one gameplay video per game for the report
        "all": once,
    }


def expected_counts(cfg: dict) -> dict[str, int]:
    return {rule: len(jobs) for rule, jobs in expected_jobs(cfg).items()}


RUN_FILES = ("eval.json", "curve.csv", "model.json", "agent.pt")
SEARCH_FILES = ("search_curve.csv", "alpha.csv", "supernet.pt", "arch.json", "eval.json")


def expected_files(cfg: dict, tree: ResultsTree) -> set[str]:
    """Every output, log and benchmark of the DAG, named by a2d.paths from the config alone."""
    jobs = expected_jobs(cfg)
    files = set()

    def job(stage, key, outputs):
        files.update(outputs)
        files.update({tree.log(stage, *key), tree.benchmark(stage, *key)})

    for g, a, s in jobs["train"]:
        job("train", [job_key(g, a, s)], [tree.run_file(g, a, s, f) for f in RUN_FILES])
    for g in jobs["teacher"]:
        job("teacher", [g], [tree.teacher_json(g)])
    for g in jobs["random_policy"]:
        job("random", [g], [tree.random_json(g)])
    for g, m, s in jobs["search"]:
        job("search", [job_key(g, m, s)], [tree.search_file(g, m, s, f) for f in SEARCH_FILES])
    for g, m, s in jobs["derive"]:
        job("derive", [job_key(g, m, s)], [tree.derived_arch(g, m, s)])
    for g, m, s in jobs["retrain"]:
        outputs = [tree.run_file(g, searched(m), s, f) for f in RUN_FILES]
        job("retrain", [job_key(g, m, s)], outputs)
    for g, a, s in jobs["export"]:
        outputs = [tree.export_file(g, a, s, f) for f in ("agent.onnx", "agent.onnx.json")]
        job("export", [job_key(g, a, s)], outputs)
    for g in jobs["play"]:
        job("play", [g], [tree.video(g, ext) for ext in ("mp4", "json", "html")])
    for f in ("fig1", "fig2", "fig3"):
        job("figures", [f], [tree.figure(f, ext) for ext in ("pdf", "png")])
    for t in ("table1", "table2", "table3", "table4"):
        job("tables", [t], [tree.table(t, ext) for ext in ("md", "tex", "csv")])
    outputs = [tree.figure("aggregate", ext) for ext in ("pdf", "png")]
    job(
        "figures",
        ["aggregate"],
        outputs + [tree.table("aggregate", e) for e in ("md", "tex", "csv")],
    )
    job("config_used", [], [tree.config_yaml])
    return files


def listed_files(stdout: str) -> set[str]:
    """The outputs, logs and benchmarks of every job a dry run lists."""
    files = set()
    for m in re.finditer(r"^\s+(output|log|benchmark): (.*)$", stdout, re.M):
        files.update(m.group(2).split(", "))
    return files


def check_counts(stats: dict[str, int], cfg: dict) -> None:
    exp = expected_counts(cfg)
    assert {r: stats.get(r, 0) for r in KNOWN_RULES} == exp
    assert stats["total"] == sum(v for k, v in stats.items() if k != "total")


@pytest.fixture(scope="module")
def base_cfg(repo):
    return yaml.safe_load((repo / "config.yaml").read_text())


@pytest.fixture(scope="module")
def default_stats(repo, venv_bin, venv_env, tmp_path_factory):
    p = dry_run(repo, venv_bin, venv_env, tmp_path_factory.mktemp("dry"))
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-3000:]
    return job_stats(p.stdout)


def test_default_config_dry_run_counts(default_stats, base_cfg):
    check_counts(default_stats, base_cfg)
    # spelled out for the shipped config.yaml: 4 figure games x 5 archs x 3 seeds, plus the
    # resnet20 seed-1 teachers of the 8 games outside the figures
    sweep = base_cfg["sweep"]["archs"]
    n_sweep = len(base_cfg["figure_games"]) * len(sweep) * len(base_cfg["seeds"])
    assert default_stats["train"] >= n_sweep
    assert default_stats["teacher"] == len(base_cfg["games"])


@pytest.mark.parametrize(
    "overlay",
    [
        {"figure_games": ["Breakout", "Seaquest"], "seeds": [1]},  # a figure game outside games
        {"teacher": {"arch": "vanilla", "seed": 2}},  # teachers of figure games are sweep runs
        {"games": ["breakout", "ms_pacman"], "figure_games": ["ALE/Breakout-v5"]},  # any spelling
    ],
)
def test_overlay_dry_run_counts(repo, venv_bin, venv_env, tmp_path, base_cfg, overlay):
    p = dry_run(repo, venv_bin, venv_env, tmp_path, overlay)
    assert p.returncode == 0, p.stderr[-3000:]
    check_counts(job_stats(p.stdout), deep_merge(base_cfg, overlay))


@pytest.fixture(scope="module")
def smoke_dry_run(repo, venv_bin, venv_env, tmp_path_factory, base_cfg):
    """(stdout, merged config, results root) of a dry run of the smoke preset."""
    tmp = tmp_path_factory.mktemp("smoke")
    preset = repo / "presets" / "smoke.yaml"
    p = dry_run(repo, venv_bin, venv_env, tmp, configfiles=[preset])
    assert p.returncode == 0, p.stderr[-3000:]
    cfg = deep_merge(base_cfg, yaml.safe_load(preset.read_text()))
    return p.stdout, cfg, tmp / "results"


def test_smoke_preset_dry_run_counts(smoke_dry_run):
    stdout, cfg, _ = smoke_dry_run
    stats = job_stats(stdout)
    check_counts(stats, cfg)
    assert stats["train"] == 4  # Breakout x {vanilla, resnet8} x seeds {1, 2}; teacher among them


def test_smoke_preset_files_are_the_results_tree_layout(smoke_dry_run):
    """Every file the workflow declares is where a2d.paths (which the figure and table tools
    read through) says, and every file of the layout is declared by some job."""
    stdout, cfg, results = smoke_dry_run
    listed = listed_files(stdout)
    expected = expected_files(cfg, ResultsTree(results))
    assert listed - expected == set()
    assert expected - listed == set()
    assert len(listed) == 245  # 49 jobs (48 less rule all): their outputs, logs and benchmarks


def test_rules_take_paths_from_the_path_layer(repo):
    """No rule spells a results path itself or climbs a path to find a root."""
    for f in [repo / "Snakefile", *sorted((repo / "workflow" / "rules").glob("*.smk"))]:
        text = f.read_text()
        for bad in ("{RESULTS}/", "os.path.dirname", "_root("):
            assert bad not in text, (f.name, bad)


def test_adding_a_game_adds_exactly_its_jobs(
    repo, venv_bin, venv_env, tmp_path, base_cfg, default_stats
):
    assert "Seaquest" not in base_cfg["games"] + base_cfg["figure_games"]
    p = dry_run(repo, venv_bin, venv_env, tmp_path, {"games": base_cfg["games"] + ["Seaquest"]})
    assert p.returncode == 0, p.stderr[-3000:]
    stats = job_stats(p.stdout)
    diff = {k: stats.get(k, 0) - default_stats.get(k, 0) for k in set(stats) | set(default_stats)}
    n_seeds = len(base_cfg["seeds"])
    n_base = len(base_cfg["baselines"])
    expected = {k: 0 for k in diff}
    # its baseline runs (the teacher run is one of them: resnet20 seed 1) + teacher record +
    # random score + video, and the main method's search, derivation, retraining and export
    # per seed
    assert base_cfg["teacher"]["arch"] in base_cfg["baselines"]
    expected.update(
        {
            "teacher": 1,
            "random_policy": 1,
            "train": n_base * n_seeds,
            "search": n_seeds,
            "derive": n_seeds,
            "retrain": n_seeds,
            "export": n_seeds,
            "play": 1,
        }
    )
    expected["total"] = 3 + n_base * n_seeds + 4 * n_seeds
    assert diff == expected


def test_full_config_job_counts_spelled_out(default_stats, base_cfg):
    """config.yaml: 12 games x 3 seeds; the numbers a reader can check by hand."""
    g, f, s = len(base_cfg["games"]), len(base_cfg["figure_games"]), len(base_cfg["seeds"])
    sweep, base = base_cfg["sweep"]["archs"], base_cfg["baselines"]
    shared = len(set(sweep) & set(base))  # baseline runs on figure games are sweep runs
    methods = base_cfg["search"]["methods"]
    retrained = set(base_cfg["search"]["fig2_methods"]) | set(
        base_cfg["search"]["ablation_methods"]
    )
    assert default_stats["train"] == f * len(sweep) * s + (g * len(base) - f * shared) * s
    assert default_stats["search"] == f * len(methods) * s + (g - f) * s
    assert default_stats["retrain"] == f * len(retrained) * s + (g - f) * s
    assert default_stats["derive"] == default_stats["retrain"]
    assert default_stats["export"] == g * s and default_stats["play"] == g
    assert (g, f, s) == (12, 4, 3) and default_stats["total"] == 466


def test_unknown_game_fails_dry_run(repo, venv_bin, venv_env, tmp_path):
    p = dry_run(repo, venv_bin, venv_env, tmp_path, {"games": ["NotAGame"]})
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "unknown game" in out and "NotAGame" in out
    assert "Job stats" not in out


def test_unknown_config_key_fails_dry_run(repo, venv_bin, venv_env, tmp_path):
    p = dry_run(repo, venv_bin, venv_env, tmp_path, {"ppo": {"learning_rat": 0.1}})
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "unknown config key" in out and "learning_rat" in out


def test_unknown_arch_fails_dry_run(repo, venv_bin, venv_env, tmp_path):
    p = dry_run(repo, venv_bin, venv_env, tmp_path, {"sweep": {"archs": ["vanilla", "resnet9"]}})
    assert p.returncode != 0
    assert "6n+2" in p.stdout + p.stderr


def test_results_path_with_a_space_and_shell_syntax_is_data(repo, venv_bin, venv_env, tmp_path):
    """`results:` reaches every shell command quoted: a space works and `$(...)` never runs."""
    marker = tmp_path / "ran"
    results = tmp_path / f"res dir/$(touch {marker})"
    targets = [str(results / "config.yaml"), str(results / "random" / "Breakout.json")]
    over = tmp_path / "over.yaml"
    over.write_text(yaml.safe_dump({"games": ["Breakout"], "eval": {"episodes": 1}}))
    cmd = [str(venv_bin / "snakemake"), *targets, "--cores", "2", "--configfile"]
    cmd += [str(repo / "presets" / "smoke.yaml"), str(over), "--config", f"results={results}"]
    p = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=venv_env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert not marker.exists()
    assert yaml.safe_load((results / "config.yaml").read_text())["results"] == str(results)
    assert (results / "random" / "Breakout.json").is_file()


def test_every_shell_command_quotes_its_files(repo):
    """{output}, {log} and {input} in a rule's shell command always carry `:q`."""
    for f in sorted((repo / "workflow" / "rules").glob("*.smk")):
        bare = re.findall(r"\{(?:output|log|input)(?:\.\w+)?\}", f.read_text())
        assert not bare, (f.name, bare)


#: The one lint the workflow does not follow: the rules have no per-rule conda environment or
#: container (they run in the environment Snakemake runs in; a conda environment that no test
#: can build here would be an untested claim).
SOFTWARE_ENV_LINT = "Specify a conda environment or container for each rule."


def test_snakemake_lint_is_clean_but_for_software_environments(repo, venv_bin, venv_env):
    p = subprocess.run(
        [str(venv_bin / "snakemake"), "--lint"],
        cwd=repo, capture_output=True, text=True, env=venv_env, timeout=300,
    )  # fmt: skip
    out = p.stdout + p.stderr
    lints = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("* ")]
    assert lints, out[-2000:]  # the lint ran (one software-env lint per rule)
    assert {ln[2:].rstrip(":") for ln in lints} == {SOFTWARE_ENV_LINT}, out[-3000:]
