"""The supernet's search space: every cell op at every cell position, and the per-cell MACs table."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from a2d.models import build, count_macs
from a2d.models.builder import (
    SUPERNET_STAGES,
    ArchError,
    _cell_layout,
    check_spec,
    derived_spec,
    stem_layer,
    supernet_spec,
)
from a2d.models.cost import cell_macs_table
from a2d.models.ops import CELL_OPS, OPS, MixedOp, Skip

N_ACTIONS = 4
STEM_OUT = (16, 42, 42)  # 3x3 stride-2 stem, padding 1, on 84x84 frames

# What each of the 14 cells sees and produces, by hand from docs/search-space.md#supernet:
# stages (16,1,1) (24,3,2) (32,3,2) (64,3,2) (96,3,1) (160,1,1); 'same' padding, so a stride-2
# cell maps H to ceil(H / 2): 42 -> 21 -> 11 -> 6.
CELL_IO = [
    ((16, 42, 42), (16, 42, 42)),
    ((16, 42, 42), (24, 21, 21)),
    ((24, 21, 21), (24, 21, 21)),
    ((24, 21, 21), (24, 21, 21)),
    ((24, 21, 21), (32, 11, 11)),
    ((32, 11, 11), (32, 11, 11)),
    ((32, 11, 11), (32, 11, 11)),
    ((32, 11, 11), (64, 6, 6)),
    ((64, 6, 6), (64, 6, 6)),
    ((64, 6, 6), (64, 6, 6)),
    ((64, 6, 6), (96, 6, 6)),
    ((96, 6, 6), (96, 6, 6)),
    ((96, 6, 6), (96, 6, 6)),
    ((96, 6, 6), (160, 6, 6)),
]
SHAPE_CHANGES = {i for i, (a, b) in enumerate(CELL_IO) if a != b}


def test_cell_layout_matches_the_hand_written_shapes():
    layout = _cell_layout()
    assert len(layout) == len(CELL_IO) == sum(n for _, n, _ in SUPERNET_STAGES) == 14
    assert CELL_IO[0][0] == STEM_OUT
    for i, ((c, s), (x, y)) in enumerate(zip(layout, CELL_IO)):
        assert y[0] == c, f"cell {i}: channels"
        assert y[1] == -(-x[1] // s), f"cell {i}: stride {s}"
        if i:
            assert x == CELL_IO[i - 1][1], f"cell {i}: input is the previous output"
    assert SHAPE_CHANGES == {1, 4, 7, 10, 13}


def test_supernet_stem_and_cell_inputs():
    """The shapes the built supernet actually feeds its 14 mixed cells."""
    net = build(supernet_spec(), N_ACTIONS).eval()
    cells = [m for m in net.modules() if isinstance(m, MixedOp)]
    seen: list[tuple] = []
    for c in cells:
        c.register_forward_hook(
            lambda m, args, out: seen.append((tuple(args[0].shape[1:]), tuple(out.shape[1:])))
        )
    with torch.no_grad():
        net(torch.zeros(1, 4, 84, 84, dtype=torch.uint8))
    assert seen == CELL_IO


@pytest.mark.parametrize("op", CELL_OPS)
def test_every_op_keeps_the_shape_at_every_cell(op):
    torch.manual_seed(0)
    for i, ((c, s), (x, y)) in enumerate(zip(_cell_layout(), CELL_IO)):
        m = OPS[op](x[0], c, s, norm="none")
        inp = torch.randn(2, *x)
        with torch.no_grad():
            out = m(inp)
        assert out.shape == (2, *y), f"{op} at cell {i}"
        assert torch.isfinite(out).all()
        if op != "skip" and x == y:
            # residual inverted block: the projection starts at zero, so the block is identity
            assert m.residual
            assert torch.equal(out, inp), f"{op} at cell {i} is not identity at init"
        elif op != "skip":
            assert not m.residual


def test_skip_projects_only_where_the_shape_changes():
    for i, ((c, s), (x, _)) in enumerate(zip(_cell_layout(), CELL_IO)):
        m = OPS["skip"](x[0], c, s, norm="none")
        assert isinstance(m, Skip)
        inp = torch.randn(2, *x)
        if i in SHAPE_CHANGES:
            convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
            assert len(convs) == 1 and convs[0].kernel_size == (1, 1), f"cell {i}"
            assert (convs[0].in_channels, convs[0].out_channels, convs[0].stride) == (
                x[0],
                c,
                (s, s),
            )
            out = m(inp)
            assert out.shape != inp.shape
        else:
            assert m.proj is None and not list(m.parameters()), f"cell {i}"
            assert m(inp) is inp  # exactly the identity: no copy, no arithmetic


# ---- the MACs table: derived net MACs == fixed + sum of the table entries of its ops


@pytest.fixture(scope="module")
def table():
    return cell_macs_table(supernet_spec(), N_ACTIONS)


def table_macs(table, ops):
    rows, fixed, choices = table
    return fixed + sum(rows[i][choices.index(op)] for i, op in enumerate(ops))


def random_ops(seed: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(CELL_OPS) for _ in range(14)]


def test_table_shape_and_choices(table):
    rows, fixed, choices = table
    assert choices == list(CELL_OPS)
    assert len(rows) == 14 and all(len(r) == len(CELL_OPS) for r in rows)
    assert fixed > 0
    skip = choices.index("skip")
    for i, r in enumerate(rows):
        assert all(v > 0 for j, v in enumerate(r) if j != skip)
        assert (r[skip] > 0) == (i in SHAPE_CHANGES)  # identity skip costs nothing
        assert max(r) == r[choices.index("k5_e6")]


@pytest.mark.parametrize(
    "ops",
    [["skip"] * 14, ["k5_e6"] * 14, ["k3_e1"] * 14] + [random_ops(s) for s in range(4)],
    ids=["all_skip", "all_k5_e6", "all_k3_e1"] + [f"random{s}" for s in range(4)],
)
def test_table_predicts_derived_net_macs(table, ops):
    assert count_macs(build(derived_spec(ops), N_ACTIONS)) == table_macs(table, ops)


def test_macs_ordering_of_the_extremes(table):
    skip = count_macs(build(derived_spec(["skip"] * 14), N_ACTIONS))
    k3 = count_macs(build(derived_spec(["k3_e1"] * 14), N_ACTIONS))
    k5 = count_macs(build(derived_spec(["k5_e6"] * 14), N_ACTIONS))
    assert skip < k3 < k5
    # the sizes of docs/search-space.md#macs-range (all skip 3.7 M, all k3_e1 10 M, all k5_e6 56 M)
    assert skip / 1e6 == pytest.approx(3.7, abs=0.1)
    assert k3 / 1e6 == pytest.approx(10.0, abs=0.2)
    assert k5 / 1e6 == pytest.approx(56.0, abs=0.5)


@pytest.mark.parametrize("op", ["k3_e3", "k5_e6", "k3_e1_g2", "skip"])
def test_signal_does_not_fade_through_fourteen_cells(op):
    """Initialisation keeps activations alive through the 14 cells (depthwise convs used to
    shrink them ~5x per non-residual cell, leaving a constant net)."""
    torch.manual_seed(0)
    net = build(derived_spec([op] * 14), 6)
    x = torch.randint(0, 255, (8, 4, 84, 84), dtype=torch.uint8)
    with torch.no_grad():
        feats = net.features(x)
    vanilla = build("vanilla", 6)
    with torch.no_grad():
        ref = vanilla.features(x)
    assert feats.std() > 0.2 * ref.std()


# ---- search.stem_stride: 4 (an option, not the paper's search space)


def test_stride4_stem_quarter_area_and_macs_table():
    net = build(supernet_spec(stem_stride=4), N_ACTIONS).eval()
    x = torch.zeros(2, 4, 84, 84, dtype=torch.uint8)
    stem = net.body[0]
    assert stem(x.float()).shape == (2, 16, 21, 21)  # 5x5, stride 4, padding 2 on 84x84
    rows, fixed, choices = cell_macs_table(supernet_spec(stem_stride=4), N_ACTIONS)
    for ops in (["k3_e3"] * 14, random_ops(7)):
        spec = derived_spec(ops, stem_stride=4)
        check_spec(spec)  # layers and ops agree for a stride-4 stem too
        macs = count_macs(build(spec, N_ACTIONS))
        assert macs == fixed + sum(rows[i][choices.index(op)] for i, op in enumerate(ops))
        assert macs < count_macs(build(derived_spec(ops), N_ACTIONS)) / 2.5


def test_stem_stride_refused_outside_its_choices():
    with pytest.raises(ArchError, match="stem stride must be one of 2, 4"):
        stem_layer(3)
    spec = derived_spec(["k3_e1"] * 14, stem_stride=4)
    spec["layers"][0] = {**spec["layers"][0], "k": 3}  # not the stride-4 stem of the layout
    with pytest.raises(ArchError, match="do not match 'ops'"):
        check_spec(spec)
