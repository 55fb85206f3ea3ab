"""a2d.search.distill: the actor (KL) and critic (squared error) distillation terms and their hook."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from a2d import A2DError
from a2d.models import build
from a2d.search.distill import DistillHook, distill_losses

N_ACTIONS = 4


def frames(batch: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 4, 84, 84), generator=g, dtype=torch.uint8)


def softmax(xs: list[float]) -> list[float]:
    z = sum(math.exp(x) for x in xs)
    return [math.exp(x) / z for x in xs]


def kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q))


# Two states, three actions: logits of a teacher and a student, worked by hand below.
T_LOGITS = [[2.0, 0.0, -1.0], [0.5, 0.5, 1.5]]
S_LOGITS = [[0.0, 1.0, 0.0], [1.0, -1.0, 0.0]]
T_VALUE = [1.0, -2.0]
S_VALUE = [0.5, 1.0]


def hand_terms(actor_coef: float, critic_coef: float) -> tuple[float, float, float]:
    """(actor term KL(teacher||student), the reverse KL, critic term), all means over states."""
    fwd = [kl(softmax(t), softmax(s)) for t, s in zip(T_LOGITS, S_LOGITS)]
    rev = [kl(softmax(s), softmax(t)) for t, s in zip(T_LOGITS, S_LOGITS)]
    mse = [(s - t) ** 2 for s, t in zip(S_VALUE, T_VALUE)]  # (0.5-1)^2, (1+2)^2 = 0.25, 9
    return actor_coef * sum(fwd) / 2, actor_coef * sum(rev) / 2, critic_coef * sum(mse) / 2


def losses(actor_coef: float, critic_coef: float) -> dict[str, torch.Tensor]:
    return distill_losses(
        torch.tensor(S_LOGITS),
        torch.tensor(S_VALUE),
        torch.tensor(T_LOGITS),
        torch.tensor(T_VALUE),
        actor_coef,
        critic_coef,
    )


@pytest.mark.parametrize("actor_coef,critic_coef", [(1.0, 0.5), (2.0, 1.0), (0.3, 3.0)])
def test_terms_match_hand_computation(actor_coef, critic_coef):
    actor, reverse, critic = hand_terms(actor_coef, critic_coef)
    assert abs(actor - reverse) > 1e-3  # the example tells the two directions apart
    out = losses(actor_coef, critic_coef)
    assert set(out) == {"distill_actor", "distill_critic"}
    assert float(out["distill_actor"]) == pytest.approx(actor, rel=1e-5)  # KL(teacher || student)
    assert float(out["distill_critic"]) == pytest.approx(critic, rel=1e-5)
    assert critic == pytest.approx(critic_coef * 4.625)


def test_zero_coefficients_drop_their_terms():
    assert losses(0.0, 0.0) == {}
    assert set(losses(1.0, 0.0)) == {"distill_actor"}
    assert set(losses(0.0, 0.5)) == {"distill_critic"}


def test_actor_term_is_invariant_to_logit_shifts():
    a = losses(1.0, 0.0)["distill_actor"]
    b = distill_losses(
        torch.tensor(S_LOGITS) + 7.0,
        torch.tensor(S_VALUE),
        torch.tensor(T_LOGITS) - 3.0,
        torch.tensor(T_VALUE),
        1.0,
        0.0,
    )["distill_actor"]
    assert float(a) == pytest.approx(float(b), rel=1e-5)


@pytest.fixture
def teacher():
    torch.manual_seed(0)
    return build("vanilla", N_ACTIONS)


def test_hook_with_the_teacher_as_student_gives_zero(teacher):
    student = copy.deepcopy(teacher)
    hook = DistillHook(teacher, 1.0, 0.5)
    hook.setup(student, N_ACTIONS, "cpu")
    obs = frames()
    logits, value = student(obs)
    terms = hook.extra_losses(obs, logits, value)
    assert set(terms) == {"distill_actor", "distill_critic"}
    assert float(terms["distill_actor"].detach()) == pytest.approx(0.0, abs=1e-6)
    assert float(terms["distill_critic"].detach()) == pytest.approx(0.0, abs=1e-6)


def test_hook_with_another_student_gives_positive_terms_and_gradients(teacher):
    torch.manual_seed(1)
    student = build("vanilla", N_ACTIONS)
    hook = DistillHook(teacher, 1.0, 0.5)
    hook.setup(student, N_ACTIONS, "cpu")
    obs = frames()
    logits, value = student(obs)
    terms = hook.extra_losses(obs, logits, value)
    assert float(terms["distill_actor"].detach()) > 0
    assert float(terms["distill_critic"].detach()) > 0
    # the frozen teacher, evaluated on the student's states, agrees with the terms
    with torch.no_grad():
        t_logits, t_value = teacher(obs)
    expected = distill_losses(logits, value, t_logits, t_value, 1.0, 0.5)
    for k in terms:
        assert float(terms[k].detach()) == pytest.approx(float(expected[k].detach()), rel=1e-6)
    sum(terms.values()).backward()
    assert all(p.grad is not None for p in student.parameters())
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    assert not teacher.training  # frozen: evaluation mode


def test_hook_with_zero_coefficients_adds_nothing(teacher):
    hook = DistillHook(teacher, 0.0, 0.0)
    hook.setup(build("vanilla", N_ACTIONS), N_ACTIONS, "cpu")
    obs = frames(2)
    logits, value = torch.zeros(2, N_ACTIONS), torch.zeros(2)
    assert hook.extra_losses(obs, logits, value) == {}


def test_hook_refuses_a_teacher_of_another_action_space(teacher):
    hook = DistillHook(teacher, 1.0, 0.5)
    with pytest.raises(A2DError, match="same game"):
        hook.setup(build("vanilla", 6), 6, "cpu")


def test_teacher_runs_once_per_update_and_gives_the_same_terms_bit_for_bit(teacher):
    """on_update_start runs the teacher on the whole rollout (in chunks that do not line up with
    the minibatches); each minibatch's terms equal the teacher run on that minibatch itself: bit
    for bit where the CPU's kernels give each row the same result at any batch size (the Intel
    box), to float rounding where they do not (AMD Zen 4: oneDNN picks its kernel by batch
    size, ~1e-7 relative)."""
    torch.manual_seed(1)
    student = build("vanilla", N_ACTIONS)
    rollout = frames(12, seed=3)
    calls = []
    teacher.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    cached = DistillHook(teacher, 1.0, 0.5, chunk=5)
    direct = DistillHook(teacher, 1.0, 0.5)
    for h in (cached, direct):
        h.setup(student, N_ACTIONS, "cpu")
    cached.on_update_start(rollout)
    assert calls == [5, 5, 2]  # the whole rollout, once
    for mb, rows in enumerate(
        torch.randperm(12, generator=torch.Generator().manual_seed(0)).split(4)
    ):
        cached.on_minibatch(mb, False, rows)
        logits, value = student(rollout[rows])
        got = cached.extra_losses(rollout[rows], logits, value)
        want = direct.extra_losses(rollout[rows], logits, value)
        assert set(got) == set(want) == {"distill_actor", "distill_critic"}
        for k in got:
            torch.testing.assert_close(got[k], want[k], rtol=1e-6, atol=1e-7, msg=k)
    assert calls == [5, 5, 2, 4, 4, 4]  # the cached hook ran no more teacher passes
    cached.on_iteration_end(0, 12, None)  # the cache is dropped after the update
    cached.extra_losses(rollout[:2], *student(rollout[:2]))
    assert calls[-1] == 2
