"""Fixtures of the search tests: the supernet's MACs table (measured once) and a fresh supernet."""

from __future__ import annotations

import pytest
import torch

from a2d.models import build
from a2d.models.builder import supernet_spec
from a2d.models.cost import cell_macs_table

N_ACTIONS = 4


@pytest.fixture(scope="session")
def macs_table():
    """(table, fixed, choices) of the default supernet for 4 actions."""
    return cell_macs_table(supernet_spec(), N_ACTIONS)


@pytest.fixture
def supernet():
    torch.manual_seed(0)
    return build(supernet_spec(), N_ACTIONS)
