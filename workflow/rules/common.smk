# Helpers shared by every stage: config validation, names, paths, targets.
import json
import os
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
    for _m in config["methods"]:  # searched_{m}_nokd must name one run only (rule retrain_nokd)
        if _m.endswith("_nokd"):
            raise A2DError(f"method name {_m!r}: a name ending in _nokd is reserved")
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
# how many GPU jobs share one GPU: read by each job's GPU claim (a2d.gpus); local jobs and SLURM
# jobs (sbatch exports the environment) inherit it
os.environ.update(A2D_JOBS_PER_GPU=str(config["resources"]["jobs_per_gpu"]))

# What a job needs of the config, handed over as one JSON argument. Training jobs get only the
# training sections, so editing a search key does not invalidate (and rerun) trained agents.
_TRAIN_KEYS = ("device", "ppo", "env", "eval", "model", "checkpoint")
_KD_KEYS = (*_TRAIN_KEYS, "distill")
_RUN_KEYS = (*_TRAIN_KEYS, "search", "methods", "distill")
TRAIN_CFG = shlex.quote(json.dumps({k: config[k] for k in _TRAIN_KEYS}))
KD_CFG = shlex.quote(json.dumps({k: config[k] for k in _KD_KEYS}))
RUN_CFG = shlex.quote(json.dumps({k: config[k] for k in _RUN_KEYS}))


# Every path of the results tree comes from a2d.paths (the figure and table tools read the same
# layout through it); "{game}", "{arch}", "{method}", "{seed}" below are Snakemake wildcards.
from a2d.paths import ResultsTree, equal_budget, job_key, kd, manual_arch, nokd, searched

TREE = ResultsTree(RESULTS)
RUN = job_key("{game}", "{arch}", "{seed}")  # logs and benchmarks of a run or an export
SEARCH = job_key("{game}", "{method}", "{seed}")  # ... of a search, derivation, retraining


wildcard_constraints:
    game="[A-Za-z0-9]+",
    arch="[A-Za-z0-9_]+",
    method="[A-Za-z0-9_]+",
    seed="[0-9]+",


# `arch` of a manual net's own run (rules train, train_budget): not a searched net, no control
# suffix. Rule train_kd's `arch` (before `_kd`) may carry `_eq`.
MANUAL_ARCH = "(?!searched_)[A-Za-z0-9_]+(?<!_kd)(?<!_eq)"
KD_ARCH = "(?!searched_)[A-Za-z0-9_]+(?<!_kd)"


# ---- control runs (config `controls:`, docs/pipeline.md#control-runs) ---------------------------
CONTROLS = config["controls"]
KD_BASELINES = CONTROLS["kd_baselines"]
SCRATCH_RETRAIN = CONTROLS["scratch_retrain"]
EQUAL_BUDGET = CONTROLS["equal_budget"]


