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


wildcard_constraints:
    game="[A-Za-z0-9]+",
    arch="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    seed="[0-9]+",


def run_dir(game, arch, seed):
    return f"{RESULTS}/runs/{game}/{arch}/seed{seed}"


def sweep_runs(name):
    """Files `name` of every size-sweep run (figure games x sweep archs x seeds)."""
    return [
        f"{run_dir(g, a, s)}/{name}"
        for g in FIGURE_GAMES
        for a in SWEEP_ARCHS
        for s in SEEDS
    ]


def baseline_runs(name):
    """Files `name` of every manual-baseline run (games x baselines x seeds): Fig 3, Table 1."""
    return [f"{run_dir(g, a, s)}/{name}" for g in GAMES for a in BASELINES for s in SEEDS]


def exports(name, games, methods):
    """Export files of the retrained searched nets (games x methods x seeds)."""
    return [f"{RESULTS}/export/{g}/searched_{m}/seed{s}/{name}" for g in games for m in methods for s in SEEDS]


def search_files(name, games, methods):
    return [f"{RESULTS}/search/{g}/{m}/seed{s}/{name}" for g in games for m in methods for s in SEEDS]


def retrained(name, games, methods):
    return [f"{RESULTS}/runs/{g}/searched_{m}/seed{s}/{name}" for g in games for m in methods for s in SEEDS]


def all_targets():
    return [
        f"{RESULTS}/figures/fig1.pdf",
        f"{RESULTS}/figures/fig1.png",
        f"{RESULTS}/figures/fig2.pdf",
        f"{RESULTS}/figures/fig2.png",
        f"{RESULTS}/figures/fig3.pdf",
        f"{RESULTS}/figures/fig3.png",
        f"{RESULTS}/figures/aggregate.pdf",
        f"{RESULTS}/figures/aggregate.png",
        *[
            f"{RESULTS}/tables/{t}.{ext}"
            for t in ("table1", "table2", "table3", "table4", "aggregate")
            for ext in ("md", "tex", "csv")
        ],
        f"{RESULTS}/config.yaml",
        *[f"{RESULTS}/videos/{g}.html" for g in GAMES],
        *[f"{RESULTS}/teachers/{g}.json" for g in GAMES],
        *[f"{RESULTS}/random/{g}.json" for g in sorted(set(GAMES) | set(FIGURE_GAMES))],
    ]


def search_inputs(wildcards):
    """A method that distils needs its game's teacher; vanilla DNAS does not."""
    m = METHODS[wildcards.method]
    return {"teacher": f"{RESULTS}/teachers/{wildcards.game}.json"} if (m.actor > 0 or m.critic > 0) else {}


def _root(path, levels):
    """{root}/{game}/{x}/seed{s}/file -> root (levels = directories below root)."""
    for _ in range(levels + 1):
        path = os.path.dirname(path)
    return path


def _table_outputs(name):
    return {
        ext: report(
            f"{RESULTS}/tables/{name}.{ext}",
            caption=f"../report/{name}.rst",
            category="Tables",
            labels={"table": name, "format": ext},
        )
        for ext in ("md", "tex", "csv")
    }


def _figure_outputs(name, label):
    return {
        ext: report(
            f"{RESULTS}/figures/{name}.{ext}",
            caption=f"../report/{name}.rst",
            category="Figures",
            labels={"figure": label, "format": ext},
        )
        for ext in ("pdf", "png")
    }
