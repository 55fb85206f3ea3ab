"""a2d.config: loading, validation, defaults, typed config."""

from __future__ import annotations

import json

import pytest
import yaml

from a2d import A2DError, config
from a2d.config import ConfigError


def test_config_error_is_user_facing():
    assert issubclass(ConfigError, A2DError)


# ---- unknown keys -------------------------------------------------------------------------


def test_unknown_top_level_key_names_key_and_valid_keys():
    with pytest.raises(ConfigError) as e:
        config.load(overrides={"gamez": ["Breakout"]})
    msg = str(e.value)
    assert "'gamez'" in msg
    assert "valid keys" in msg
    for valid in ("games", "figure_games", "ppo", "eval", "seeds"):
        assert valid in msg


def test_unknown_nested_key_names_key_section_and_valid_keys():
    with pytest.raises(ConfigError) as e:
        config.load(overrides={"ppo": {"learning_rat": 1e-3}})
    msg = str(e.value)
    assert "'learning_rat'" in msg
    assert "ppo" in msg
    assert "learning_rate" in msg and "clip_coef" in msg
    assert "\n" not in msg


def test_unknown_key_in_yaml_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("eval:\n  episodez: 3\n")
    with pytest.raises(ConfigError, match="episodez"):
        config.load([p])


# ---- types and ranges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "over, where",
    [
        ({"ppo": {"gamma": 1.5}}, "ppo.gamma"),
        ({"ppo": {"total_steps": -5}}, "ppo.total_steps"),
        ({"ppo": {"num_envs": 0}}, "ppo.num_envs"),
        ({"ppo": {"num_envs": "8"}}, "ppo.num_envs"),
        ({"ppo": {"learning_rate": 0}}, "ppo.learning_rate"),
        ({"ppo": {"anneal_lr": "yes"}}, "ppo.anneal_lr"),
        ({"eval": {"sticky": 1.5}}, "eval.sticky"),
        ({"env": {"frameskip": 0}}, "env.frameskip"),
        ({"model": {"norm": "layer"}}, "model.norm"),
        ({"search": {"stem_stride": 3}}, "search.stem_stride"),
        ({"device": "tpu"}, "device"),
        ({"precision": "fp16"}, "precision"),
        ({"env": {"async_groups": 0}}, "env.async_groups"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"games": []}, "games"),
    ],
)
def test_bad_values_refused(over, where):
    with pytest.raises(ConfigError) as e:
        config.load(overrides=over)
    assert where in str(e.value)


def test_valid_overrides_accepted():
    cfg = config.load(overrides={"ppo": {"gamma": 1.0, "target_kl": None}, "device": "cpu"})
    assert cfg["ppo"]["gamma"] == 1.0
    assert config.train_config(cfg).device == "cpu"


# ---- deep_merge ---------------------------------------------------------------------------


def test_deep_merge_overlays_nested_and_keeps_siblings():
    base = {"ppo": {"num_envs": 8, "gamma": 0.99}, "games": ["A", "B"], "device": "auto"}
    over = {"ppo": {"num_envs": 2}, "games": ["C"], "seeds": [1]}
    out = config.deep_merge(base, over)
    assert out == {
        "ppo": {"num_envs": 2, "gamma": 0.99},
        "games": ["C"],  # lists are replaced, not concatenated
        "device": "auto",
        "seeds": [1],
    }


def test_deep_merge_scalar_replaces_dict_and_dict_replaces_scalar():
    assert config.deep_merge({"a": {"x": 1}}, {"a": 3}) == {"a": 3}
    assert config.deep_merge({"a": 3}, {"a": {"x": 1}}) == {"a": {"x": 1}}


def test_deep_merge_does_not_mutate_inputs():
    base = {"ppo": {"num_envs": 8}}
    over = {"ppo": {"gamma": 0.9}, "games": ["A"]}
    out = config.deep_merge(base, over)
    out["ppo"]["num_envs"] = 1
    out["games"].append("B")
    assert base == {"ppo": {"num_envs": 8}}
    assert over == {"ppo": {"gamma": 0.9}, "games": ["A"]}


