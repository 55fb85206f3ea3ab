"""Configuration: one typed place for every hyperparameter, loading and validation.

The same loader serves the CLI and the Snakemake workflow: YAML files are deep-merged in order
(config.yaml, then a preset), validated against ``workflow/schemas/config.schema.yaml`` (unknown
keys refused, types and ranges checked), and turned into the dataclasses below. A key missing
from the files takes the dataclass default, which is the CleanRL ``ppo_atari.py`` value.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from a2d import A2DError


class ConfigError(A2DError):
    pass


@dataclass
class PPOConfig:
    total_steps: int = 10_000_000
    """Environment steps (agent decisions, summed over envs; 1 step = `frameskip` frames)."""
    num_envs: int = 8
    """Parallel training environments."""
    num_steps: int = 128
    """Rollout length per environment per PPO iteration."""
    learning_rate: float = 2.5e-4
    """Adam learning rate (start value when annealed)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over `total_steps`."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    num_minibatches: int = 4
    """Minibatches per epoch (minibatch size = num_envs * num_steps / num_minibatches)."""
    update_epochs: int = 4
    """PPO epochs per rollout."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    clip_coef: float = 0.1
    """PPO surrogate clipping coefficient."""
    clip_vloss: bool = True
    """Clip the value loss as in the PPO paper's implementation."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    adam_eps: float = 1e-5
    """Adam epsilon."""
    target_kl: float | None = None
    """Stop the epochs of an update early once the approximate KL exceeds this (None: never)."""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


@dataclass
class EnvConfig:
    repeat_action_probability: float = 0.0
    """Sticky actions during training (set explicitly; ALE v5's default would be 0.25)."""
    frameskip: int = 4
    """Frames per agent step (observation is the max of the last two)."""
    noop_max: int = 30
    """Up to this many no-op steps after a reset."""
    episodic_life: bool = True
    """A lost life ends the episode for the value bootstrap (the game itself goes on)."""
    fire_on_life_loss: bool = True
    """After a lost life the next action is FIRE (CleanRL's FireReset over EpisodicLife order);
    only in games whose action 1 is FIRE. It is part of the environment's dynamics."""
    reward_clipping: bool = True
    """Clip training rewards to their sign (training only; test scores are never clipped)."""
    max_episode_frames: int = 108_000
    """Truncate a training episode after this many frames (30 min of play)."""
    num_threads: int = 0
    """Threads of ale-py's vector env (0 = its own choice), per env group."""
    async_groups: int = 1
    """Split the ``ppo.num_envs`` training envs into this many groups stepped asynchronously:
    while one group's emulators run (ale-py's own threads), the net acts for another, so env
    stepping and inference overlap. 1 = the classic synchronous loop. Each env sees the same
    emulator and seed either way; only the order of the policy's random draws changes. Must
    divide ``ppo.num_envs``. Pays most on a GPU (whose inference otherwise idles the emulators)."""


@dataclass
class EvalConfig:
    episodes: int = 30
    """Test episodes of the final evaluation (eval.json)."""
    curve_episodes: int = 30
    """Test episodes of each periodic evaluation during training (curve.csv)."""
    interval: int = 250_000
    """Environment steps between periodic test evaluations (step 0 is always evaluated)."""
    num_envs: int = 8
    """Test episodes run in parallel."""
    frame_cap: int = 108_000
    """Frames after which a test episode is cut (108k frames = 30 min of play)."""
    sticky: float = 0.0
    """repeat_action_probability during test episodes."""
    noop_max: int = 30
    """Random no-op starts of test episodes."""


@dataclass
class ModelConfig:
    norm: str = "none"
    """Normalisation inside residual/searchable blocks: none | batch | group."""
    fc_dim: int = 512
    """Width of the fully connected layer before the actor and critic heads."""


