"""The Snakemake workflow: dry-run jobs and files derived from the config, and config errors."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from a2d.config import complete, deep_merge
from a2d.envs import canonical
from a2d.paths import ResultsTree, equal_budget, job_key, kd, manual_arch, nokd, searched

KNOWN_RULES = (
    "train",
    "train_budget",
    "train_kd",
    "teacher",
    "random_policy",
    "search",
    "derive",
    "retrain",
    "retrain_nokd",
    "fig1",
    "fig2",
    "table2",
    "table3",
    "table4",
    "table1",
    "fig3",
    "aggregate",
    "rliable",
    "claims",
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
    """The jobs the DAG must hold per rule, computed from the config alone: (game, run name or
    method, seed) for the per-run rules, games for the per-game ones, {None} for the others."""
    controls = complete(cfg)["controls"]  # the config's controls, defaults filled in
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
    eq = controls["equal_budget"]  # the baselines are runs {arch}_eq of their own
    names = [equal_budget(a) if eq else a for a in baselines]
    baseline_runs = {(g, b, s) for g in games for b in names for s in seeds}
    kd_runs = {(g, kd(b), s) for g in games for b in names for s in seeds}
    if not controls["kd_baselines"]:
        kd_runs = set()
    scratch = {(g, main, s) for g in games for s in seeds}
    scratch |= {(g, m, s) for g in fig_games for m in ablation for s in seeds}
    if not controls["scratch_retrain"]:
        scratch = set()

    def distils(m):
        return registry[m]["actor"] > 0 or registry[m]["critic"] > 0

    # a game needs a teacher for table/figure listing (all games), for distilling searches,
    # for every retrain (retraining distils from the teacher) and every KD control
    teacher_games = (
        set(games)
        | {g for g, m, _ in searches if distils(m)}
        | {g for g, _, _ in retrains}
        | {g for g, _, _ in kd_runs}
    )
    teachers = {(g, t_arch, t_seed) for g in teacher_games}
    once = {None}
    return {
        "train": sweep | teachers | (set() if eq else baseline_runs),
        "train_budget": baseline_runs if eq else set(),
        "train_kd": kd_runs,
        "teacher": teacher_games,
        "random_policy": set(games) | set(fig_games),
        "search": searches,
        "derive": retrains,
        "retrain": retrains,
        "retrain_nokd": scratch,
        "fig1": once,
        "fig2": once,
        "table2": once,
        "table3": once,
        "table4": once,
        "table1": once,
        "fig3": once,
        "aggregate": once,
        "rliable": once,
        "claims": once,
        "config_used": once,
        # the main method's retrained nets (Table 4 latency) and the manual nets (Table 1's
        # latency column)
        "export": {(g, searched(main), s) for g in games for s in seeds} | baseline_runs,
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
    for g, b, s in jobs["train_budget"]:  # logs keyed by the arch: {arch}_eq's is {arch}
        job(
            "train_budget",
            [job_key(g, b[: -len("_eq")], s)],
            [tree.run_file(g, b, s, f) for f in RUN_FILES],
        )
    for g, k, s in jobs["train_kd"]:  # ... {arch}_kd's is {arch} ({arch}_eq_kd's {arch}_eq)
        job(
            "train_kd",
            [job_key(g, k[: -len("_kd")], s)],
            [tree.run_file(g, k, s, f) for f in RUN_FILES],
        )
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
    for g, m, s in jobs["retrain_nokd"]:
        outputs = [tree.run_file(g, nokd(m), s, f) for f in RUN_FILES]
        job("retrain_nokd", [job_key(g, m, s)], outputs)
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
    job("figures", ["rliable"], [tree.figure(f, e) for f in RLIABLE for e in ("pdf", "png")])
    job("tables", ["claims"], [tree.table("claims", e) for e in ("md", "csv")])
    job("config_used", [], [tree.config_yaml])
    return files


#: the rliable rule's figures
RLIABLE = ("profile", "poi", "sample_efficiency")


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
    # the smoke preset runs every rule: all three controls are on there
    assert stats["train_budget"] == stats["train_kd"] == 4  # {vanilla, resnet8}_eq(_kd) x 2 seeds
    assert stats["retrain_nokd"] == 8  # 4 ablation methods (a2d_one_level the main) x 2 seeds
    assert stats["total"] == 71  # 65 + rliable, claims and the 4 manual-net exports (Table 1)


def test_quick_preset_dry_run_counts(repo, venv_bin, venv_env, tmp_path, base_cfg):
    preset = repo / "presets" / "quick.yaml"
    p = dry_run(repo, venv_bin, venv_env, tmp_path, configfiles=[preset])
    assert p.returncode == 0, p.stderr[-3000:]
    stats = job_stats(p.stdout)
    check_counts(stats, deep_merge(base_cfg, yaml.safe_load(preset.read_text())))
    # RoadRunner, seed 1: vanilla_kd and resnet8_kd; the a2d_one_level and vanilla_dnas nets
    # retrained without the teacher; no equal-budget runs
    assert (stats["train_kd"], stats["retrain_nokd"], stats.get("train_budget", 0)) == (2, 2, 0)
    assert stats["total"] == 33  # + rliable, claims and the 2 manual nets' exports


@pytest.mark.parametrize(
    "controls",
    [
        {"kd_baselines": False},
        {"scratch_retrain": False},
        {"equal_budget": True},
        {"kd_baselines": False, "scratch_retrain": False, "equal_budget": False},
    ],
)
def test_controls_switched_dry_run_counts(repo, venv_bin, venv_env, tmp_path, base_cfg, controls):
    """config.yaml with each control switched: the DAG holds exactly the runs the config asks."""
    over = {"controls": controls}
    p = dry_run(repo, venv_bin, venv_env, tmp_path, over)
    assert p.returncode == 0, p.stderr[-3000:]
    stats = job_stats(p.stdout)
    check_counts(stats, deep_merge(base_cfg, over))
    if controls == {"kd_baselines": False, "scratch_retrain": False, "equal_budget": False}:
        # the DAG without controls: as before they existed, + rliable, claims and the exports of
        # the 108 manual-net runs (Table 1's latency column)
        assert stats["total"] == 466 + 2 + 108
    if controls == {"equal_budget": True}:
        # the 36 baseline runs of the 12 games move to their own {arch}_eq runs: train keeps
        # the 60 sweep runs and the 8 teachers of the other games (resnet20 seed 1)
        assert (stats["train"], stats["train_budget"], stats["train_kd"]) == (68, 108, 108)


def test_smoke_preset_files_are_the_results_tree_layout(smoke_dry_run):
    """Every file the workflow declares is where a2d.paths (which the figure and table tools
    read through) says, and every file of the layout is declared by some job."""
    stdout, cfg, results = smoke_dry_run
    listed = listed_files(stdout)
    expected = expected_files(cfg, ResultsTree(results))
    assert listed - expected == set()
    assert expected - listed == set()
    # 65 jobs (64 less rule all): their outputs, logs and benchmarks; 245 without the controls
    # (49 jobs), 96 for the 16 control runs' (4 outputs + log + benchmark each), 28 for rliable
    # (6 figures), claims (2 tables) and the 4 manual-net exports (2 files each), with logs and
    # benchmarks
    assert len(listed) == 369


def job_commands(stdout: str) -> dict[str, tuple[str, str]]:
    """{run or search directory: (rule, shell command)} of a `snakemake -n -p` listing."""
    jobs = {}
    for block in re.split(r"^rule ", stdout, flags=re.M)[1:]:
        rule = block.split(":", 1)[0]
        out = re.search(r"^\s+output: ([^,\n]+)", block, re.M)
        cmd = re.search(r"^Shell command: (.*)$", block, re.M)
        if out and cmd:
            jobs[out.group(1).rsplit("/", 1)[0]] = (rule, cmd.group(1))
    return jobs


@pytest.mark.parametrize("equal", [False, True])
def test_every_baseline_has_its_kd_control_and_the_main_net_its_scratch_retrain(
    repo, venv_bin, venv_env, tmp_path, base_cfg, equal
):
    """The smoke preset's DAG: each baseline run on each game and seed has a distilled twin
    (`--teacher` the game's teacher, the `distill` weights in its config), each main-method net
    one retrained without a teacher, and under equal_budget the baselines and their controls train
    for teacher + search + retrain steps while the sweep and teacher runs keep ppo.total_steps."""
    preset = repo / "presets" / "smoke.yaml"
    over = {"controls": {"kd_baselines": True, "scratch_retrain": True, "equal_budget": equal}}
    overlay = tmp_path / "over.yaml"
    overlay.write_text(yaml.safe_dump(over))
    cfg = deep_merge(deep_merge(base_cfg, yaml.safe_load(preset.read_text())), over)
    tree = ResultsTree(tmp_path / "results")
    cmd = [str(venv_bin / "snakemake"), "-n", "-p", "--cores", "1", "--configfile", str(preset)]
    cmd += [str(overlay), "--config", f"results={tree.root}"]
    p = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=venv_env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    jobs = job_commands(p.stdout)
    steps_flag = "--steps 2816"  # smoke: 1,024 (teacher) + 768 (search) + 1,024 (retrain)
    games, seeds = cfg["games"], cfg["seeds"]
    for g in games:
        teacher = f"--teacher {tree.teacher_json(g)} "
        for a in cfg["baselines"]:
            for s in seeds:
                run = equal_budget(a) if equal else a
                rule, cmd = jobs[tree.run_dir(g, run, s)]
                assert rule == ("train_budget" if equal else "train")
                assert f"--arch {a} " in cmd and "--teacher" not in cmd
                assert (steps_flag in cmd) == equal and ("--steps" in cmd) == equal
                rule, cmd = jobs[tree.run_dir(g, kd(run), s)]
                assert rule == "train_kd" and manual_arch(kd(run)) == a
                assert f"--arch {a} " in cmd and teacher in cmd
                assert '"distill": {"actor": 1.0, "critic": 0.5}' in cmd
                assert (steps_flag in cmd) == equal and ("--steps" in cmd) == equal
        for s in seeds:
            m = cfg["search"]["main_method"]
            rule, cmd = jobs[tree.run_dir(g, nokd(m), s)]
            assert rule == "retrain_nokd" and "--teacher" not in cmd and "--steps" not in cmd
            assert f"--arch {tree.derived_arch(g, m, s)} " in cmd
            rule, cmd = jobs[tree.run_dir(g, searched(m), s)]
            assert rule == "retrain" and teacher in cmd
    # the sweep runs (the teacher among them) keep ppo.total_steps
    for a in cfg["sweep"]["archs"]:
        rule, cmd = jobs[tree.run_dir(games[0], a, seeds[0])]
        assert rule == "train" and "--steps" not in cmd and "--teacher" not in cmd


PIPELINE_STEPS_SCRIPT = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings
with SnakemakeApi() as api:
    wf = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(configfiles=[Path(p) for p in sys.argv[1:]]),
        snakefile=Path("Snakefile"),
    )
    print(json.dumps(wf._workflow.globals["PIPELINE_STEPS"]))
"""


def pipeline_steps(repo, venv_bin, venv_env, *configfiles) -> dict:
    """common.smk's PIPELINE_STEPS of a config, read from the parsed workflow."""
    p = subprocess.run(
        [str(venv_bin / "python"), "-c", PIPELINE_STEPS_SCRIPT, *map(str, configfiles)],
        cwd=repo, capture_output=True, text=True, env=venv_env, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_pipeline_steps_of_the_smoke_preset(repo, venv_bin, venv_env, tmp_path):
    """Smoke: PPO batches of 4 x 64 = 256 steps; 1,024 training steps, 768 search steps."""
    steps = pipeline_steps(repo, venv_bin, venv_env, repo / "presets" / "smoke.yaml")
    assert (steps["teacher"], steps["search"], steps["retrain"]) == (1024, 768, 1024)
    assert steps["a2d"] == steps["a2d_nokd"] == 2816  # a2d_one_level's search distils
    assert steps["equal_budget"] is True and steps["baseline"] == 2816
    assert steps["baseline_kd"] == 3840  # its teacher's 1,024 on top
    runs = steps["runs"]
    assert runs["vanilla_eq"] == runs["resnet8_eq"] == 2816
    assert runs["vanilla_eq_kd"] == 3840 and "vanilla" not in runs
    assert runs["searched_vanilla_dnas"] == 2816  # retrained with the teacher
    assert runs["searched_vanilla_dnas_nokd"] == 1792  # no teacher anywhere: 768 + 1,024
    assert "counted" in steps and "teacher" in steps["counted"]
    json.dumps(steps)  # JSON-able, for a command-line param
    # equal budget off: the baselines are the plain runs at ppo.total_steps
    over = tmp_path / "over.yaml"
    over.write_text(yaml.safe_dump({"controls": {"equal_budget": False, "kd_baselines": False}}))
    steps = pipeline_steps(repo, venv_bin, venv_env, repo / "presets" / "smoke.yaml", over)
    assert (steps["baseline"], steps["baseline_kd"]) == (1024, 2048)
    assert steps["runs"]["vanilla"] == 1024 and "vanilla_kd" not in steps["runs"]


def test_pipeline_steps_of_config_yaml(repo, venv_bin, venv_env):
    """config.yaml: batches of 8 x 128 = 1,024 steps round 10M up to 10,000,384 and 5M up to
    5,000,192."""
    steps = pipeline_steps(repo, venv_bin, venv_env)
    assert (steps["teacher"], steps["search"]) == (10_000_384, 5_000_192)
    assert steps["a2d"] == 25_000_960 and steps["baseline"] == 10_000_384
    assert steps["baseline_kd"] == 20_000_768 and steps["equal_budget"] is False
    assert steps["runs"]["resnet20_kd"] == 20_000_768


def test_reserved_method_name_fails_dry_run(repo, venv_bin, venv_env, tmp_path):
    """searched_{m}_nokd is the scratch retraining of m: a method named `x_nokd` is refused."""
    over = {"methods": {"x_nokd": {"actor": 0.0, "critic": 0.0, "optimisation": "one_level"}}}
    p = dry_run(repo, venv_bin, venv_env, tmp_path, over)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "x_nokd" in out and "reserved" in out and "Job stats" not in out


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
    # its baseline runs (the teacher run is one of them: resnet20 seed 1) and their KD controls
    # + teacher record + random score + video, and the main method's search, derivation,
    # retraining, retraining without the teacher and export per seed
    assert base_cfg["teacher"]["arch"] in base_cfg["baselines"]
    expected.update(
        {
            "teacher": 1,
            "random_policy": 1,
            "train": n_base * n_seeds,
            "train_kd": n_base * n_seeds,
            "search": n_seeds,
            "derive": n_seeds,
            "retrain": n_seeds,
            "retrain_nokd": n_seeds,
            "export": n_seeds + n_base * n_seeds,  # its A2D nets' and its manual nets' exports
            "play": 1,
        }
    )
    expected["total"] = 3 + 3 * n_base * n_seeds + 5 * n_seeds
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
    assert default_stats["export"] == g * s + g * len(base) * s and default_stats["play"] == g
    # the controls: every baseline distilled on every game; the main method's net retrained
    # without the teacher on every game, the other ablation methods' on the figure games
    main, ablation = base_cfg["search"]["main_method"], base_cfg["search"]["ablation_methods"]
    assert default_stats["train_kd"] == g * len(base) * s == 108
    assert default_stats["retrain_nokd"] == (g + f * len(set(ablation) - {main})) * s == 72
    assert (g, f, s) == (12, 4, 3) and default_stats["total"] == 466 + 2 + 108 + 108 + 72


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


def _configfile_args(line: str) -> list[str]:
    """The words after each `--configfile` of a `snakemake` command line, up to the next option
    or shell/Markdown punctuation."""
    words, out = line.split(), []
    for i, w in enumerate(words):
        if w.strip("`") == "--configfile":
            for nxt in words[i + 1 :]:
                if nxt.startswith(("-", "#", "`", "|", "&", ";", ")", "\\")):
                    break
                out.append(nxt.strip("`(),;:"))
    return out


def _commands(f) -> list[str]:
    """The command lines a file shows: Markdown's code blocks and `inline code` (joined across
    line breaks), the comment lines of YAML, .smk files and the Snakefile."""
    text = f.read_text()
    if f.suffix != ".md":
        comments = [ln.split("#", 1)[1] for ln in text.splitlines() if "#" in ln]
        return [c for ln in comments for c in (re.findall(r"`([^`]+)`", ln) or [ln])]
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    lines = [ln.split(" #", 1)[0] for block in fenced for ln in block.splitlines()]
    return lines + [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", rest)]


def test_documented_snakemake_commands_put_targets_before_configfile(repo):
    """`--configfile` takes every word after it as a config file, so a target written after it
    (`snakemake --configfile x.yaml evidence_docs`) fails with FileNotFoundError: every command
    the docs, presets and workflow comments show names its targets before `--configfile`."""
    files = [repo / "README.md", repo / "Snakefile", *sorted((repo / "docs").rglob("*.md"))]
    files += sorted((repo / "presets").glob("*.yaml"))
    files += sorted((repo / "workflow" / "rules").glob("*.smk"))
    bad = []
    for f in files:
        for cmd in _commands(f):
            if "snakemake" in cmd and "--configfile" in cmd:
                bad += [(f.name, cmd, a) for a in _configfile_args(cmd) if not a.endswith(".yaml")]
    example = "snakemake --configfile a.yaml b.yaml all"
    assert _configfile_args(example) == ["a.yaml", "b.yaml", "all"]
    assert bad == []


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


def test_slurm_submits_every_job_but_the_local_rules(repo, smoke_dry_run):
    """What the SLURM test checks as local is read from the rule files; with it, the smoke DAG
    submits 58 of its 71 jobs (docs/gpu-and-clusters.md quotes this number)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check", repo / "tests/slurm/check_slurm_run.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    local = check.local_rules(repo)
    assert {"teacher", "fig1", "table1", "claims", "rliable", "config_used", "all"} <= local
    assert not local & check.GPU_RULES and not local & {"export", "play", "derive"}
    stats = job_stats(smoke_dry_run[0])
    submitted = sum(n for rule, n in stats.items() if rule != "total" and rule not in local)
    assert (stats["total"], submitted) == (71, 58)


def test_slurm_test_runs_every_rule_with_one_seed(repo, venv_bin, venv_env, tmp_path):
    """The SLURM test runs the smoke preset with one seed (the local smoke DAG test runs both):
    still every rule, 30 of its 43 jobs submitted (docs/gpu-and-clusters.md quotes this)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check", repo / "tests/slurm/check_slurm_run.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    script = (repo / "tests/slurm/run_slurm_test.sh").read_text()
    assert "seeds: [1]" in script  # the overlay the script writes beside presets/smoke.yaml
    smoke = repo / "presets" / "smoke.yaml"
    p = dry_run(repo, venv_bin, venv_env, tmp_path, {"seeds": [1]}, configfiles=[smoke])
    assert p.returncode == 0, p.stderr[-3000:]
    stats = job_stats(p.stdout)
    p2 = dry_run(repo, venv_bin, venv_env, tmp_path / "two", configfiles=[smoke])
    assert set(stats) == set(job_stats(p2.stdout))  # every rule of the two-seed DAG
    local = check.local_rules(repo)
    submitted = sum(n for rule, n in stats.items() if rule != "total" and rule not in local)
    assert (stats["total"], submitted) == (43, 30)


TRAINING_RULES = {"train", "train_budget", "train_kd", "search", "retrain", "retrain_nokd"}


def test_training_jobs_give_their_emulators_the_threads_snakemake_gave_them(
    repo, venv_bin, venv_env, tmp_path
):
    """Every training/search job passes its Snakemake threads to torch and to ale-py's vector
    env (env.num_threads), so concurrent jobs share the cores instead of each taking all."""
    over = tmp_path / "over.yaml"
    over.write_text(
        yaml.safe_dump(
            {
                "resources": {"train_threads": 3, "jobs_per_gpu": 2},
                "controls": {"kd_baselines": True, "scratch_retrain": True, "equal_budget": True},
            }
        )
    )
    cmd = [str(venv_bin / "snakemake"), "-n", "-p", "--cores", "8", "--configfile"]
    cmd += [str(repo / "presets" / "smoke.yaml"), str(over), "--config"]
    cmd += [f"results={tmp_path / 'results'}"]
    p = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=venv_env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    seen = set()
    for rule, shell in job_commands(p.stdout).values():
        if rule not in TRAINING_RULES:
            assert "env.num_threads" not in shell, (rule, shell)
            continue
        seen.add(rule)
        assert re.findall(r"--set torch_threads=(\d+)", shell) == ["3"], shell
        assert re.findall(r"--set env\.num_threads=(\d+)", shell) == ["3"], shell
    assert seen == TRAINING_RULES


JOBS_PER_GPU_SCRIPT = """
import os, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings
with SnakemakeApi() as api:
    before = os.environ.get("A2D_JOBS_PER_GPU")
    wf = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(configfiles=[Path(p) for p in sys.argv[1:]]),
        snakefile=Path("Snakefile"),
    )
    wf._workflow  # parses the Snakefile
    print(repr(before), repr(os.environ.get("A2D_JOBS_PER_GPU")))
"""


@pytest.mark.parametrize("jobs_per_gpu", [None, 3])
def test_the_workflow_exports_jobs_per_gpu_to_its_jobs(
    repo, venv_bin, venv_env, tmp_path, jobs_per_gpu
):
    """common.smk puts resources.jobs_per_gpu into the environment its jobs inherit
    (A2D_JOBS_PER_GPU, read by a2d.gpus); default 1."""
    files = []
    if jobs_per_gpu is not None:
        over = tmp_path / "over.yaml"
        over.write_text(yaml.safe_dump({"resources": {"jobs_per_gpu": jobs_per_gpu}}))
        files.append(str(over))
    env = {k: v for k, v in venv_env.items() if k != "A2D_JOBS_PER_GPU"}
    p = subprocess.run(
        [str(venv_bin / "python"), "-c", JOBS_PER_GPU_SCRIPT, *files],
        cwd=repo, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    before, after = p.stdout.strip().splitlines()[-1].split()
    assert (before, after) == ("None", repr(str(jobs_per_gpu or 1)))


def test_zero_jobs_per_gpu_fails_dry_run(repo, venv_bin, venv_env, tmp_path):
    p = dry_run(repo, venv_bin, venv_env, tmp_path, {"resources": {"jobs_per_gpu": 0}})
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "resources.jobs_per_gpu" in out and "Job stats" not in out


def search_job_inputs(stdout: str) -> list[list[str]]:
    """The inputs of every `search` job a dry run lists."""
    jobs = re.split(r"\n(?=(?:local)?rule \w+:)", stdout)
    out = []
    for job in jobs:
        if job.startswith("rule search:"):
            m = re.search(r"^\s+input: (.*)$", job, re.M)
            out.append(m.group(1).split(", ") if m else [])
    return out


def test_the_search_depends_on_the_cost_table_only_with_the_latency_cost(
    repo, venv_bin, venv_env, tmp_path, smoke_dry_run
):
    stdout, _, results = smoke_dry_run  # search.cost: macs (the default)
    assert "cost_table" not in job_stats(stdout)
    assert not any("/cost/" in f for inputs in search_job_inputs(stdout) for f in inputs)
    preset = repo / "presets" / "smoke.yaml"
    latency = {"search": {"cost": "latency", "cost_target": "torch-cpu"}}
    p = dry_run(repo, venv_bin, venv_env, tmp_path, latency, configfiles=[preset])
    assert p.returncode == 0, p.stderr[-3000:]
    stats = job_stats(p.stdout)
    assert stats["cost_table"] == 1  # one table for the whole tree
    assert stats["total"] == job_stats(stdout)["total"] + 1
    table = ResultsTree(tmp_path / "results").cost_table("torch-cpu")
    searches = search_job_inputs(p.stdout)
    assert len(searches) == stats["search"] and all(table in inputs for inputs in searches)
    block = p.stdout[p.stdout.index("rule cost_table:") :].split("\n\n")[0]
    assert f"output: {table}" in block
    assert "logs/cost_table/torch-cpu.log" in block and "benchmarks/cost_table/" in block