def test_load_merges_files_in_order_then_overrides(tmp_path):
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("ppo: {num_envs: 8, num_steps: 128}\nseeds: [1, 2]\n")
    b.write_text("ppo: {num_envs: 4}\n")
    cfg = config.load([a, b], {"ppo": {"num_steps": 64}})
    assert (cfg["ppo"]["num_envs"], cfg["ppo"]["num_steps"], cfg["seeds"]) == (4, 64, [1, 2])
    assert cfg == config.complete({"ppo": {"num_envs": 4, "num_steps": 64}, "seeds": [1, 2]})


# ---- the shipped files --------------------------------------------------------------------


def test_config_yaml_validates(repo):
    cfg = config.load([repo / "config.yaml"])
    tc = config.train_config(cfg)
    assert tc.ppo.total_steps == cfg["ppo"]["total_steps"]
    assert tc.checkpoint_interval == cfg["checkpoint"]["interval"]
    assert tc.eval.num_envs == cfg["eval"]["num_envs"]


def test_presets_validate(repo):
    presets = sorted((repo / "presets").glob("*.yaml"))
    assert presets, "no presets found"
    for preset in presets:
        cfg = config.load([repo / "config.yaml", preset])
        config.train_config(cfg)


def test_smoke_preset_overlays_config_yaml(repo):
    cfg = config.load([repo / "config.yaml", repo / "presets" / "smoke.yaml"])
    assert cfg["ppo"]["total_steps"] == 1024
    assert cfg["ppo"]["learning_rate"] == 2.5e-4  # inherited from config.yaml
    assert cfg["games"] == ["Breakout"]


@pytest.mark.parametrize(
    "text, match",
    [(None, "not found"), ("a: [1, 2\n", "not valid YAML"), ("- 1\n- 2\n", "mapping")],
)
def test_load_yaml_errors(tmp_path, text, match):
    p = tmp_path / "c.yaml"
    if text is not None:
        p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        config.load_yaml(p)


def test_empty_yaml_is_empty_mapping(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("")
    assert config.load_yaml(p) == {}


# ---- typed config -------------------------------------------------------------------------


def test_train_config_defaults_are_cleanrl_ppo_atari():
    tc = config.train_config({})
    p = tc.ppo
    assert p.total_steps == 10_000_000
    assert p.learning_rate == 2.5e-4
    assert p.num_envs == 8
    assert p.num_steps == 128
    assert p.anneal_lr is True
    assert p.gamma == 0.99
    assert p.gae_lambda == 0.95
    assert p.num_minibatches == 4
    assert p.update_epochs == 4
    assert p.norm_adv is True
    assert p.clip_coef == 0.1
    assert p.clip_vloss is True
    assert p.ent_coef == 0.01
    assert p.vf_coef == 0.5
    assert p.max_grad_norm == 0.5
    assert p.adam_eps == 1e-5
    assert p.target_kl is None
    assert p.batch_size == 1024
    assert p.minibatch_size == 256
    e = tc.env
    assert e.repeat_action_probability == 0.0
    assert e.frameskip == 4
    assert e.noop_max == 30
    assert e.episodic_life is True
    assert e.fire_on_life_loss is True
    assert e.reward_clipping is True
    assert e.max_episode_frames == 108_000
    assert tc.model.fc_dim == 512
    assert tc.model.norm == "none"
    assert tc.device == "auto"


def test_train_config_partial_section_keeps_other_defaults():
    tc = config.train_config({"ppo": {"num_envs": 2}, "torch_threads": 3, "device": "cpu"})
    assert tc.ppo.num_envs == 2
    assert tc.ppo.num_steps == 128
    assert tc.torch_threads == 3
    assert tc.device == "cpu"


def test_batch_not_divisible_by_minibatches_refused():
    with pytest.raises(ConfigError) as e:
        config.train_config({"ppo": {"num_envs": 3, "num_steps": 5, "num_minibatches": 4}})
    assert "num_minibatches" in str(e.value)
    assert "15" in str(e.value)


def test_precision_and_async_groups_read_and_checked():
    tc = config.train_config(
        config.load(overrides={"precision": "fp32", "env": {"async_groups": 4}})
    )
    assert (tc.precision, tc.env.async_groups) == ("fp32", 4)
    assert config.train_config({}).precision == "auto"
    assert config.train_config({}).env.async_groups == 1
    with pytest.raises(ConfigError, match=r"env.async_groups \(3\) must divide ppo.num_envs \(8\)"):
        config.train_config({"env": {"async_groups": 3}})


def test_to_dict_is_a_valid_config_that_round_trips():
    tc = config.train_config({"ppo": {"num_envs": 2}, "checkpoint": {"interval": 77}})
    d = json.loads(json.dumps(config.to_dict(tc)))  # as a run records it
    config.validate(d)  # what a run records is itself a valid config
    assert d["checkpoint"] == {"interval": 77}
    back = config.train_config(d)
    for section in ("ppo", "env", "eval", "model"):
        assert getattr(back, section) == getattr(tc, section)
    assert back.checkpoint_interval == 77
    assert (back.device, back.torch_threads) == (tc.device, tc.torch_threads)


# ---- device -------------------------------------------------------------------------------


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a CUDA GPU is present")
def test_resolve_device_cuda_without_gpu_raises():
    with pytest.raises(ConfigError, match="cuda"):
        config.resolve_device("cuda")


def test_resolve_device_without_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.resolve_device("auto") == "cpu"
    assert config.resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError):
        config.resolve_device("cuda")


