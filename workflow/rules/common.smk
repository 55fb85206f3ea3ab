# Helpers shared by every stage: config validation, names, paths, targets.
import json
import shlex

from a2d import A2DError
from a2d.config import check_workflow as a2d_check_workflow
from a2d.config import complete as a2d_complete
from a2d.config import methods as a2d_methods
from a2d.config import validate as a2d_validate
from a2d.envs import canonical
from a2d.models import get_spec

# The config's one validation (src/a2d/config.py: one-line errors naming the bad key or value and
# what is valid); then every key left out takes its default there, so `config` is complete here.
try:
    a2d_validate(config)
    config.update(a2d_complete(config))  # the keys it has keep their values and order
    a2d_check_workflow(config)
    GAMES = [canonical(g) for g in config["games"]]
    FIGURE_GAMES = [canonical(g) for g in config["figure_games"]]
    BASELINES = config["baselines"]
    for _arch in config["sweep"]["archs"] + [config["teacher"]["arch"]] + BASELINES:
        get_spec(_arch)
except A2DError as e:
    raise WorkflowError(f"a2d config error: {e}")

METHODS = a2d_methods(config)
SEARCH_METHODS = config["search"]["methods"]
FIG2_METHODS = config["search"]["fig2_methods"]
ABLATION_METHODS = config["search"]["ablation_methods"]
MAIN_METHOD = config["search"]["main_method"]
RESULTS = config["results"].rstrip("/")
SEEDS = config["seeds"]
SWEEP_ARCHS = config["sweep"]["archs"]
TEACHER_ARCH = config["teacher"]["arch"]
TEACHER_SEED = config["teacher"]["seed"]
TRAIN_THREADS = config["resources"]["train_threads"]
TRAIN_MEM_MB = config["resources"]["train_mem_mb"]
GPU = config["resources"]["gpu"]

# What a job needs of the config, handed over as one JSON argument. Training jobs get only the
# training sections, so editing a search key does not invalidate (and rerun) trained agents.
_TRAIN_KEYS = ("device", "ppo", "env", "eval", "model", "checkpoint")
_RUN_KEYS = (*_TRAIN_KEYS, "search", "methods", "distill")
TRAIN_CFG = shlex.quote(json.dumps({k: config[k] for k in _TRAIN_KEYS}))
RUN_CFG = shlex.quote(json.dumps({k: config[k] for k in _RUN_KEYS}))


# Every path of the results tree comes from a2d.paths (the figure and table tools read the same
# layout through it); "{game}", "{arch}", "{method}", "{seed}" below are Snakemake wildcards.
from a2d.paths import ResultsTree, job_key, searched

TREE = ResultsTree(RESULTS)
RUN = job_key("{game}", "{arch}", "{seed}")  # logs and benchmarks of a run or an export
SEARCH = job_key("{game}", "{method}", "{seed}")  # ... of a search, derivation, retraining


wildcard_constraints:
    game="[A-Za-z0-9]+",
    arch="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    seed="[0-9]+",


def sweep_runs(name):
    """Files `name` of every size-sweep run (figure games x sweep archs x seeds)."""
    return [TREE.run_file(g, a, s, name) for g in FIGURE_GAMES for a in SWEEP_ARCHS for s in SEEDS]


def baseline_runs(name):
    """Files `name` of every manual-baseline run (games x baselines x seeds): Fig 3, Table 1."""
    return [TREE.run_file(g, a, s, name) for g in GAMES for a in BASELINES for s in SEEDS]


def exports(name, games, methods):
    """Export files of the retrained searched nets (games x methods x seeds)."""
    return [
        TREE.export_file(g, searched(m), s, name) for g in games for m in methods for s in SEEDS
    ]


def search_files(name, games, methods):
    """Files `name` of the searches (games x methods x seeds)."""
    return [TREE.search_file(g, m, s, name) for g in games for m in methods for s in SEEDS]


def retrained(name, games, methods):
    """Files `name` of the retrained searched nets (games x methods x seeds)."""
    return [TREE.run_file(g, searched(m), s, name) for g in games for m in methods for s in SEEDS]


def random_scores(games):
    return [TREE.random_json(g) for g in games]


def tree_param(path_of):
    """A path `path_of(wildcards)` of the results tree (a job's directory, a subtree's root) as a
    shell-quoted param. Declared derived from the job's files (the `output` argument), as the path
    it names is: Snakemake then records no param value for it, and a job whose files exist in a
    tree built before does not rerun for a new param."""
    return lambda wildcards, output: shlex.quote(path_of(wildcards))


def all_targets():
    return [
        *[
            TREE.figure(f, ext)
            for f in ("fig1", "fig2", "fig3", "aggregate")
            for ext in ("pdf", "png")
        ],
        *[
            TREE.table(t, ext)
            for t in ("table1", "table2", "table3", "table4", "aggregate")
            for ext in ("md", "tex", "csv")
        ],
        TREE.config_yaml,
        *[TREE.video(g, "html") for g in GAMES],
        *[TREE.teacher_json(g) for g in GAMES],
        *random_scores(sorted(set(GAMES) | set(FIGURE_GAMES))),
    ]


def search_inputs(wildcards):
    """A method that distils needs its game's teacher; vanilla DNAS does not."""
    m = METHODS[wildcards.method]
    return {"teacher": TREE.teacher_json(wildcards.game)} if (m.actor > 0 or m.critic > 0) else {}


def _table_outputs(name):
    return {
        ext: report(
            TREE.table(name, ext),
            caption=f"../report/{name}.rst",
            category="Tables",
            labels={"table": name, "format": ext},
        )
        for ext in ("md", "tex", "csv")
    }


def _figure_outputs(name, label):
    return {
        ext: report(
            TREE.figure(name, ext),
            caption=f"../report/{name}.rst",
            category="Figures",
            labels={"figure": label, "format": ext},
        )
        for ext in ("pdf", "png")
    }
