"""Random malformed configs and arch.json files are refused with a named, one-line error
(A2DError, which the CLI prints as ``a2d: error: ...``, exit 2) and never crash with a traceback."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2d import A2DError, config
from a2d.models.builder import build, check_spec, derived_spec, get_spec
from a2d.models.ops import CELL_OPS

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples in every CI run
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
SECTIONS = {
    "ppo": list(config.PPOConfig.__dataclass_fields__),
    "env": list(config.EnvConfig.__dataclass_fields__),
    "eval": list(config.EvalConfig.__dataclass_fields__),
    "model": list(config.ModelConfig.__dataclass_fields__),
    "search": list(config.SearchConfig.__dataclass_fields__),
    "distill": list(config.DistillConfig.__dataclass_fields__),
    "checkpoint": ["interval"],
}


def misspell(key: str, r: random.Random) -> str:
    i = r.randrange(len(key))
    return key[:i] + key[i + 1 :] if len(key) > 1 else key + "x"


@st.composite
def malformed_configs(draw):
    """A config with one or more real keys given random values, or a misspelled key."""
    cfg: dict = {}
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(SECTIONS)))
        key = draw(st.sampled_from(SECTIONS[section]))
        if draw(st.booleans()):
            key = misspell(key, random.Random(draw(st.integers(0, 1000))))
        cfg.setdefault(section, {})[key] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        cfg[draw(st.text(max_size=6))] = draw(json_values)
    if draw(st.integers(0, 5)) == 0:
        cfg[draw(st.sampled_from(sorted(SECTIONS)))] = draw(scalars)
    return cfg


def assert_one_line(e: A2DError) -> None:
    msg = str(e)
    assert msg and "\n" not in msg and "Traceback" not in msg


@SETTINGS
@given(malformed_configs())
def test_malformed_configs_are_refused_by_name_or_accepted(cfg):
    try:
        config.train_config(config.load([], cfg))
    except A2DError as e:
        assert_one_line(e)
        assert "config" in str(e) or "must" in str(e) or "divisible" in str(e)


@SETTINGS
@given(json_values)
def test_any_json_as_arch_spec_is_refused_by_name(spec):
    try:
        check_spec(spec, "arch.json")
    except A2DError as e:
        assert_one_line(e)
        assert "arch.json" in str(e)
    else:  # random JSON is never a valid net, except a spec with real layers
        assert isinstance(spec, dict) and spec.get("layers")


@st.composite
def mutated_arch_json(draw):
    """A real derived arch.json with one or two faults: an op, a cell count, a key, a type."""
    ops = [draw(st.sampled_from(CELL_OPS)) for _ in range(14)]
    spec = json.loads(json.dumps(derived_spec(ops)))
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["op", "cells", "drop", "type", "layer", "layer_key"]))
        if kind == "op" and isinstance(spec.get("ops"), list) and spec["ops"]:
            spec["ops"][draw(st.integers(0, len(spec["ops"]) - 1))] = draw(st.text(max_size=6))
        elif kind == "cells":
            n = draw(st.integers(0, 20))
            base = spec["ops"] if isinstance(spec.get("ops"), list) else ops
            spec["ops"] = base[:n] + ["skip"] * max(0, n - 14)
        elif kind == "drop":
            spec.pop(draw(st.sampled_from(["ops", "layers", "arch", "fc"])), None)
        elif kind == "type":
            spec[draw(st.sampled_from(["ops", "layers", "fc", "arch"]))] = draw(json_values)
        elif kind == "layer" and isinstance(spec.get("layers"), list) and spec["layers"]:
            i = draw(st.integers(0, len(spec["layers"]) - 1))
            if isinstance(spec["layers"][i], dict):
                spec["layers"][i][draw(st.sampled_from(["op", "c", "s"]))] = draw(json_values)
        elif kind == "layer_key" and isinstance(spec.get("layers"), list) and spec["layers"]:
            i = draw(st.integers(0, len(spec["layers"]) - 1))
            if isinstance(spec["layers"][i], dict):
                spec["layers"][i][draw(st.text(min_size=1, max_size=5))] = draw(scalars)
    return spec


@SETTINGS
@given(mutated_arch_json())
def test_malformed_arch_json_files_are_refused_by_name(tmp_path, spec):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(spec))
    try:
        build(get_spec(str(path)), 6)
    except A2DError as e:
        assert_one_line(e)
