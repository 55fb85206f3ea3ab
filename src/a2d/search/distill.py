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
    """Adds the distillation terms to every PPO minibatch loss."""

    def __init__(self, teacher: nn.Module, actor_coef: float, critic_coef: float):
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.actor_coef, self.critic_coef = actor_coef, critic_coef

    def setup(self, agent, n_actions, device):
        if n_actions != self.teacher.n_actions:
            from a2d import A2DError

            raise A2DError(
                f"teacher has {self.teacher.n_actions} actions but this game has {n_actions}; "
                "a teacher must be trained on the same game"
            )
        self.teacher.to(device)

    def extra_losses(self, obs, logits, value):
        if self.actor_coef <= 0 and self.critic_coef <= 0:
            return {}
        with torch.no_grad():
            t_logits, t_value = self.teacher(obs)
        return distill_losses(logits, value, t_logits, t_value, self.actor_coef, self.critic_coef)
