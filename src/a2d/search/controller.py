"""Alpha and how each searchable cell runs (docs/method.md#architecture-search, reconstruction).

States of the controller:
  warmup  weights-only: each PPO iteration samples one op per cell uniformly (alpha untouched)
  search  Gumbel-softmax over alpha with the iteration's fixed noise and temperature;
          ``hard``: only the sampled op runs, scaled by a straight-through weight (value 1);
          ``soft``: the weighted sum of all ops (FBNet)
  argmax  the current derived architecture (argmax alpha per cell), for test evaluations
"""

from __future__ import annotations

import math

import torch
from torch import nn

from a2d.config import SEARCH_MODES
from a2d.models.ops import MixedOp


class ArchController(nn.Module):
    def __init__(
        self,
        agent: nn.Module,
        macs_table: list[list[int]],
        macs_fixed: int,
        mode: str = "hard",
        tau_start: float = 5.0,
        tau_end: float = 0.5,
        device: str = "cpu",
        latency_table: list[list[float]] | None = None,
        latency_fixed: float = 0.0,
    ):
        super().__init__()
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}; valid: {', '.join(SEARCH_MODES)}")
        self.cells = [m for m in agent.modules() if isinstance(m, MixedOp)]
        if not self.cells:
            raise ValueError("the agent has no searchable (mixed) cells")
        for i, c in enumerate(self.cells):
            # a plain attribute, not a registered sub-module: alpha stays out of the agent's
            # parameters, optimiser and state_dict
            object.__setattr__(c, "controller", self)
            c.cell = i
        self.choices = list(self.cells[0].choices)
        n, k = len(self.cells), len(self.choices)
        self.mode, self.tau_start, self.tau_end = mode, tau_start, tau_end
        self.alpha = nn.Parameter(torch.zeros(n, k, device=device))
        self.register_buffer("noise", torch.zeros(n, k, device=device))
        self.register_buffer("index", torch.zeros(n, dtype=torch.long, device=device))
        self.register_buffer(
            "macs_table", torch.tensor(macs_table, dtype=torch.float32, device=device)
        )
        self.macs_fixed = float(macs_fixed)
        # the measured latency table (ms) of `search.cost: latency`; None with the MACs cost
        self.register_buffer("latency_table", None)
        if latency_table is not None:
            if len(latency_table) != n or any(len(r) != k for r in latency_table):
                raise ValueError(
                    f"the latency table must have {n} rows of {k} ops (one per cell and choice)"
                )
            self.latency_table = torch.tensor(latency_table, dtype=torch.float32, device=device)
        self.latency_fixed = float(latency_fixed)
        self.tau = tau_start
        self.state = "warmup"
        self._index_list = [0] * n

    # ---- per PPO iteration
    def new_iteration(self, progress: float, warmup: bool) -> None:
        """Draw this iteration's architecture noise; held fixed through its rollout and epochs.

        ``progress`` in [0, 1] runs over the post-warm-up search and drives the temperature."""
        with torch.no_grad():
            if warmup:
                self.state = "warmup"
                self.index.copy_(
                    torch.randint(len(self.choices), self.index.shape, device=self.index.device)
                )
            else:
                self.state = "search"
                self.tau = self.tau_start * (self.tau_end / self.tau_start) ** min(
                    max(progress, 0.0), 1.0
                )
                u = torch.rand_like(self.noise).clamp_(1e-10, 1 - 1e-10)
                self.noise.copy_(-torch.log(-torch.log(u)))
                self.index.copy_((self.alpha + self.noise).argmax(-1))
        self._index_list = self.index.tolist()

    # ---- what a cell runs (called by MixedOp.forward)
    def cell_weights(self, i: int):
        if self.state == "argmax":
            return ("hard", self._argmax_list[i], None)
        if self.state == "warmup":
            return ("hard", self._index_list[i], None)
        if not torch.is_grad_enabled():  # rollout: the same sampled net, no graph needed
            if self.mode == "hard":
                return ("hard", self._index_list[i], None)
            return ("soft", torch.softmax((self.alpha[i] + self.noise[i]) / self.tau, -1))
        w = torch.softmax((self.alpha[i] + self.noise[i]) / self.tau, -1)
        if self.mode == "hard":
            j = self._index_list[i]
            return (
                "hard",
                j,
                1.0 + w[j] - w[j].detach(),
            )  # straight-through: 1 forward, dw backward
        return ("soft", w)

    # ---- argmax architecture (context for test evaluations)
    def argmax_ops(self) -> list[str]:
        return [self.choices[j] for j in self.alpha.argmax(-1).tolist()]

    class _Argmax:
        def __init__(self, ctl):
            self.ctl = ctl

        def __enter__(self):
            self.saved = self.ctl.state
            self.ctl._argmax_list = self.ctl.alpha.argmax(-1).tolist()
            self.ctl.state = "argmax"

        def __exit__(self, *exc):
            self.ctl.state = self.saved

    def argmax_context(self):
        return self._Argmax(self)

    # ---- costs
    def probs(self) -> torch.Tensor:
        return torch.softmax(self.alpha, -1)

    def _expected(self, table: torch.Tensor, fixed: float) -> torch.Tensor:
        return fixed + (self.probs() * table).sum()

    def _at_argmax(self, table: torch.Tensor, fixed: float) -> float:
        idx = self.alpha.argmax(-1)
        return fixed + float(table.gather(1, idx.unsqueeze(1)).sum())

    def expected_macs(self) -> torch.Tensor:
        """E_alpha[MACs] = fixed + sum_cells sum_ops softmax(alpha) * MACs(op, cell); differentiable."""
        return self._expected(self.macs_table, self.macs_fixed)

    def argmax_macs(self) -> float:
        return self._at_argmax(self.macs_table, self.macs_fixed)

    def expected_latency(self) -> torch.Tensor:
        """E_alpha[latency] (ms) = fixed + sum_cells sum_ops softmax(alpha) * ms(op, cell), from
        the measured table exactly as ``expected_macs``; differentiable."""
        return self._expected(self._latency(), self.latency_fixed)

    def argmax_latency(self) -> float:
        return self._at_argmax(self._latency(), self.latency_fixed)

    def _latency(self) -> torch.Tensor:
        if self.latency_table is None:
            raise ValueError("this controller has no latency table (search.cost: macs)")
        return self.latency_table

    def entropy(self) -> float:
        """Mean per-cell entropy of softmax(alpha), normalised to [0, 1] (1 = uniform)."""
        p = self.probs().detach()
        return float(-(p * p.clamp_min(1e-12).log()).sum(-1).mean() / math.log(len(self.choices)))
