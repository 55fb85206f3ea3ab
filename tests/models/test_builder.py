"""a2d.models.builder / ops: shapes, the op registry, specs as data, errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from a2d import A2DError
from a2d.models import ArchError, build, get_spec
from a2d.models.builder import derived_spec, load_spec
from a2d.models.ops import CELL_OPS, OPS, ChannelShuffle, make_norm

B = 3


def frames(batch: int = B, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 4, 84, 84), generator=g, dtype=torch.uint8)


def check_outputs(agent: nn.Module, n_actions: int, batch: int = B) -> None:
    with torch.no_grad():
        logits, value = agent(frames(batch))
    assert logits.shape == (batch, n_actions)
    assert value.shape == (batch,)
    assert logits.dtype == value.dtype == torch.float32
    assert torch.isfinite(logits).all() and torch.isfinite(value).all()


@pytest.mark.parametrize("arch", ["vanilla", "resnet8", "resnet14", "resnet20"])
@pytest.mark.parametrize("n_actions", [4, 18])
def test_named_arch_output_shapes(arch, n_actions):
    check_outputs(build(arch, n_actions), n_actions)


# The FBNet-like layout of the search space, written out here independently of the builder:
# stem conv 16 s2, stages (channels, cells, first stride), head 1x1 conv to 64 channels.
STAGES = [(16, 1, 1), (24, 3, 2), (32, 3, 2), (64, 3, 2), (96, 3, 1), (160, 1, 1)]


def fbnet_layers(op: str) -> list[dict]:
    layers = [{"op": "conv", "c": 16, "k": 3, "s": 2}]
    for c, n, s in STAGES:
        for i in range(n):
            layers.append({"op": op, "c": c, "s": s if i == 0 else 1})
    layers.append({"op": "conv", "c": 64, "k": 1, "s": 1})
    return layers


def test_fbnet_layout_has_14_cells():
    assert len(fbnet_layers("skip")) - 2 == 14


@pytest.mark.parametrize("op", CELL_OPS)
def test_every_cell_op_in_fbnet_layout(op):
    spec = {"arch": f"all_{op}", "layers": fbnet_layers(op), "fc": 512}
    agent = build(spec, 6)
    check_outputs(agent, 6, batch=2)
    # the trunk ends in 64 channels at 84 / 2 (stem) / 2 / 2 / 2 -> 6x6 (k//2 padding)
    with torch.no_grad():
        trunk = agent.body(frames(1).float() / 255)
    assert trunk.shape == (1, 64, 6, 6)


def test_derived_spec_matches_the_fbnet_layout():
    ops = [CELL_OPS[i % len(CELL_OPS)] for i in range(14)]
    layers = derived_spec(ops)["layers"]
    expected = fbnet_layers("x")
    for i, op in enumerate(ops):
        expected[i + 1]["op"] = op
    assert layers == expected


def test_supernet_mixed_cells_output_shapes():
    check_outputs(build("supernet", 5), 5, batch=2)


def test_cell_ops_are_registered():
    assert len(CELL_OPS) == 9
    assert set(CELL_OPS) <= set(OPS)
    assert {"conv", "basic", "skip"} <= set(OPS)


# ---- individual ops -----------------------------------------------------------------------


def _has_conv(m: nn.Module) -> bool:
    return any(isinstance(x, nn.Conv2d) for x in m.modules())


@pytest.mark.parametrize("c_in, c_out, stride", [(16, 24, 2), (16, 32, 1), (16, 16, 2)])
def test_skip_projects_when_shape_changes(c_in, c_out, stride):
    op = OPS["skip"](c_in, c_out, stride)
    assert _has_conv(op)
    x = torch.randn(2, c_in, 12, 12)
    y = op(x)
    assert y.shape == (2, c_out, 12 // stride, 12 // stride)


def test_skip_is_identity_when_shapes_match():
    op = OPS["skip"](24, 24, 1)
    assert not _has_conv(op)
    assert sum(p.numel() for p in op.parameters()) == 0
    x = torch.randn(2, 24, 7, 7)
    assert torch.equal(op(x), x)


@pytest.mark.parametrize("op", [o for o in CELL_OPS if o != "skip"])
def test_residual_cell_starts_as_identity(op):
    m = OPS[op](16, 16, 1)
    x = torch.randn(2, 16, 9, 9)
    with torch.no_grad():
        assert torch.allclose(m(x), x)


@pytest.mark.parametrize("op", [o for o in CELL_OPS if o != "skip"])
def test_cell_op_kernel_expansion_groups(op):
    k, e = int(op[1]), int(op[4])
    g = 2 if op.endswith("_g2") else 1
    m = OPS[op](16, 24, 2)
    convs = [x for x in m.modules() if isinstance(x, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(1, 1), (k, k), (1, 1)]
    assert convs[0].out_channels == 16 * e
    assert convs[1].groups == 16 * e  # depthwise
    assert convs[0].groups == convs[2].groups == g
    assert convs[1].stride == (2, 2)
    assert m(torch.randn(1, 16, 10, 10)).shape == (1, 24, 5, 5)


def test_basic_block_starts_as_identity_on_nonnegative_input():
    m = OPS["basic"](16, 16, 1)
    x = torch.rand(2, 16, 8, 8)
    with torch.no_grad():
        assert torch.allclose(m(x), x)


def test_channel_shuffle_permutation():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    y = ChannelShuffle(2)(x)
    assert y.flatten().tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


def test_mixed_op_without_controller_is_mean_of_candidates():
    m = OPS["mixed"](16, 24, 2)
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        expected = sum(op(x) for op in m.candidates) / len(CELL_OPS)
        assert torch.allclose(m(x), expected)


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_norm_variants_build(norm):
    agent = build("resnet8", 4, norm=norm)
    kind = nn.BatchNorm2d if norm == "batch" else nn.GroupNorm
    assert any(isinstance(m, kind) for m in agent.modules())
    agent.eval()
    check_outputs(agent, 4, batch=2)


def test_make_norm_unknown():
    with pytest.raises(ValueError, match="unknown norm"):
        make_norm("layer", 8)


# ---- errors -------------------------------------------------------------------------------


def test_unknown_arch_names_valid_choices():
    assert issubclass(ArchError, A2DError)
    with pytest.raises(ArchError) as e:
        get_spec("resnot")
    msg = str(e.value)
    assert "'resnot'" in msg
    assert "vanilla" in msg and "resnet8" in msg and "resnet20" in msg


@pytest.mark.parametrize("arch", ["resnet9", "resnet2", "resnet21"])
def test_bad_resnet_depth_names_valid_depths(arch):
    with pytest.raises(ArchError) as e:
        build(arch, 4)
    msg = str(e.value)
    assert "6n+2" in msg
    assert "8, 14, 20" in msg
    assert arch[len("resnet") :] in msg


def test_spec_with_unknown_op_names_valid_ops():
    spec = {"arch": "x", "layers": [{"op": "conv9", "c": 8}]}
    with pytest.raises(ArchError) as e:
        build(spec, 4)
    assert "'conv9'" in str(e.value) and "basic" in str(e.value) and "skip" in str(e.value)


@pytest.mark.parametrize(
    "spec",
    [[], {"arch": "x"}, {"arch": "x", "layers": [{"op": "conv"}]}, {"ops": ["skip"] * 3}],
)
def test_malformed_specs_refused(spec):
    with pytest.raises(ArchError):
        build(spec, 4)


def test_spec_file_errors(tmp_path):
    with pytest.raises(ArchError, match="not found"):
        get_spec(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ArchError, match="not valid JSON"):
        get_spec(str(bad))
    badop = tmp_path / "badop.json"
    badop.write_text(json.dumps({"ops": ["k3_e1"] * 13 + ["k7_e9"]}))
    with pytest.raises(ArchError, match="k7_e9"):
        load_spec(badop)


# ---- specs are data: JSON round trip ------------------------------------------------------


def _assert_same_net(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    assert all(sa[k].shape == sb[k].shape for k in sa)
    b.load_state_dict(sa)
    x = frames(2, seed=5)
    with torch.no_grad():
        la, va = a(x)
        lb, vb = b(x)
    assert torch.equal(la, lb) and torch.equal(va, vb)


@pytest.mark.parametrize("which", ["derived", "resnet8", "vanilla"])
def test_spec_round_trips_through_json(tmp_path, which):
    if which == "derived":
        spec = derived_spec([CELL_OPS[(3 * i) % len(CELL_OPS)] for i in range(14)], name="mix")
    else:
        spec = get_spec(which)
    torch.manual_seed(0)
    a = build(spec, 7)
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(spec))
    loaded = get_spec(str(path))
    assert loaded["layers"] == spec["layers"]
    torch.manual_seed(1)  # different init: equality below comes from the copied weights only
    b = build(loaded, 7)
    _assert_same_net(a, b)


def test_ops_only_file_builds_the_derived_net(tmp_path):
    ops = [CELL_OPS[i % len(CELL_OPS)] for i in range(14)]
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"arch": "found", "ops": ops}))
    _assert_same_net(build(derived_spec(ops), 4), build(str(path), 4))