@dataclass
class MethodConfig:
    """One search method of the registry (DESIGN.md §2 table)."""

    actor: float = 1.0
    """lambda_a: weight of KL(pi_teacher || pi_student) (0 = no actor distillation)."""
    critic: float = 0.5
    """lambda_c: weight of (V_student - V_teacher)^2 (0 = no critic distillation)."""
    optimisation: str = "one_level"
    """one_level: weights and alpha step on every minibatch from one backward pass;
    bi_level: minibatches alternate between a weights step and an alpha step (first order)."""


DEFAULT_METHODS = {
    "vanilla_dnas": MethodConfig(0.0, 0.0, "one_level"),
    "a2d_one_level": MethodConfig(1.0, 0.5, "one_level"),
    "a2d_bi_level": MethodConfig(1.0, 0.5, "bi_level"),
    "a2d_actor_only": MethodConfig(1.0, 0.0, "one_level"),
    "a2d_critic_only": MethodConfig(0.0, 0.5, "one_level"),
}


@dataclass
class SearchConfig:
    steps: int = 10_000_000
    """Environment steps of one search (PPO on the supernet)."""
    mode: str = "hard"
    """hard: straight-through Gumbel, only the sampled op runs; soft: weighted sum of all ops."""
    tau_start: float = 5.0
    """Gumbel-softmax temperature at the end of the warm-up."""
    tau_end: float = 0.5
    """Temperature at the end of the search (annealed exponentially)."""
    warmup: float = 0.2
    """Fraction of the search that trains weights only, ops sampled uniformly."""
    alpha_lr: float = 3e-4
    """Adam learning rate of alpha."""
    alpha_betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    """Adam betas of alpha."""
    lambda_f: float = 0.1
    """Weight of the cost term lambda_f * E_alpha[MACs] / MACs_ref."""
    macs_ref_arch: str = "vanilla"
    """MACs_ref = the MACs of this architecture."""
    macs_band: list[float] | None = None
    """Optional [low, high] MACs of the derived net: lambda_f doubles above it, halves below."""
    eval_interval: int | None = None
    """Steps between test evaluations of the argmax architecture during a search (Fig 2);
    None: eval.interval, but at least 8 points per search."""


@dataclass
class DistillConfig:
    actor: float = 1.0
    """lambda_a of retraining a searched net with its teacher (0 = off)."""
    critic: float = 0.5
    """lambda_c of retraining a searched net with its teacher (0 = off)."""


@dataclass
class TrainConfig:
    """Everything one training run needs (what `a2d train` and the `train` rule consume)."""

    ppo: PPOConfig = field(default_factory=PPOConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    checkpoint_interval: int = 500_000
    """Environment steps between resume checkpoints."""
    device: str = "auto"
    """auto | cpu | cuda."""
    precision: str = "auto"
    """fp32 | bf16 | auto. bf16: the nets' convolutions and hidden layers run under bfloat16
    autocast (weights, optimiser, policy/value heads and losses stay float32); auto: bf16 on a
    CUDA GPU with bf16 support and on a CPU with native bf16 instructions (AMX or AVX512-BF16),
    float32 elsewhere. On a CPU, depthwise convolutions stay float32 (measured slower in bf16)."""
    torch_threads: int = 0
    """Intra-op CPU threads (0 = one per core on a CPU run, 1 on a GPU run)."""


_SECTIONS = {
    "ppo": PPOConfig,
    "env": EnvConfig,
    "eval": EvalConfig,
    "model": ModelConfig,
    "search": SearchConfig,
    "distill": DistillConfig,
}


_WORKFLOW_ONLY = {"search": ("methods", "fig2_methods", "ablation_methods", "main_method")}


def schema() -> dict[str, Any]:
    with resources.files("a2d").joinpath("config.schema.yaml").open() as f:
        return yaml.safe_load(f)


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


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
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    words = " or ".join(_TYPE_WORDS.get(t, t) for t in types) or "a value"
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


def validate(cfg: dict[str, Any]) -> None:
    """Validate a merged config dict against the schema; raise ConfigError with one line naming
    the key, the problem and what is valid."""
    import jsonschema

    if not isinstance(cfg, dict):
        raise ConfigError(f"a config must be a mapping, got {type(cfg).__name__}")
    bad = _non_finite(cfg)
    if bad:
        where = ".".join(str(p) for p in bad[0])
        raise ConfigError(f"bad config value at {where}: {bad[1]} (must be a finite number)")
    sch = schema()
    validator = jsonschema.Draft202012Validator(sch)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: [str(p) for p in e.absolute_path])
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
    raise ConfigError(f"bad config value at {where}: {msg}{valid}")


