"""Configuration: every setting written once, in the dataclasses below.

Each field is one config key: its default, its type (``Literal`` for a fixed set of choices), its
range (``setting(..., ge=1)``) and its one-line docstring. From them come the JSON schema that
validates a config (``schema()``; written to ``workflow/schemas/config.schema.yaml`` by
``python -m a2d.config --schema``), the reference ``docs/configuration.md`` (``--docs``) and the
defaults that fill a loaded config in. The CLI and the Snakemake workflow load a config the same
way: YAML files deep-merged in order (config.yaml, then a preset), validated once (unknown keys
and bad values refused with one line naming the key, the value and what is valid), then completed
with the defaults, which for PPO are the CleanRL ``ppo_atari.py`` values.
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import difflib
import functools
import inspect
import math
import re
import sys
import textwrap
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from a2d import A2DError


class ConfigError(A2DError):
    pass


# ---- allowed values: each set written once, here ---------------------------------------------

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16"]
Norm = Literal["none", "batch", "group"]
SearchMode = Literal["hard", "soft"]
Optimisation = Literal["one_level", "bi_level"]
Cost = Literal["macs", "latency"]
CostTarget = Literal["onnxruntime-cpu", "torch-cpu", "cuda"]
StemStride = Literal[2, 4]

DEVICES: tuple[str, ...] = typing.get_args(Device)
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
NORMS: tuple[str, ...] = typing.get_args(Norm)
SEARCH_MODES: tuple[str, ...] = typing.get_args(SearchMode)
OPTIMISATIONS: tuple[str, ...] = typing.get_args(Optimisation)
COSTS: tuple[str, ...] = typing.get_args(Cost)
COST_TARGETS: tuple[str, ...] = typing.get_args(CostTarget)

_RANGE_KEYS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def setting(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    nonempty: bool = False,
    unique: bool = False,
    length: int | None = None,
    items: dict[str, Any] | None = None,
) -> Any:
    """A config field: its default and what the schema checks beyond its type.

    ``ge``/``gt``/``le``/``lt``: number range (>=, >, <=, <); ``nonempty``: a string of at least
    one character, a list of at least one item; ``unique``: list items distinct; ``length``: list
    of exactly that many items; ``items``: the same keywords for each item of a list."""
    meta = {
        k: v
        for k, v in dict(
            ge=ge,
            gt=gt,
            le=le,
            lt=lt,
            nonempty=nonempty or None,
            unique=unique or None,
            length=length,
            items=items,
        ).items()
        if v is not None
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


# ---- one training run --------------------------------------------------------------------------


@dataclass
class PPOConfig:
    total_steps: int = setting(10_000_000, ge=1)
    """Environment steps (agent decisions, summed over envs; 1 step = `frameskip` frames)."""
    num_envs: int = setting(8, ge=1)
    """Parallel training environments."""
    num_steps: int = setting(128, ge=1)
    """Rollout length per environment per PPO iteration."""
    learning_rate: float = setting(2.5e-4, gt=0)
    """Adam learning rate (start value when annealed)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over `total_steps`."""
    gamma: float = setting(0.99, gt=0, le=1)
    """Discount factor."""
    gae_lambda: float = setting(0.95, ge=0, le=1)
    """GAE lambda."""
    num_minibatches: int = setting(4, ge=1)
    """Minibatches per epoch (minibatch size = num_envs * num_steps / num_minibatches)."""
    update_epochs: int = setting(4, ge=1)
    """PPO epochs per rollout."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    clip_coef: float = setting(0.1, gt=0)
    """PPO surrogate clipping coefficient."""
    clip_vloss: bool = True
    """Clip the value loss as in the PPO paper's implementation."""
    ent_coef: float = setting(0.01, ge=0)
    """Entropy bonus coefficient."""
    vf_coef: float = setting(0.5, ge=0)
    """Value loss coefficient."""
    max_grad_norm: float = setting(0.5, gt=0)
    """Global gradient-norm clip."""
    adam_eps: float = setting(1e-5, gt=0)
    """Adam epsilon."""
    target_kl: float | None = setting(None, gt=0)
    """Stop the epochs of an update early once the approximate KL exceeds this (None: never)."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


@dataclass
class EnvConfig:
    repeat_action_probability: float = setting(0.0, ge=0, le=1)
    """Sticky actions during training (set explicitly; ALE v5's default would be 0.25)."""
    frameskip: int = setting(4, ge=1)
    """Frames per agent step (observation is the max of the last two)."""
    noop_max: int = setting(30, ge=0)
    """Up to this many no-op steps after a reset."""
    episodic_life: bool = True
    """A lost life ends the episode for the value bootstrap (the game itself goes on)."""
    fire_on_life_loss: bool = True
    """Training only: after a lost life the environment presses FIRE itself at the next step
    (in games whose action 1 is FIRE), as CleanRL's FireReset-over-EpisodicLife order does; the
    rollout stores FIRE as that step's action and it counts in the value loss only. Test games
    never press it after a lost life (FIRE on reset only, ale-py's default)."""
    reward_clipping: bool = True
    """Clip training rewards to their sign (training only; test scores are never clipped)."""
    max_episode_frames: int = setting(108_000, ge=1)
    """Truncate a training episode after this many frames (30 min of play)."""
    num_threads: int = setting(0, ge=0)
    """Threads of ale-py's vector env (0 = its own choice), per env group."""
    async_groups: int = setting(1, ge=1)
    """Split the ``ppo.num_envs`` training envs into this many groups stepped asynchronously:
    while one group's emulators run (ale-py's own threads), the net acts for another, so env
    stepping and inference overlap. 1 = the classic synchronous loop. Each env sees the same
    emulator and seed either way; only the order of the policy's random draws changes. Must
    divide ``ppo.num_envs``. Pays most on a GPU (whose inference otherwise idles the emulators):
    on a 16-core GPU box 2 groups x 8 threads was fastest; on 2 CPU cores, 1."""


@dataclass
class EvalConfig:
    episodes: int = setting(30, ge=1)
    """Test episodes of the final evaluation (eval.json)."""
    curve_episodes: int = setting(30, ge=1)
    """Test episodes of each periodic evaluation during training (curve.csv)."""
    interval: int = setting(250_000, ge=1)
    """Environment steps between periodic test evaluations (step 0 is always evaluated)."""
    num_envs: int = setting(8, ge=1)
    """Test episodes run in parallel."""
    frame_cap: int = setting(108_000, ge=1)
    """Frames after which a test episode is cut (108k frames = 30 min of play)."""
    sticky: float = setting(0.0, ge=0, le=1)
    """repeat_action_probability during test episodes."""
    noop_max: int = setting(30, ge=0)
    """Random no-op starts of test episodes."""


@dataclass
class ModelConfig:
    norm: Norm = "none"
    """Normalisation inside residual/searchable blocks."""
    fc_dim: int = setting(512, ge=1)
    """Width of the fully connected layer before the actor and critic heads."""


@dataclass
class MethodConfig:
    """One search method of the registry (``methods:``)."""

    actor: float = setting(1.0, ge=0)
    """lambda_a: weight of KL(pi_teacher || pi_student) (0 = no actor distillation)."""
    critic: float = setting(0.5, ge=0)
    """lambda_c: weight of (V_student - V_teacher)^2 (0 = no critic distillation)."""
    optimisation: Optimisation = "one_level"
    """one_level: weights and alpha step on every minibatch from one backward pass;
    bi_level: first order, on a DARTS-style split of each rollout: the weights step on their
    part (as many steps as one-level), alpha on the held-out share search.bilevel_alpha_share."""


DEFAULT_METHODS = {
    "vanilla_dnas": MethodConfig(0.0, 0.0, "one_level"),
    "a2d_one_level": MethodConfig(1.0, 0.5, "one_level"),
    "a2d_bi_level": MethodConfig(1.0, 0.5, "bi_level"),
    "a2d_actor_only": MethodConfig(1.0, 0.0, "one_level"),
    "a2d_critic_only": MethodConfig(0.0, 0.5, "one_level"),
}


@dataclass
class SearchConfig:
    steps: int = setting(10_000_000, ge=1)
    """Environment steps of one search (PPO on the supernet)."""
    mode: SearchMode = "hard"
    """hard: straight-through Gumbel, only the sampled op runs; soft: weighted sum of all ops."""
    tau_start: float = setting(5.0, gt=0)
    """Gumbel-softmax temperature at the end of the warm-up."""
    tau_end: float = setting(0.5, gt=0)
    """Temperature at the end of the search (annealed exponentially)."""
    warmup: float = setting(0.2, ge=0, le=1)
    """Fraction of the search that trains weights only, ops sampled uniformly."""
    alpha_lr: float = setting(3e-4, gt=0)
    """Adam learning rate of alpha."""
    alpha_betas: list[float] = setting([0.5, 0.999], length=2, items=dict(ge=0, lt=1))
    """Adam betas of alpha."""
    lambda_f: float = setting(0.1, ge=0)
    """Weight of the cost term lambda_f * E_alpha[MACs] / MACs_ref."""
    macs_ref_arch: str = setting("vanilla", nonempty=True)
    """MACs_ref = the MACs of this architecture."""
    macs_band: list[float] | None = setting(None, length=2, items=dict(gt=0))
    """Optional [low, high] MACs of the derived net: lambda_f doubles above it, halves below."""
    cost: Cost = "macs"
    """The cost term of the search loss. macs (the paper): lambda_f * E_alpha[MACs] / MACs_ref;
    latency (beyond the paper, as FBNet): lambda_f * E_alpha[latency] / latency_ref, from a
    per-cell latency table measured on search.cost_target (`a2d cost-table`), latency_ref = the
    table's measured latency of search.macs_ref_arch."""
    cost_target: CostTarget = "onnxruntime-cpu"
    """cost: latency only: where the latency table is measured, batch 1: onnxruntime-cpu (the
    ONNX export's runtime), torch-cpu (PyTorch eager) or cuda (PyTorch eager on the GPU)."""
    latency_band: list[float] | None = setting(None, length=2, items=dict(gt=0))
    """cost: latency only: optional [low, high] table-predicted latency (ms) of the derived net:
    lambda_f doubles above it, halves below (the latency analogue of macs_band)."""
    eval_interval: int | None = setting(None, ge=1)
    """Steps between test evaluations of the argmax architecture during a search (Fig 2);
    None: eval.interval, but at least 8 points per search."""
    stem_stride: StemStride = 2
    """Stride of the supernet's stem (docs/search-space.md#stem-stride). 2: the paper's 3x3
    stride-2 stem, the first cells at 42x42. 4: a 5x5 stride-4 stem (no input pixel skipped),
    every cell at a quarter of the area: about 3.5x faster to train on a CPU, a smaller and
    different search space; not the paper's."""
    bilevel_alpha_share: float = setting(0.25, gt=0, lt=1)
    """Bi-level only: the share of each PPO iteration's rollout held out of the weights' update
    (a random split per iteration) for alpha's steps; the weights take their usual
    update_epochs x num_minibatches steps on the rest."""


@dataclass
class DistillConfig:
    """Teacher distillation when retraining a searched net."""

    actor: float = setting(1.0, ge=0)
    """lambda_a of retraining a searched net with its teacher (0 = off)."""
    critic: float = setting(0.5, ge=0)
    """lambda_c of retraining a searched net with its teacher (0 = off)."""


# ---- the workflow: what to run, and with what -------------------------------------------------


@dataclass
class WorkflowSearchConfig(SearchConfig):
    """``search:`` of a config: one search's settings plus which methods the workflow runs."""

    methods: list[str] = setting(list(DEFAULT_METHODS), nonempty=True, unique=True)
    """Search methods run on the figure games (names from the methods registry)."""
    fig2_methods: list[str] = setting(
        ["vanilla_dnas", "a2d_one_level", "a2d_bi_level"], nonempty=True, unique=True
    )
    """The schemes compared in Fig 2 and Table 3."""
    ablation_methods: list[str] = setting(
        ["vanilla_dnas", "a2d_actor_only", "a2d_critic_only", "a2d_one_level"],
        nonempty=True,
        unique=True,
    )
    """Table 2 rows: none / actor / critic / both distillation."""
    main_method: str = "a2d_one_level"
    """The method whose derived agents stand for A2D (searched on every game: Fig 3, Tables 1
    and 4)."""


@dataclass
class TeacherConfig:
    arch: str = setting("resnet20", nonempty=True)
    """Architecture of the teacher distilled into the searched student."""
    seed: int = setting(1, ge=0)
    """Which seed's run of that architecture is the teacher."""


@dataclass
class SweepConfig:
    archs: list[str] = setting(
        ["vanilla", "resnet8", "resnet14", "resnet20", "resnet32"],
        nonempty=True,
        unique=True,
        items=dict(nonempty=True),
    )
    """Fig 1: the models of growing size trained on the figure games."""


@dataclass
class CheckpointConfig:
    interval: int = setting(500_000, ge=1)
    """Environment steps between resume checkpoints (<run>/resume/ckpt.pt)."""


@dataclass
class ResourcesConfig:
    """What each training job asks the scheduler for."""

    train_threads: int = setting(2, ge=1)
    """CPU threads of a training or search job."""
    train_mem_mb: int = setting(6000, ge=1)
    """Memory of a training or search job, in MB."""
    gpu: int = setting(1, ge=0)
    """GPUs per training job; run with --resources gpu=N (0 on CPU-only boxes)."""
    jobs_per_gpu: int = setting(1, ge=1)
    """How many GPU jobs may share one GPU (each job locks one of the GPU's slots); run with
    ``--resources gpu=<GPUs x jobs_per_gpu>`` and ``--cores`` >= that many jobs x
    ``train_threads`` (docs/gpu-and-clusters.md)."""


@dataclass
class ControlsConfig:
    """Control runs that separate what the architecture gives from what distillation gives."""

    kd_baselines: bool = True
    """Also train every manual baseline with the teacher and the retraining's distillation
    (``distill``): runs ``{arch}_kd``, shown as e.g. ``Vanilla + KD``."""
    scratch_retrain: bool = True
    """Also retrain the derived nets without the teacher (plain PPO): runs
    ``searched_{method}_nokd`` of the main method (every game) and the ablation methods (figure
    games), for Table 1 and Table 2's from-scratch column."""
    equal_budget: bool = False
    """Give the manual baselines (and their KD controls) the env steps A2D's pipeline consumes
    (teacher + search + retrain) instead of ``ppo.total_steps``: runs ``{arch}_eq`` and
    ``{arch}_eq_kd``, since a plain baseline run may be a size-sweep run or the teacher, which keep
    ``ppo.total_steps``."""


@dataclass
class Config:
    """The whole configuration: config.yaml, overlaid by presets, ``--config`` and ``--set``."""

    results: str = setting("results", nonempty=True)
    """Root of the results tree of this preset (runs/, teachers/, figures/, ...)."""
    evidence_docs: str = setting("docs/evidence", nonempty=True)
    """Folder rule ``evidence_docs`` publishes the results tree's figures, tables, claims and
    times to (README.md + small files; a target of its own, not part of ``all``)."""
    device: Device = "auto"
    """Where the nets run (auto: CUDA when present)."""
    torch_threads: int = setting(0, ge=0)
    """Intra-op CPU threads (0 = one per core on a CPU run, 1 on a GPU run)."""
    precision: Precision = "auto"
    """fp32 | bf16 | auto. bf16: the nets' convolutions and hidden layers run under bfloat16
    autocast (weights, optimiser, policy/value heads and losses stay float32); auto: bf16 on a
    CUDA GPU with bf16 support and on a CPU with native bf16 instructions (AMX or AVX512-BF16),
    float32 elsewhere. On a CPU, depthwise convolutions stay float32 (measured slower in bf16)."""
    games: list[str] = setting(
        [
            "Alien",
            "Assault",
            "Asterix",
            "Asteroids",
            "BeamRider",
            "Boxing",
            "Breakout",
            "Enduro",
            "MsPacman",
            "Pong",
            "Qbert",
            "SpaceInvaders",
        ],
        nonempty=True,
        unique=True,
        items=dict(nonempty=True),
    )
    """ALE games (e.g. Breakout, MsPacman) of the per-game experiments (Fig 3, Tables 1 and 4)."""
    figure_games: list[str] = setting(
        ["Breakout", "Pong", "BeamRider", "SpaceInvaders"],
        nonempty=True,
        unique=True,
        items=dict(nonempty=True),
    )
    """Games of Figures 1 and 2 (the size sweep and the search comparison)."""
    seeds: list[int] = setting([1, 2, 3], nonempty=True, unique=True, items=dict(ge=0))
    """Seeds of every run and search."""
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    """The teacher of each game's searches and retraining."""
    sweep: SweepConfig = field(default_factory=SweepConfig)
    """The model-size sweep (Fig 1)."""
    baselines: list[str] = setting(
        ["vanilla", "resnet14", "resnet20"], nonempty=True, unique=True, items=dict(nonempty=True)
    )
    """Manual nets trained on every game for Fig 3, Table 1 and the aggregate, smallest first;
    A2D's MACs saving in Table 1 is against the last one."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The nets."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO training (CleanRL ppo_atari.py defaults)."""
    search: WorkflowSearchConfig = field(default_factory=WorkflowSearchConfig)
    """The architecture search."""
    methods: dict[str, MethodConfig] = field(
        default_factory=lambda: {k: dataclasses.replace(v) for k, v in DEFAULT_METHODS.items()}
    )
    """The registry of search methods; a new method is a new entry (its keys default as below)."""
    distill: DistillConfig = field(default_factory=DistillConfig)
    """Teacher distillation when retraining a searched net."""
    controls: ControlsConfig = field(default_factory=ControlsConfig)
    """Control runs (distillation without search, search without distillation)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The training environment (ale-py AtariVectorEnv)."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """The test protocol: full games, raw scores, sampled actions."""
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    """Resume checkpoints."""
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    """What each training job asks the scheduler for."""


@dataclass
class TrainConfig:
    """Everything one training run needs (what `a2d train` and the `train` rule consume): the
    run's view of a ``Config``. Its keys, defaults and docs are those of ``Config``."""

    ppo: PPOConfig = field(default_factory=PPOConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    checkpoint_interval: int = CheckpointConfig.interval
    device: Device = Config.device
    precision: Precision = Config.precision
    torch_threads: int = Config.torch_threads


# ---- schema, defaults and docs, all from the dataclasses ---------------------------------------

_SCHEMA_FILE = "workflow/schemas/config.schema.yaml"
_DOCS_FILE = "docs/configuration.md"


@functools.cache
def _field_docs(cls: type) -> dict[str, str]:
    """The docstrings under a dataclass's fields (of ``cls`` and its bases), each on one line."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns=vars(sys.modules[__name__]))


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: _json_default(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()


def _node(tp: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The schema node of one type (with its ``setting`` constraints)."""
    nullable = False
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable, (tp,) = len(args) < len(typing.get_args(tp)), args
    origin = typing.get_origin(tp)
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if dataclasses.is_dataclass(tp):
        return _object_node(tp)
    if origin is dict:
        return {"type": "object", "additionalProperties": _node(typing.get_args(tp)[1], {})}
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}[
        origin or tp
    ]
    node: dict[str, Any] = {"type": [kind, "null"] if nullable else kind}
    for key, word in _RANGE_KEYS.items():
        if key in meta:
            node[word] = meta[key]
    if meta.get("nonempty"):
        node["minLength" if kind == "string" else "minItems"] = 1
    if "length" in meta:
        node["minItems"] = node["maxItems"] = meta["length"]
    if meta.get("unique"):
        node["uniqueItems"] = True
    if kind == "array":
        node["items"] = _node(typing.get_args(tp)[0], meta.get("items", {}))
    return node


def _object_node(cls: type) -> dict[str, Any]:
    hints, docs = _hints(cls), _field_docs(cls)
    props = {}
    for f in dataclasses.fields(cls):
        if f.name not in docs:
            raise TypeError(f"config field {cls.__name__}.{f.name} has no docstring under it")
        node = {"description": docs[f.name], **_node(hints[f.name], dict(f.metadata))}
        if not dataclasses.is_dataclass(hints[f.name]):
            node["default"] = _json_default(_field_default(f))
        props[f.name] = node
    return {"type": "object", "additionalProperties": False, "properties": props}


@functools.cache
def _schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": (
            "a2d configuration. config.yaml is the paper-scale experiment; presets/*.yaml overlay"
            " it. Unknown keys are refused everywhere. GENERATED from the dataclasses of"
            " src/a2d/config.py by `python -m a2d.config --schema`; do not edit."
        ),
        **_object_node(Config),
    }


