"""a2d.config: loading, validation, defaults, typed config."""

from __future__ import annotations

import json

import pytest

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
    assert cfg == {"ppo": {"num_envs": 4, "num_steps": 64}, "seeds": [1, 2]}


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
