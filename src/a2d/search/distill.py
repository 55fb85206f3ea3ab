"""Actor-critic distillation from a frozen teacher, evaluated on the student's own rollout states."""

from __future__ import annotations

import torch
from torch import nn

from a2d.rl.ppo import PPOHook


def distill_losses(
    student_logits: torch.Tensor,
    student_value: torch.Tensor,
    teacher_logits: torch.Tensor,
    teacher_value: torch.Tensor,
    actor_coef: float,
    critic_coef: float,
) -> dict[str, torch.Tensor]:
    """lambda_a * KL(pi_teacher || pi_student) and lambda_c * (V_student - V_teacher)^2.

    A coefficient of 0 drops its term altogether."""
    out = {}
    if actor_coef > 0:
        logp_t = teacher_logits.log_softmax(-1)
        logp_s = student_logits.log_softmax(-1)
        out["distill_actor"] = actor_coef * (logp_t.exp() * (logp_t - logp_s)).sum(-1).mean()
    if critic_coef > 0:
        out["distill_critic"] = critic_coef * ((student_value - teacher_value) ** 2).mean()
    return out


class DistillHook(PPOHook):
    """Adds the distillation terms to every PPO minibatch loss.

    The teacher is frozen, so its outputs on a rollout state do not change during the update:
    it runs once per PPO iteration on the whole rollout (``on_update_start``, in chunks of
    ``chunk`` rows), and each minibatch takes its rows of that (``on_minibatch``), instead of
    once per minibatch and epoch (``update_epochs`` = 4 times as many teacher forward passes).
    The values are the same bit for bit on the CPU (a row's output does not depend on the rows
    batched with it: ``tests/search/test_distill.py``). Called without that (a direct
    ``extra_losses``), the teacher runs on the given states."""

    def __init__(self, teacher: nn.Module, actor_coef: float, critic_coef: float, chunk: int = 256):
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.actor_coef, self.critic_coef = actor_coef, critic_coef
        self.chunk = chunk
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self._rows: torch.Tensor | None = None

    def setup(self, agent, n_actions, device):
        if n_actions != self.teacher.n_actions:
            from a2d import A2DError

            raise A2DError(
                f"teacher has {self.teacher.n_actions} actions but this game has {n_actions}; "
                "a teacher must be trained on the same game"
            )
        self.teacher.to(device)

    @property
    def _active(self) -> bool:
        return self.actor_coef > 0 or self.critic_coef > 0

    def on_update_start(self, obs):
        self._cache, self._rows = None, None
        if not self._active:
            return
        with torch.no_grad():
            outs = [self.teacher(part) for part in obs.split(self.chunk)]
        self._cache = (torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs]))

    def on_minibatch(self, minibatch, held_out, rows):
        self._rows = rows

    def on_iteration_end(self, iteration, global_step, writer):
        self._cache, self._rows = None, None

    def extra_losses(self, obs, logits, value):
        if not self._active:
            return {}
        if self._cache is not None and self._rows is not None and len(self._rows) == len(obs):
            t_logits, t_value = self._cache[0][self._rows], self._cache[1][self._rows]
        else:
            with torch.no_grad():
                t_logits, t_value = self.teacher(obs)
        return distill_losses(logits, value, t_logits, t_value, self.actor_coef, self.critic_coef)