def load_yaml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(
            f"config file {path} is not valid YAML: {str(e).splitlines()[0]}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def load(paths: list[str | Path] = (), overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge YAML files in order, then overrides; validate; return the raw dict."""
    cfg: dict[str, Any] = {}
    for p in paths:
        cfg = deep_merge(cfg, load_yaml(p))
    if overrides:
        cfg = deep_merge(cfg, overrides)
    validate(cfg)
    return cfg


def train_config(cfg: dict[str, Any]) -> TrainConfig:
    """Build the typed TrainConfig from a validated config dict (missing keys: defaults)."""
    kwargs: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        section = dict(cfg.get(name, {}))
        for key in _WORKFLOW_ONLY.get(name, ()):  # read by the workflow, not by one run
            section.pop(key, None)
        kwargs[name] = cls(**section)
    tc = TrainConfig(**kwargs)
    if "checkpoint" in cfg and "interval" in cfg["checkpoint"]:
        tc.checkpoint_interval = cfg["checkpoint"]["interval"]
    if "device" in cfg:
        tc.device = cfg["device"]
    if "torch_threads" in cfg:
        tc.torch_threads = cfg["torch_threads"]
    if "precision" in cfg:
        tc.precision = cfg["precision"]
    check_train_config(tc)
    return tc


def check_train_config(tc: TrainConfig) -> None:
    p = tc.ppo
    if p.batch_size % p.num_minibatches:
        raise ConfigError(
            f"ppo.num_envs*ppo.num_steps ({p.batch_size}) must be divisible by "
            f"ppo.num_minibatches ({p.num_minibatches})"
        )
    if tc.search.mode not in ("hard", "soft"):
        raise ConfigError(f"search.mode must be hard or soft; got {tc.search.mode!r}")
    band = tc.search.macs_band
    if band is not None and not (len(band) == 2 and 0 < band[0] < band[1]):
        raise ConfigError(f"search.macs_band must be [low, high] with 0 < low < high; got {band}")
    if p.num_envs % tc.env.async_groups:
        raise ConfigError(
            f"env.async_groups ({tc.env.async_groups}) must divide ppo.num_envs ({p.num_envs})"
        )
    if tc.precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {tc.precision!r}; valid: {', '.join(PRECISIONS)}")
    if tc.model.norm not in ("none", "batch", "group"):
        raise ConfigError(f"model.norm must be one of none, batch, group; got {tc.model.norm!r}")


def methods(cfg: dict[str, Any]) -> dict[str, MethodConfig]:
    """The search-method registry: the defaults of DESIGN.md §2, overlaid by ``methods:``."""
    out = {k: dataclasses.replace(v) for k, v in DEFAULT_METHODS.items()}
    for name, m in (cfg.get("methods") or {}).items():
        out[name] = MethodConfig(**{**dataclasses.asdict(out.get(name, MethodConfig())), **m})
    return out


def method(cfg: dict[str, Any], name: str) -> MethodConfig:
    reg = methods(cfg)
    if name not in reg:
        raise ConfigError(f"unknown search method {name!r}; valid: {', '.join(reg)}")
    return reg[name]


def to_dict(tc: TrainConfig) -> dict[str, Any]:
    d = dataclasses.asdict(tc)
    d["checkpoint"] = {"interval": d.pop("checkpoint_interval")}
    return d


PRECISIONS = ("auto", "fp32", "bf16")


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
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; valid: auto, cpu, cuda")
    return name