def schema() -> dict[str, Any]:
    """The JSON schema of a config, built from the dataclasses (keys, types, ranges, choices,
    defaults and docs)."""
    return copy.deepcopy(_schema())


def defaults() -> dict[str, Any]:
    """The complete default config (``Config()`` as a dict, in field order)."""
    return _json_default(Config())


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _fill(cfg: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(cfg)
    for k, v in default.items():
        if k not in out:
            out[k] = copy.deepcopy(v)
        elif isinstance(v, dict) and isinstance(out[k], dict):
            out[k] = _fill(out[k], v)
    return out


def complete(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` with every key it leaves out set to its default; a new ``methods`` entry gets the
    method defaults. The keys ``cfg`` has keep their order and the added ones follow in field
    order, so a config that names every key comes back unchanged (the jobs' arguments built from
    it, and with them Snakemake's rerun decisions, stay as they were)."""
    out = _fill(cfg, defaults())
    if isinstance(out.get("methods"), dict):
        entry = dataclasses.asdict(MethodConfig())
        out["methods"] = {
            k: _fill(v, entry) if isinstance(v, dict) else v for k, v in out["methods"].items()
        }
    return out


# ---- validation ---------------------------------------------------------------------------------


def _error_path(err) -> str:
    return ".".join(str(p) for p in err.absolute_path) or "<top level>"


_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def describe(node: dict[str, Any]) -> str:
    """What a schema node accepts, in words (``an integer >= 1``, ``a number in (0, 1]``)."""
    if "enum" in node:
        return "one of " + ", ".join(str(v) for v in node["enum"])
    types_ = node.get("type", [])
    types_ = [types_] if isinstance(types_, str) else list(types_)
    words = " or ".join(_TYPE_WORDS.get(t, t) for t in types_) or "a value"
    if node.get("minLength") == 1:
        words = words.replace("a string", "a non-empty string")
    lo, hi = node.get("minimum"), node.get("maximum")
    xlo, xhi = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if (lo is not None or xlo is not None) and (hi is not None or xhi is not None):
        left = f"[{lo}" if lo is not None else f"({xlo}"
        right = f"{hi}]" if hi is not None else f"{xhi})"
        words += f" in {left}, {right}"
    elif lo is not None:
        words += f" >= {lo}"
    elif xlo is not None:
        words += f" > {xlo}"
    elif hi is not None:
        words += f" <= {hi}"
    elif xhi is not None:
        words += f" < {xhi}"
    if "minItems" in node and node.get("minItems") == node.get("maxItems"):
        words += f" of {node['minItems']} items"
    elif "minItems" in node:
        words += f" of at least {node['minItems']} item(s)"
    if "items" in node and isinstance(node["items"], dict) and node["items"]:
        words += f", each {describe(node['items'])}"
    return words


def _schema_node(sch: dict[str, Any], path) -> dict[str, Any]:
    node = sch
    for p in path:
        props = node.get("properties", {})
        if p in props:
            node = props[p]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            return {}
    return node


def _non_finite(obj: Any, path: tuple = ()) -> tuple[tuple, float] | None:
    if isinstance(obj, float) and not math.isfinite(obj):
        return path, obj
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        found = _non_finite(v, (*path, k))
        if found:
            return found
    return None


@functools.cache
def _validator():
    import jsonschema

    # JSON Schema counts 1.0 as an integer; the code needs an int (a number of envs, a seed)
    base = jsonschema.Draft202012Validator
    strict_int = base.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
    )
    return jsonschema.validators.extend(base, type_checker=strict_int)(_schema())


def validate(cfg: dict[str, Any]) -> None:
    """Validate a (merged) config dict against ``schema()``; raise ConfigError with one line
    naming the key, the problem and what is valid. The only validation a config gets."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"a config must be a mapping, got {type(cfg).__name__}")
    bad = _non_finite(cfg)
    if bad:
        where = ".".join(str(p) for p in bad[0])
        raise ConfigError(f"bad config value at {where}: {bad[1]} (must be a finite number)")
    sch = _schema()
    errors = sorted(_validator().iter_errors(cfg), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    err = errors[0]
    where = _error_path(err)
    if err.validator == "additionalProperties":
        # name the offending key and the valid ones
        node = _schema_node(sch, err.absolute_path)
        valid = sorted(node.get("properties", {}))
        extra = sorted((str(x) for x in set(err.instance) - set(valid)), key=str)
        hint = ""
        close = difflib.get_close_matches(extra[0], valid, n=1) if extra else []
        if close:
            hint = f" (did you mean {close[0]!r}?)"
        raise ConfigError(
            f"unknown config key {', '.join(repr(x) for x in extra)} in {where}{hint}; "
            f"valid keys: {', '.join(valid)}"
        )
    node = _schema_node(sch, err.absolute_path)
    valid = f" (valid: {describe(node)})" if node else ""
    msg = " ".join(str(err.message).split())
    if len(msg) > 160:
        msg = msg[:157] + "..."
    if isinstance(err.instance, str) and _YAML_TEXT_NUMBER.match(err.instance):
        # YAML 1.1 (PyYAML, Snakemake) reads 6e6 and 6.0e6 as text: a float needs a dot and a sign
        valid += f"; YAML reads {err.instance!r} as text, write it as {float(err.instance):.1e}"
    raise ConfigError(f"bad config value at {where}: {msg}{valid}")


_YAML_TEXT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def check_workflow(cfg: dict[str, Any]) -> None:
    """What the schema cannot say about a complete config: every method the workflow runs is in
    the registry, the figure/table lists only name methods of ``search.methods``, and the
    cost bands fit ``search.cost``."""
    s = cfg["search"]
    check_cost_bands(s)  # before any job: a search would refuse it only when it starts
    for m in {*s["methods"], *s["fig2_methods"], *s["ablation_methods"], s["main_method"]}:
        method(cfg, m)
    for m in {*s["fig2_methods"], *s["ablation_methods"]}:
        if m not in s["methods"]:
            raise ConfigError(
                f"search method {m!r} is in a figure/table list but not in search.methods"
            )


# ---- loading ------------------------------------------------------------------------------------


def load_yaml(path: str | Path) -> dict[str, Any]:
    """One config file: strict YAML (duplicate keys refused), a mapping at the top."""
    from a2d.yamlio import load_yaml as strict_yaml

    try:
        data = strict_yaml(Path(path), f"config file {path}") or {}
    except A2DError as e:
        raise ConfigError(str(e)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def load(paths: list[str | Path] = (), overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge YAML files in order, then overrides; validate; return the complete dict (every key
    left out set to its default)."""
    cfg: dict[str, Any] = {}
    for p in paths:
        cfg = deep_merge(cfg, load_yaml(p))
    if overrides:
        cfg = deep_merge(cfg, overrides)
    validate(cfg)
    return complete(cfg)


def _build(cls: type, section: dict[str, Any]) -> Any:
    return cls(**{f.name: section[f.name] for f in dataclasses.fields(cls)})


def train_config(cfg: dict[str, Any]) -> TrainConfig:
    """Build the typed TrainConfig from a config dict (keys left out: defaults)."""
    full = complete(cfg)
    validate(full)
    tc = TrainConfig(
        ppo=_build(PPOConfig, full["ppo"]),
        env=_build(EnvConfig, full["env"]),
        eval=_build(EvalConfig, full["eval"]),
        model=_build(ModelConfig, full["model"]),
        search=_build(SearchConfig, full["search"]),  # its workflow-only keys stay behind
        distill=_build(DistillConfig, full["distill"]),
        checkpoint_interval=full["checkpoint"]["interval"],
        device=full["device"],
        precision=full["precision"],
        torch_threads=full["torch_threads"],
    )
    check_train_config(tc)
    return tc


def check_cost_bands(search: dict[str, Any]) -> None:
    """``search.macs_band`` / ``latency_band``: [low, high] with 0 < low < high, and each only
    with its own ``search.cost`` (the other band would be silently unused)."""
    for key in ("macs_band", "latency_band"):
        band = search.get(key)
        if band is not None and not (len(band) == 2 and 0 < band[0] < band[1]):
            raise ConfigError(f"search.{key} must be [low, high] with 0 < low < high; got {band}")
    cost = search.get("cost", "macs")
    wrong, right = (
        ("latency_band", "macs_band") if cost == "macs" else ("macs_band", "latency_band")
    )
    if search.get(wrong) is not None:
        raise ConfigError(
            f"search.{wrong} does not apply with search.cost: {cost}; "
            f"set search.{wrong}: null (and search.{right} for a band on the {cost} cost)"
        )


def check_train_config(tc: TrainConfig) -> None:
    """What the schema cannot say: relations between keys."""
    p = tc.ppo
    if p.batch_size % p.num_minibatches:
        raise ConfigError(
            f"ppo.num_envs*ppo.num_steps ({p.batch_size}) must be divisible by "
            f"ppo.num_minibatches ({p.num_minibatches})"
        )
    check_cost_bands(dataclasses.asdict(tc.search))
    if p.num_envs % tc.env.async_groups:
        raise ConfigError(
            f"env.async_groups ({tc.env.async_groups}) must divide ppo.num_envs ({p.num_envs})"
        )


def methods(cfg: dict[str, Any]) -> dict[str, MethodConfig]:
    """The search-method registry: the defaults (``Config.methods``), overlaid by ``methods:``."""
    return {
        k: MethodConfig(**v)
        for k, v in complete({"methods": cfg.get("methods") or {}})["methods"].items()
    }


def method(cfg: dict[str, Any], name: str) -> MethodConfig:
    reg = methods(cfg)
    if name not in reg:
        raise ConfigError(f"unknown search method {name!r}; valid: {', '.join(reg)}")
    return reg[name]


def to_dict(tc: TrainConfig) -> dict[str, Any]:
    d = dataclasses.asdict(tc)
    d["checkpoint"] = {"interval": d.pop("checkpoint_interval")}
    return d


# ---- device and precision -----------------------------------------------------------------------


def cpu_native_bf16() -> bool:
    """Whether this CPU has native bfloat16 matrix instructions (AMX-BF16 or AVX512-BF16)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(name: str, device: str) -> str:
    """``precision`` -> fp32 or bf16 for ``device`` (a resolved device: cpu or cuda)."""
    import torch

    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; valid: {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_native_bf16() else "fp32"


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device: cuda was asked for but no CUDA GPU is available; valid: auto, cpu"
        )
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}")
    return name


# ---- the generated files ------------------------------------------------------------------------


def schema_yaml() -> str:
    """The text of ``workflow/schemas/config.schema.yaml``."""
    return (
        f"# GENERATED by `python -m a2d.config --schema > {_SCHEMA_FILE}`\n"
        "# from the dataclasses of src/a2d/config.py: edit those, then regenerate.\n"
        + yaml.dump(schema(), Dumper=_SchemaDumper, sort_keys=False, width=100)
    )


class _SchemaDumper(yaml.SafeDumper):
    """Mappings as blocks, lists on one line."""


_SchemaDumper.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def _cell(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return "`" + text.replace("|", "\\|") + "`"


def docs_markdown() -> str:
    """The text of ``docs/configuration.md``: every key, its default, what it accepts, its doc."""
    lines = [
        "# Configuration reference",
        "",
        f"<!-- GENERATED by `python -m a2d.config --docs > {_DOCS_FILE}` from the dataclasses of"
        " src/a2d/config.py: edit those, then regenerate. -->",
        "",
        "Every key a config file (`config.yaml`, `presets/*.yaml`, `a2d ... --config FILE`) or"
        " `a2d ... --set section.key=value` accepts. A key left out takes its default; unknown"
        " keys and bad values are refused with a one-line error.",
    ]

    def section(title: str, node: dict[str, Any], prefix: str, doc: str) -> None:
        lines.extend(["", f"## {title}", ""])
        if doc:
            lines.extend([doc, ""])
        lines.extend(["| key | default | accepts | meaning |", "|---|---|---|---|"])
        nested = []
        for name, sub in node["properties"].items():
            if "properties" in sub:
                nested.append((name, sub))
                continue
            accepts = describe(sub)
            if sub.get("type") == "object":
                accepts = "a mapping: name -> " + ", ".join(
                    sub["additionalProperties"]["properties"]
                )
            doc = sub["description"].replace("|", r"\|")
            lines.append(f"| `{prefix}{name}` | {_cell(sub['default'])} | {accepts} | {doc} |")
        for name, sub in nested:
            section(f"`{prefix}{name}`", sub, f"{prefix}{name}.", sub["description"])

    sch = schema()
    section("Top level", sch, "", "")
    entry = sch["properties"]["methods"]["additionalProperties"]
    section(
        "`methods.<name>`",
        {"properties": {k: {**v} for k, v in entry["properties"].items()}},
        "methods.<name>.",
        "One entry of the method registry (a key left out of an entry: this default).",
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m a2d.config",
        description="Print the files generated from the config dataclasses.",
    )
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--schema", action="store_true", help=f"the JSON schema ({_SCHEMA_FILE})")
    what.add_argument("--docs", action="store_true", help=f"the key reference ({_DOCS_FILE})")
    a = ap.parse_args(argv)
    sys.stdout.write(schema_yaml() if a.schema else docs_markdown())


if __name__ == "__main__":
    from a2d import config as _config  # the importable module, not a second copy as __main__

    _config.main()
