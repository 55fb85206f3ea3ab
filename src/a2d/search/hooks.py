"""The search as a PPO hook: alpha, Gumbel noise per iteration, the cost term, one-/bi-level steps,
argmax test evaluations, and the search's own outputs (search_curve.csv, alpha.csv).

One-level: the weights and alpha step on every minibatch, from one backward pass. Bi-level
(first order, DARTS-style split): after the warm-up, each PPO iteration holds a random share
``search.bilevel_alpha_share`` of its rollout out of the weights' update; the weights take their
usual ``update_epochs * num_minibatches`` steps on the rest, and after each weights step alpha
takes one step on a minibatch of the held-out share (``ppo_update`` does the split)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from a2d import faults
from a2d.checkpoint import atomic_write_csv
from a2d.config import MethodConfig, SearchConfig
from a2d.models.cost import cell_macs_table
from a2d.models.cost_table import check_matches, table_matrix
from a2d.rl.ppo import NumericalError, PPOHook
from a2d.search.controller import ArchController

SEARCH_CURVE_FIELDS = [
    "step",
    "test_mean",
    "test_std",
    "temperature",
    "expected_macs",
    "lambda_f",
    "argmax_macs",
    "alpha_entropy",
    "phase",
]
#: appended to the search curve with ``search.cost: latency`` (the table's ms)
LATENCY_CURVE_FIELDS = ["expected_latency_ms", "argmax_latency_ms"]


class SearchHook(PPOHook):
    def __init__(
        self,
        spec: dict,
        scfg: SearchConfig,
        method: MethodConfig,
        num_iterations: int,
        macs_ref: float,
        out_dir: str | Path,
        norm: str = "none",
        cost_table: dict[str, Any] | None = None,
    ):
        """``cost_table``: the measured latency table (``a2d.models.cost_table``), needed with
        ``search.cost: latency`` (its cost term, normalised by the table's reference latency)."""
        self.spec, self.scfg, self.method = spec, scfg, method
        self.latency = scfg.cost == "latency"
        if self.latency:
            if cost_table is None:
                raise ValueError("search.cost: latency needs a cost table (a2d cost-table)")
            check_matches(cost_table, spec, norm, "given")
        self.cost_table = cost_table if self.latency else None
        self.num_iterations = num_iterations
        self.warmup_iterations = int(round(scfg.warmup * num_iterations))
        self.macs_ref = float(macs_ref)
        self.lambda_f = scfg.lambda_f
        self.out = Path(out_dir)
        self.norm = norm
        self.curve: list[dict[str, Any]] = []
        self.alpha_rows: list[dict[str, Any]] = []
        self.iteration = 0
        self.global_step = 0
        self._held_out = False  # the current minibatch is from the held-out share (bi-level)

    # ---- PPOHook
    def setup(self, agent, n_actions, device):
        # a fresh start (also a retry from scratch): nothing of an earlier attempt carries over
        self.lambda_f = self.scfg.lambda_f
        self.curve, self.alpha_rows = [], []
        table, fixed, _ = cell_macs_table(self.spec, n_actions, self.norm)
        lat: dict[str, Any] = {}
        if self.latency:
            lat_table, lat_fixed, choices = table_matrix(self.cost_table)
            self.latency_ref = float(self.cost_table["reference"]["ms"])
            lat = {"latency_table": lat_table, "latency_fixed": lat_fixed}
        self.ctl = ArchController(
            agent,
            table,
            fixed,
            self.scfg.mode,
            self.scfg.tau_start,
            self.scfg.tau_end,
            device,
            **lat,
        )
        if self.latency and choices != self.ctl.choices:
            raise ValueError("the cost table's ops differ from the supernet's cell choices")
        self.alpha_opt = torch.optim.Adam(
            [self.ctl.alpha], lr=self.scfg.alpha_lr, betas=tuple(self.scfg.alpha_betas)
        )

    @property
    def in_warmup(self) -> bool:
        return self.iteration < self.warmup_iterations

    def on_iteration_start(self, iteration, global_step):
        self.iteration, self.global_step = iteration, global_step
        self._held_out = False
        span = max(1, self.num_iterations - self.warmup_iterations - 1)
        self.ctl.new_iteration((iteration - self.warmup_iterations) / span, self.in_warmup)

    def extra_losses(self, obs, logits, value):
        if self.in_warmup or self.lambda_f <= 0:
            return {}
        if self.latency:
            return {"latency": self.lambda_f * self.ctl.expected_latency() / self.latency_ref}
        return {"flops": self.lambda_f * self.ctl.expected_macs() / self.macs_ref}

    @property
    def bi_level(self) -> bool:
        return self.method.optimisation == "bi_level"

    def held_out_share(self) -> float:
        return self.scfg.bilevel_alpha_share if self.bi_level and not self.in_warmup else 0.0

    def on_minibatch(self, minibatch, held_out, rows):
        self._held_out = held_out

    def _alpha_turn(self, minibatch: int) -> bool:
        return self.bi_level and self._held_out

    def step_weights(self, minibatch):
        return self.in_warmup or not self._alpha_turn(minibatch)

    def after_backward(self, minibatch):
        alpha = self.ctl.alpha
        if self.in_warmup or alpha.grad is None:
            alpha.grad = None
            return
        if faults.nan_now("alpha_grad", self.iteration):
            alpha.grad.fill_(float("nan"))
        if not torch.isfinite(alpha.grad).all():
            raise NumericalError("alpha gradient")
        if self.method.optimisation == "one_level" or self._alpha_turn(minibatch):
            self.alpha_opt.step()
            if not torch.isfinite(alpha).all():
                raise NumericalError("alpha (after its optimiser step)")
        alpha.grad = None

    def eval_context(self):
        return self.ctl.argmax_context()

    def on_evaluation(self, step, result):
        with torch.no_grad():
            exp_macs = float(self.ctl.expected_macs())
        self.curve.append(
            {
                "step": step,
                "test_mean": result["mean"],
                "test_std": result["std"],
                "temperature": self.ctl.tau if not self.in_warmup else math.nan,
                "expected_macs": exp_macs,
                "lambda_f": self.lambda_f,
                "argmax_macs": self.ctl.argmax_macs(),
                "alpha_entropy": self.ctl.entropy(),
                "phase": "warmup" if self.in_warmup else "search",
            }
        )
        if self.latency:
            with torch.no_grad():
                self.curve[-1]["expected_latency_ms"] = float(self.ctl.expected_latency())
            self.curve[-1]["argmax_latency_ms"] = self.ctl.argmax_latency()
        probs = self.ctl.probs().detach().cpu().tolist()
        for i, row in enumerate(probs):
            self.alpha_rows.append({"step": step, "cell": i, **dict(zip(self.ctl.choices, row))})

    def on_iteration_end(self, iteration, global_step, writer):
        writer.add_scalar("search/temperature", self.ctl.tau, global_step)
        with torch.no_grad():
            writer.add_scalar("search/expected_macs", float(self.ctl.expected_macs()), global_step)
        writer.add_scalar("search/argmax_macs", self.ctl.argmax_macs(), global_step)
        writer.add_scalar("search/alpha_entropy", self.ctl.entropy(), global_step)
        writer.add_scalar("search/lambda_f", self.lambda_f, global_step)
        if self.latency:
            with torch.no_grad():
                exp_ms = float(self.ctl.expected_latency())
            writer.add_scalar("search/expected_latency_ms", exp_ms, global_step)
            writer.add_scalar("search/argmax_latency_ms", self.ctl.argmax_latency(), global_step)
        band = self.scfg.latency_band if self.latency else self.scfg.macs_band
        if band is not None and not self.in_warmup:
            m = self.ctl.argmax_latency() if self.latency else self.ctl.argmax_macs()
            if m > band[1]:
                self.lambda_f *= 2.0
            elif m < band[0]:
                self.lambda_f /= 2.0

    def state_dict(self):
        return {
            "alpha": self.ctl.alpha.detach().cpu(),
            "alpha_opt": self.alpha_opt.state_dict(),
            "lambda_f": self.lambda_f,
            "curve": self.curve,
            "alpha_rows": self.alpha_rows,
            # the state of the last iteration (what a test evaluation at the boundary reports)
            "iteration": self.iteration,
            "global_step": self.global_step,
            "tau": self.ctl.tau,
            "ctl_state": self.ctl.state,
            "noise": self.ctl.noise.detach().cpu(),
            "index": self.ctl.index.detach().cpu(),
        }

    def load_state_dict(self, state):
        with torch.no_grad():
            self.ctl.alpha.copy_(state["alpha"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.lambda_f, self.curve, self.alpha_rows = (
            state["lambda_f"],
            state["curve"],
            state["alpha_rows"],
        )
        self.iteration, self.global_step = state["iteration"], state["global_step"]
        self.ctl.tau, self.ctl.state = state["tau"], state["ctl_state"]
        with torch.no_grad():
            self.ctl.noise.copy_(state["noise"])
            self.ctl.index.copy_(state["index"])
        self.ctl._index_list = self.ctl.index.tolist()

    # ---- outputs (declared by the search rule: written once, when the search has finished)
    def write_outputs(self) -> None:
        fields = SEARCH_CURVE_FIELDS + (LATENCY_CURVE_FIELDS if self.latency else [])
        atomic_write_csv(self.out / "search_curve.csv", fields, self.curve)
        atomic_write_csv(
            self.out / "alpha.csv", ["step", "cell", *self.ctl.choices], self.alpha_rows
        )
