"""arch.json: a derived architecture as data; written, read back, built; bad files refused."""

from __future__ import annotations

import json
import random

import pytest
import torch

from a2d.models import ArchError, build, get_spec
from a2d.models.builder import derived_spec
from a2d.models.ops import CELL_OPS

N_ACTIONS = 4


def frames(batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 4, 84, 84), generator=g, dtype=torch.uint8)


def some_ops(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(CELL_OPS) for _ in range(14)]


def write(path, obj) -> str:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=2))
    return str(path)


def assert_same_net(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    assert all(sa[k].shape == sb[k].shape for k in sa)
    b.load_state_dict(sa)
    x = frames()
    with torch.no_grad():
        la, va = a(x)
        lb, vb = b(x)
    assert torch.equal(la, lb) and torch.equal(va, vb)


@pytest.mark.parametrize("seed", [0, 1])
def test_derived_spec_round_trips_through_json(tmp_path, seed):
    ops = some_ops(seed)
    spec = derived_spec(ops, name="searched")
    path = write(tmp_path / "arch.json", spec)
    loaded = get_spec(path)
    assert loaded == spec and loaded["ops"] == ops
    torch.manual_seed(0)
    a = build(spec, N_ACTIONS)
    torch.manual_seed(1)  # other initial weights: only the architecture must agree
    b = build(loaded, N_ACTIONS)
    assert_same_net(a, b)


def test_arch_json_with_extra_keys_and_relative_path(tmp_path, monkeypatch):
    """derive() writes macs, params, game ... beside the spec; a path without '/' works too."""
    ops = some_ops(2)
    write(tmp_path / "arch.json", {**derived_spec(ops), "macs": 1, "game": "Breakout"})
    monkeypatch.chdir(tmp_path)
    assert get_spec("arch.json")["ops"] == ops


def test_bare_ops_list_builds_the_derived_layout(tmp_path):
    ops = some_ops(3)
    spec = get_spec(write(tmp_path / "ops.json", {"arch": "x", "ops": ops}))
    assert spec["layers"] == derived_spec(ops)["layers"]
    assert_same_net(build(derived_spec(ops), N_ACTIONS), build(spec, N_ACTIONS))


def bad_files() -> dict[str, tuple[object, str]]:
    ops = some_ops(4)
    good = derived_spec(ops)
    unknown_op = {**good, "ops": ops[:5] + ["k7_e6"] + ops[6:]}
    unknown_layer_op = {
        "arch": "x",
        "layers": [*good["layers"][:3], {"op": "k7_e6", "c": 24, "s": 1}, *good["layers"][4:]],
    }
    return {
        "unknown_op": (unknown_op, "unknown cell op 'k7_e6'"),
        "unknown_op_bare": ({"ops": ops[:5] + ["k7_e6"] + ops[6:]}, "k7_e6"),
        "unknown_layer_op": (unknown_layer_op, "unknown op 'k7_e6'"),
        "13_ops": ({**good, "ops": ops[:13]}, "14 cell ops"),
        "13_ops_bare": ({"ops": ops[:13]}, "14"),
        "15_ops_bare": ({"ops": ops + ["skip"]}, "14"),
        "ops_not_a_list": ({"ops": "skip"}, "14 cell ops"),
        "no_layers_no_ops": ({"arch": "x", "fc": 512}, "'layers'"),
        "layer_without_c": ({"layers": [{"op": "conv"}]}, "'op' and 'c'"),
        "not_an_object": ([1, 2, 3], "JSON object"),
        "not_json": ("{'arch': 'x', ops: [", "not valid JSON"),
        "empty_file": ("", "not valid JSON"),
    }


@pytest.mark.parametrize("case", list(bad_files()))
def test_bad_arch_json_refused(tmp_path, case):
    content, message = bad_files()[case]
    path = write(tmp_path / "arch.json", content)
    with pytest.raises(ArchError, match=message):
        get_spec(path)


def test_missing_arch_json_refused(tmp_path):
    with pytest.raises(ArchError, match="not found"):
        get_spec(str(tmp_path / "nope.json"))