def _consumed(steps):
    """The env steps a PPO run or search configured for `steps` consumes: whole batches of
    ppo.num_envs x ppo.num_steps, rounded up (src/a2d/rl/ppo.py, src/a2d/search/run.py)."""
    batch = config["ppo"]["num_envs"] * config["ppo"]["num_steps"]
    return max(1, -(-steps // batch)) * batch


def _distils(method):
    m = METHODS[method]
    return m.actor > 0 or m.critic > 0


_TEACHER_STEPS = _consumed(config["ppo"]["total_steps"])  # the teacher is a plain `train` run
_SEARCH_STEPS = _consumed(config["search"]["steps"])
_RETRAIN_STEPS = _consumed(config["ppo"]["total_steps"])
# A2D's pipeline for one net: its game's teacher + the search + the distilled retraining
A2D_STEPS = _TEACHER_STEPS + _SEARCH_STEPS + _RETRAIN_STEPS
# what rule train_budget (and train_kd of an `_eq` net) passes as --steps
EQUAL_BUDGET_STEPS = A2D_STEPS
BASELINE_STEPS = EQUAL_BUDGET_STEPS if EQUAL_BUDGET else _TEACHER_STEPS

# The run names of the manual baselines in Fig 3 / Table 1 / aggregate (`{arch}`, or `{arch}_eq`
# under equal_budget: the plain run may be a sweep run or the teacher, which keep their steps),
# and of their distilled controls (`{run}_kd`; none when kd_baselines is off).
BASELINE_RUNS = [equal_budget(a) if EQUAL_BUDGET else a for a in BASELINES]
KD_RUNS = [kd(b) for b in BASELINE_RUNS] if KD_BASELINES else []
# The methods whose derived nets are also retrained without the teacher (scratch_retrain): the
# main method on every game, the ablation methods on the figure games
SCRATCH_METHODS = list(dict.fromkeys([MAIN_METHOD, *ABLATION_METHODS])) if SCRATCH_RETRAIN else []


def _pipeline_steps():
    runs = {b: BASELINE_STEPS for b in BASELINE_RUNS}
    runs.update({k: BASELINE_STEPS + _TEACHER_STEPS for k in KD_RUNS})
    for m in dict.fromkeys([MAIN_METHOD, *FIG2_METHODS, *ABLATION_METHODS]):
        runs[searched(m)] = A2D_STEPS
    for m in SCRATCH_METHODS:
        runs[nokd(m)] = (_TEACHER_STEPS if _distils(m) else 0) + _SEARCH_STEPS + _RETRAIN_STEPS
    return {
        "teacher": _TEACHER_STEPS,
        "search": _SEARCH_STEPS,
        "retrain": _RETRAIN_STEPS,
        "a2d": A2D_STEPS,
        "a2d_nokd": runs.get(nokd(MAIN_METHOD)),  # None when scratch_retrain is off
        "baseline": BASELINE_STEPS,
        "baseline_kd": BASELINE_STEPS + _TEACHER_STEPS,
        "equal_budget": EQUAL_BUDGET,
        "runs": runs,
        "counted": (
            "env steps (agent steps of 4 frames) of PPO training one net's pipeline consumes,"
            " in whole PPO batches; test episodes not counted. a2d: the game's teacher"
            " (ppo.total_steps) + the search (search.steps) + the distilled retraining"
            " (ppo.total_steps). a2d_nokd (retrained without the teacher): search + retraining,"
            " plus the teacher when the method's search distils from it. baseline: its own PPO"
            " run (ppo.total_steps, or a2d's under controls.equal_budget). baseline_kd: the"
            " baseline's steps + its teacher's. A game's one teacher is counted in full in every"
            " pipeline that uses it."
        ),
    }


# {pipeline: env steps} for the table notes (JSON-able; runs: {run name: steps});
# PIPELINE_STEPS_JSON is the same, shell-quoted, for a command-line param.
PIPELINE_STEPS = _pipeline_steps()
PIPELINE_STEPS_JSON = shlex.quote(json.dumps(PIPELINE_STEPS, sort_keys=True))


def sweep_runs(name):
    """Files `name` of every size-sweep run (figure games x sweep archs x seeds)."""
    return [TREE.run_file(g, a, s, name) for g in FIGURE_GAMES for a in SWEEP_ARCHS for s in SEEDS]


def baseline_runs(name):
    """Files `name` of every manual-baseline run (games x BASELINE_RUNS x seeds): Fig 3,
    Table 1."""
    return [TREE.run_file(g, b, s, name) for g in GAMES for b in BASELINE_RUNS for s in SEEDS]


def kd_runs(name):
    """Files `name` of the distilled controls of the manual baselines (games x KD_RUNS x seeds);
    none when controls.kd_baselines is off."""
    return [TREE.run_file(g, k, s, name) for g in GAMES for k in KD_RUNS for s in SEEDS]


def scratch_runs(name, games, methods):
    """Files `name` of the derived nets retrained without the teacher (games x methods x seeds,
    runs searched_{method}_nokd); none when controls.scratch_retrain is off."""
    if not SCRATCH_RETRAIN:
        return []
    return [TREE.run_file(g, nokd(m), s, name) for g in games for m in methods for s in SEEDS]


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
            for f in ("fig1", "fig2", "fig3", "aggregate", "profile", "poi", "sample_efficiency")
            for ext in ("pdf", "png")
        ],
        *[
            TREE.table(t, ext)
            for t in ("table1", "table2", "table3", "table4", "aggregate")
            for ext in ("md", "tex", "csv")
        ],
        *[TREE.table("claims", ext) for ext in ("md", "csv")],
        TREE.config_yaml,
        *[TREE.video(g, "html") for g in GAMES],
        *[TREE.teacher_json(g) for g in GAMES],
        *random_scores(sorted(set(GAMES) | set(FIGURE_GAMES))),
        # the control runs (also inputs of the figures and tables that show them)
        *baseline_runs("eval.json"),
        *kd_runs("eval.json"),
        *scratch_runs("eval.json", GAMES, [MAIN_METHOD]),
        *scratch_runs("eval.json", FIGURE_GAMES, ABLATION_METHODS),
    ]


# search.cost: latency (beyond the paper): every search reads the supernet's measured latency
# table on search.cost_target, made once per results tree by rule cost_table
LATENCY_COST = config["search"]["cost"] == "latency"
COST_TARGET = config["search"]["cost_target"]
# what the table depends on: the supernet (model, stem stride) and the normalisation's reference net
COST_CFG = shlex.quote(
    json.dumps(
        {
            "model": config["model"],
            "search": {k: config["search"][k] for k in ("macs_ref_arch", "stem_stride")},
        }
    )
)


def search_inputs(wildcards):
    """A method that distils needs its game's teacher; vanilla DNAS does not. With
    search.cost: latency every search needs the cost table (and only then)."""
    m = METHODS[wildcards.method]
    inputs = {"teacher": TREE.teacher_json(wildcards.game)} if (m.actor > 0 or m.critic > 0) else {}
    if LATENCY_COST:
        inputs["cost_table"] = TREE.cost_table(COST_TARGET)
    return inputs


def optional_flag(flag, key):
    """A param: `` flag <input.key>`` (shell-quoted, a space first) when the job has that input,
    else ""."""
    return lambda w, input: f" {flag} {shlex.quote(input[key])}" if key in input.keys() else ""


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