def test_resolve_device_unknown_name():
    with pytest.raises(ConfigError, match="unknown device"):
        config.resolve_device("tpu")


# ---- one definition: the dataclasses ------------------------------------------------------

_TYPE_OF = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
_RANGE = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _check_object(cls, node, path):
    """The committed schema node of dataclass ``cls`` says what its fields say, key for key."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls, globalns=vars(config))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert node["additionalProperties"] is False, path
    assert list(node["properties"]) == list(fields), f"{path}: schema keys != dataclass fields"
    for name, f in fields.items():
        where, prop, tp = f"{path}{name}", node["properties"][name], hints[name]
        assert prop["description"], where
        if dataclasses.is_dataclass(tp):
            _check_object(tp, prop, where + ".")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if typing.get_origin(tp) is dict:  # the method registry
            default = {k: dataclasses.asdict(v) for k, v in default.items()}
            _check_object(config.MethodConfig, prop["additionalProperties"], where + ".<name>.")
        assert prop["default"] == default, where
        args = typing.get_args(tp)
        nullable = type(None) in args
        if nullable:
            (tp,) = [a for a in args if a is not type(None)]
        if typing.get_origin(tp) is typing.Literal:
            assert prop["enum"] == list(typing.get_args(tp)), where
            continue
        kind = "object" if typing.get_origin(tp) is dict else _TYPE_OF[typing.get_origin(tp) or tp]
        assert prop["type"] == ([kind, "null"] if nullable else kind), where
        meta = f.metadata
        for key, word in _RANGE.items():
            assert prop.get(word) == meta.get(key), f"{where}: {word}"
        if kind == "array":
            length = meta.get("length")
            assert prop.get("minItems") == (length or (1 if meta.get("nonempty") else None)), where
            assert prop.get("maxItems") == length, where
            assert prop.get("uniqueItems", False) == meta.get("unique", False), where
            items = meta.get("items", {})
            for key, word in _RANGE.items():
                assert prop["items"].get(word) == items.get(key), f"{where} items: {word}"
        elif kind == "string":
            assert prop.get("minLength") == (1 if meta.get("nonempty") else None), where


def test_committed_schema_is_the_generated_one(repo):
    committed = (repo / "workflow" / "schemas" / "config.schema.yaml").read_text()
    assert committed == config.schema_yaml(), (
        "workflow/schemas/config.schema.yaml is stale: run "
        "`python -m a2d.config --schema > workflow/schemas/config.schema.yaml`"
    )


def test_committed_schema_matches_the_dataclasses_both_ways(repo):
    import yaml

    committed = yaml.safe_load((repo / "workflow" / "schemas" / "config.schema.yaml").read_text())
    _check_object(config.Config, committed, "")


def test_committed_docs_are_the_generated_ones(repo):
    committed = (repo / "docs" / "configuration.md").read_text()
    assert committed == config.docs_markdown(), (
        "docs/configuration.md is stale: run `python -m a2d.config --docs > docs/configuration.md`"
    )
    for key in ("`ppo.learning_rate` | `0.00025`", "`resources.gpu` | `1`", "`search.mode`"):
        assert key in committed


def test_generator_command_prints_the_files(repo, venv_env):
    import subprocess
    import sys

    env = {**venv_env, "PYTHONPATH": str(repo / "src")}
    for flag, text in (("--schema", config.schema_yaml()), ("--docs", config.docs_markdown())):
        p = subprocess.run(
            [sys.executable, "-m", "a2d.config", flag], capture_output=True, text=True, env=env
        )
        assert p.returncode == 0, p.stderr
        assert p.stdout == text


def test_a_new_field_reaches_the_schema_with_its_range_and_default():
    """What adding a hyperparameter takes: one field; its schema node follows from it."""
    import dataclasses

    @dataclasses.dataclass
    class Section:
        width: int = config.setting(3, ge=1)
        """Width."""
        band: list[float] | None = config.setting(None, length=2, items=dict(gt=0, lt=1))
        """Band."""

    node = config._object_node(Section)
    assert node["properties"]["width"] == {
        "description": "Width.",
        "type": "integer",
        "minimum": 1,
        "default": 3,
    }
    band = node["properties"]["band"]
    assert band["type"] == ["array", "null"] and (band["minItems"], band["maxItems"]) == (2, 2)
    assert band["items"] == {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}


def test_defaults_are_a_valid_complete_config():
    d = config.defaults()
    config.validate(d)
    assert config.complete({}) == d
    assert list(d) == [f.name for f in __import__("dataclasses").fields(config.Config)]


def test_choices_are_defined_once_and_used_by_the_schema():
    props = config.schema()["properties"]
    assert tuple(props["device"]["enum"]) == config.DEVICES == ("auto", "cpu", "cuda")
    assert tuple(props["precision"]["enum"]) == config.PRECISIONS == ("auto", "fp32", "bf16")
    assert tuple(props["model"]["properties"]["norm"]["enum"]) == config.NORMS
    assert tuple(props["search"]["properties"]["mode"]["enum"]) == config.SEARCH_MODES
    method = props["methods"]["additionalProperties"]["properties"]
    assert tuple(method["optimisation"]["enum"]) == config.OPTIMISATIONS
    assert config.OPTIMISATIONS == ("one_level", "bi_level")


@pytest.mark.parametrize(
    "over, words",
    [
        ({"search": {"mode": "medium"}}, ["search.mode", "hard, soft"]),
        ({"model": {"norm": "layer"}}, ["model.norm", "none, batch, group"]),
        ({"precision": "fp16"}, ["precision", "auto, fp32, bf16"]),
        ({"methods": {"m": {"optimisation": "tri_level"}}}, ["methods.m.optimisation", "bi_level"]),
        ({"resources": {"gpu": -1}}, ["resources.gpu", "an integer >= 0"]),
        ({"results": ""}, ["results", "a non-empty string"]),
    ],
)
def test_bad_choices_refused_in_one_line_by_load_and_train_config(over, words):
    for build in (config.load, config.train_config):
        with pytest.raises(ConfigError) as e:
            build(overrides=over) if build is config.load else build(over)
        msg = str(e.value)
        assert "\n" not in msg
        for w in words:
            assert w in msg, (build.__name__, msg)


# ---- complete configs -----------------------------------------------------------------------


def test_complete_fills_defaults_and_keeps_given_keys_and_order():
    cfg = {"search": {"steps": 5, "methods": ["vanilla_dnas"]}, "ppo": {"num_steps": 64}}
    full = config.complete(cfg)
    assert full["search"]["steps"] == 5 and full["search"]["mode"] == "hard"
    assert full["ppo"]["num_steps"] == 64 and full["ppo"]["gamma"] == 0.99
    assert full["resources"] == {
        "train_threads": 2,
        "train_mem_mb": 6000,
        "gpu": 1,
        "jobs_per_gpu": 1,
    }
    assert full["search"]["main_method"] == "a2d_one_level"
    assert full["baselines"] == ["vanilla", "resnet14", "resnet20"]
    # the given keys first, in their order; then the rest in field order
    assert list(full)[:2] == ["search", "ppo"]
    assert list(full["search"])[:3] == ["steps", "methods", "mode"]
    assert cfg == {"search": {"steps": 5, "methods": ["vanilla_dnas"]}, "ppo": {"num_steps": 64}}
    assert config.complete(full) == full and list(config.complete(full)) == list(full)


def test_complete_methods_registry():
    full = config.complete({"methods": {"mine": {"critic": 0.0}, "a2d_bi_level": {"actor": 2.0}}})
    reg = full["methods"]
    assert reg["mine"] == {"critic": 0.0, "actor": 1.0, "optimisation": "one_level"}
    assert reg["a2d_bi_level"] == {"actor": 2.0, "critic": 0.5, "optimisation": "bi_level"}
    assert set(config.DEFAULT_METHODS) < set(reg)
    assert config.methods(full)["mine"] == config.MethodConfig(1.0, 0.0, "one_level")


def test_shipped_config_is_complete_after_load_and_asks_for_a_gpu(repo):
    cfg = config.load([repo / "config.yaml"])
    assert cfg["resources"]["gpu"] == 1  # config.yaml's value is the default
    assert config.ResourcesConfig().gpu == 1
    assert cfg["ppo"] == config.defaults()["ppo"] | {"total_steps": 10_000_000}
    assert cfg["methods"] == config.defaults()["methods"]
    quick = config.load([repo / "config.yaml", repo / "presets" / "quick.yaml"])
    assert quick["resources"]["gpu"] == 0 and quick["search"]["main_method"] == "a2d_one_level"


def test_check_workflow_method_lists():
    config.check_workflow(config.defaults())
    bad = config.complete({"search": {"main_method": "nope"}})
    with pytest.raises(ConfigError, match="unknown search method 'nope'"):
        config.check_workflow(bad)
    bad = config.complete({"search": {"methods": ["vanilla_dnas"]}})
    with pytest.raises(
        ConfigError, match=r"'a2d_\w+' is in a figure/table list but not in search.methods"
    ):
        config.check_workflow(bad)


def test_search_cost_keys_and_their_bands():
    tc = config.train_config({})
    assert (tc.search.cost, tc.search.cost_target, tc.search.latency_band) == (
        "macs",
        "onnxruntime-cpu",
        None,
    )
    tc = config.train_config({"search": {"cost": "latency", "latency_band": [0.5, 1.0]}})
    assert tc.search.cost == "latency" and tc.search.latency_band == [0.5, 1.0]
    with pytest.raises(ConfigError, match="search.cost_target"):
        config.train_config({"search": {"cost_target": "tpu"}})
    with pytest.raises(ConfigError, match=r"search.latency_band must be \[low, high\]"):
        config.train_config({"search": {"cost": "latency", "latency_band": [2.0, 1.0]}})
    with pytest.raises(
        ConfigError, match="search.latency_band does not apply with search.cost: macs"
    ):
        config.train_config({"search": {"latency_band": [0.5, 1.0]}})
    with pytest.raises(
        ConfigError, match="search.macs_band does not apply with search.cost: latency"
    ):
        config.train_config({"search": {"cost": "latency", "macs_band": [1e6, 2e6]}})


def test_the_workflow_refuses_a_band_of_the_other_cost_before_any_job():
    cfg = config.complete({"search": {"cost": "latency", "macs_band": [1e6, 2e6]}})
    with pytest.raises(ConfigError, match=r"set search.macs_band: null"):
        config.check_workflow(cfg)
    config.check_workflow(config.complete({"search": {"cost": "latency"}}))


@pytest.mark.parametrize("text", ["6.0e6", "2e7", "1E-3"])
def test_yaml_text_number_gets_a_hint(text):
    """PyYAML (and Snakemake) read 6e6 / 6.0e6 as a string; the error says how to write it."""
    with pytest.raises(ConfigError) as e:
        config.load(overrides={"search": {"macs_band": [text, 3.0e7]}})
    msg = str(e.value)
    assert "search.macs_band.0" in msg and f"YAML reads {text!r} as text" in msg
    written = msg.rsplit("write it as ", 1)[1]
    assert yaml.safe_load(written) == float(text)  # the suggested spelling parses as that number


def test_other_text_gets_no_yaml_hint():
    with pytest.raises(ConfigError) as e:
        config.load(overrides={"ppo": {"gamma": "high"}})
    assert "YAML reads" not in str(e.value)
