"""PPO on Atari, after CleanRL's ``ppo_atari.py``: one loop, read top to bottom.

``train()`` is the only training loop in a2d. Manual nets, teachers and retrained searched nets
all go through it; the architecture search plugs in through ``PPOHook`` (extra loss terms and
per-iteration callbacks) instead of copying the loop. The loop (``_train``) reads: set up (resume
from ``RunState`` if a checkpoint is there) -> periodic test evaluation -> ``collect_rollout``
into a ``Rollout`` -> ``ppo_update`` -> log -> resume checkpoint (``RunState.to_checkpoint``);
then the final evaluation and outputs (``_final_outputs``).

Outputs in ``out_dir``:
  model.json   arch, MACs (PyTorch FLOP counter), params
  curve.csv    step, test_mean, test_std, train_return  (one row per test evaluation)
  timing.csv   step, sps, wall_s: the wall-clock side of each curve row (training steps/s since
               the previous row, training seconds so far), kept apart so that curve.csv and
               eval.json of a CPU run repeat byte for byte
  agent.pt     final weights + the spec to rebuild the net
  eval.json    final test evaluation (mean, std, episodes, scores, frame_cap, sticky, ...)
  tb/          TensorBoard scalars (charts/*, losses/*); a resumed run first cuts its events
               files back to the resume checkpoint, then adds one: each step once
  resume/      ckpt.pt (+ ckpt.prev.pt): resume checkpoints, not declared outputs, so they
               survive Snakemake's deletion of a failed job's outputs

While it runs, ``train`` holds the folder's lock (``a2d.runlock``: a second job on it stops at
once), and refuses a folder that holds a finished run (eval.json) unless ``force``, which moves
the old run aside. Every check (seed, resume checkpoint, envs, net, hooks) comes before anything
in the folder is written.

The declared outputs are all written at the end, each atomically, eval.json last: a killed or
failed run leaves none that could pass for finished. Resume is exact: checkpoints fall on PPO
iteration boundaries and hold every random state; the training envs (whose emulator state ale-py
cannot save) are re-seeded and reset at each checkpoint boundary, in the uninterrupted run too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from a2d import A2DError, faults
from a2d.checkpoint import (
    CheckpointError,
    atomic_write_csv,
    atomic_write_json,
    load_resume,
    remove_resume,
    save_resume,
    sweep_temps,
)
from a2d.config import TrainConfig, resolve_device, resolve_precision, to_dict
from a2d.envs import TrainEnv, canonical
from a2d.models import build, get_spec
from a2d.models.agent_file import agent_payload, save_agent
from a2d.models.cost import model_card
from a2d.rl.evaluate import eval_seed, evaluate
from a2d.runlock import refuse_finished, run_lock

CURVE_FIELDS = ["step", "test_mean", "test_std", "train_return"]
TIMING_FIELDS = ["step", "sps", "wall_s"]
CHECKPOINT_FORMAT = "a2d-resume-v3"  # v3: FIRE after a life loss stored as executed


class PPOHook:
    """Extension points of the PPO loop (the architecture search and distillation use them).

    Every method has a do-nothing default; a hook overrides what it needs.
    """

    #: Whether the hook changes what the run computes. Such hooks are part of a run's identity:
    #: a resume checkpoint written with other ones is refused. Observers set it False.
    changes_training: bool = True

    def setup(self, agent: nn.Module, n_actions: int, device: str) -> None:
        """Called once, after the agent is built and before anything runs."""

    def on_iteration_start(self, iteration: int, global_step: int) -> None:
        """Before the rollout of a PPO iteration (e.g. draw the Gumbel noise for it)."""

    def extra_losses(
        self, obs: torch.Tensor, logits: torch.Tensor, value: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Loss terms added to the PPO loss of a minibatch (logged under losses/<name>)."""
        return {}

    def held_out_share(self) -> float:
        """The share of this iteration's rollout held out of the weights' update for the hook's
        own steps (a bi-level search: alpha's); 0 (the default): none. See ``ppo_update``."""
        return 0.0

    def on_update_start(self, obs: torch.Tensor) -> None:
        """Before the update's first minibatch, with the iteration's rollout observations
        flattened to ``(batch_size, ...)``: each minibatch's ``rows`` (``on_minibatch``) index
        into it (e.g. run a frozen teacher once per iteration instead of once per minibatch
        and epoch). Runs under the update's autocast, with gradients on."""

    def on_minibatch(self, minibatch: int, held_out: bool, rows: torch.Tensor) -> None:
        """Before a minibatch's forward pass: its index in the epoch, whether it comes from
        the held-out share (on which the weights never step) and its rows of the rollout (the
        ``obs`` of ``on_update_start``)."""

    def step_weights(self, minibatch: int) -> bool:
        """Whether the network weights take an optimiser step on this minibatch (a held-out
        minibatch never steps them, whatever this says)."""
        return True

    def after_backward(self, minibatch: int) -> None:
        """After the minibatch's backward pass (e.g. step the architecture parameters)."""

    def eval_context(self):
        """Context manager wrapped around every test evaluation (e.g. argmax architecture)."""
        return contextlib.nullcontext()

    def on_evaluation(self, step: int, result: dict[str, Any]) -> None:
        """After each test evaluation (periodic and final)."""

    def on_iteration_end(self, iteration: int, global_step: int, writer) -> None:
        """After the update of a PPO iteration."""

    def state_dict(self) -> dict[str, Any]:
        """Extra state saved in the resume checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved."""

    def identity(self) -> dict[str, Any]:
        """What this hook contributes to the run's resume signature: its class, every config
        dataclass it holds (e.g. the search method's settings) and the SHA-256 of the weights of
        every frozen module it holds (e.g. a teacher). Computed before ``setup``; a hook whose
        result depends on anything else overrides this."""
        out: dict[str, Any] = {"class": type(self).__name__}
        for name, value in sorted(vars(self).items()):
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                out[name] = dataclasses.asdict(value)
            elif isinstance(value, nn.Module) and not any(
                p.requires_grad for p in value.parameters()
            ):
                out[name] = {"sha256": weights_sha256(value)}
        return out


def weights_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's state_dict (names, dtypes, shapes and bytes of every tensor)."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# The two pieces of PPO maths, as functions so they can be checked on hand-worked examples.


def compute_gae(rewards, values, dones, next_value, next_done, gamma: float, gae_lambda: float):
    """Generalised advantage estimation (T, N tensors). ``dones[t]`` = obs[t] starts an episode."""
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    lastgaelam = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        if t == T - 1:
            nextnonterminal = 1.0 - next_done
            nextvalues = next_value
        else:
            nextnonterminal = 1.0 - dones[t + 1]
            nextvalues = values[t + 1]
        delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
        lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
        advantages[t] = lastgaelam
    return advantages, advantages + values


def ppo_losses(
    newlogprob,
    oldlogprob,
    entropy,
    newvalue,
    oldvalue,
    advantages,
    returns,
    clip_coef: float,
    clip_vloss: bool,
    norm_adv: bool,
    policy_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Clipped surrogate, (clipped) value loss, entropy, and the KL diagnostics.

    ``policy_mask`` (bool, optional): the samples whose action the policy chose. The others (an
    action the environment pressed itself: FIRE after a lost life) count in the value loss only;
    the surrogate, the entropy, the advantage normalisation and the KL diagnostics are means
    over the policy's samples (0 if a minibatch has none)."""
    logratio = newlogprob - oldlogprob
    ratio = logratio.exp()
    if policy_mask is None:
        mean = torch.mean
    else:
        w = policy_mask.to(ratio.dtype)
        n = w.sum()

        def mean(x: torch.Tensor) -> torch.Tensor:
            return (x * w).sum() / n.clamp(min=1)

    with torch.no_grad():
        old_approx_kl = mean(-logratio)
        approx_kl = mean((ratio - 1) - logratio)
        clipfrac = mean(((ratio - 1.0).abs() > clip_coef).float())
    if policy_mask is None:
        if norm_adv and advantages.numel() > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    elif norm_adv:
        mu = mean(advantages)
        std = (((advantages - mu) ** 2 * w).sum() / (n - 1).clamp(min=1)).sqrt()
        advantages = torch.where(n > 1, (advantages - mu) / (std + 1e-8), advantages)
    pg_loss = mean(
        torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef))
    )
    if clip_vloss:
        v_unclipped = (newvalue - returns) ** 2
        v_clipped = oldvalue + (newvalue - oldvalue).clamp(-clip_coef, clip_coef)
        v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((newvalue - returns) ** 2).mean()
    return {
        "policy_loss": pg_loss,
        "value_loss": v_loss,
        "entropy": mean(entropy),
        "old_approx_kl": old_approx_kl,
        "approx_kl": approx_kl,
        "clipfrac": clipfrac,
    }


def logprob_entropy(logits: torch.Tensor, actions: torch.Tensor):
    logp = logits.log_softmax(-1)
    return logp.gather(1, actions.unsqueeze(1)).squeeze(1), -(logp.exp() * logp).sum(-1)


# --------------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads(n: int) -> None:
    torch.set_num_threads(n if n > 0 else max(1, len(os.sched_getaffinity(0))))


def write_curve(path: Path, rows: list[dict[str, Any]]) -> None:
    """curve.csv, and timing.csv beside it with the wall-clock fields of the same rows."""
    atomic_write_csv(path.with_name("timing.csv"), TIMING_FIELDS, rows)
    atomic_write_csv(path, CURVE_FIELDS, rows)


def _fmt_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class NumericalError(A2DError):
    """A NaN/Inf in a loss term, a gradient, the policy or alpha: names the term and the step."""

    def __init__(self, term: str, step: int | None = None, where: str = ""):
        self.term, self.step, self.where = term, step, where
        at = f" at step {step}" if step is not None else ""
        super().__init__(f"non-finite {term}{at}{where}")


def env_seed(seed: int, iteration: int) -> int:
    """Seed of the training envs from PPO iteration ``iteration`` on (0: the run's seed).

    The envs are re-seeded and reset at every resume-checkpoint boundary, in an uninterrupted run
    as in a resumed one, so the env stream after a checkpoint is a function of (seed, iteration):
    that is what makes a killed-and-resumed run repeat the uninterrupted one exactly (ale-py's
    vector env cannot save its emulator states)."""
    if iteration == 0:
        return seed
    return int(np.random.SeedSequence([seed, 11, iteration]).generate_state(1)[0] % (2**31 - 1))


#: Settings that may change between a run and its resume without changing what it computes
#: (threads change float summation order only when they change; the device is checked as given).
_RESUME_FREE = ("torch_threads", "device")


def _run_signature(game: str, spec: dict, seed: int, cfg: TrainConfig, hooks) -> dict[str, Any]:
    """What a resume checkpoint must match: the run's settings, the precision it resolves to
    on this machine (``auto`` may differ elsewhere) and the identity of every hook that changes
    training (the search method's settings, the teacher's weights)."""
    c = to_dict(cfg)
    for k in _RESUME_FREE:
        c.pop(k, None)
    c["env"].pop("num_threads", None)
    c["precision"] = resolve_precision(cfg.precision, resolve_device(cfg.device))
    return {
        "game": game,
        "spec": spec,
        "seed": seed,
        "config": c,
        "hooks": [h.identity() for h in hooks if h.changes_training],
    }


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path or 'value'}: checkpoint has {a!r}, this run {b!r}"


def _check_finite(
    *xs: torch.Tensor, term: str | Callable[[], str], step: int | None = None, where: str = ""
) -> None:
    """Raise NumericalError (naming ``term``, the step and where) unless every ``xs`` is finite.
    ``term`` may be a function, called only on failure (to name the bad parts)."""
    ok = torch.isfinite(xs[0]).all()
    for x in xs[1:]:
        ok = ok & torch.isfinite(x).all()
    if not bool(ok):
        raise NumericalError(term() if callable(term) else term, step, where)


# --------------------------------------------------------------------------------------------
# The resume state: everything a run carries from one PPO iteration to the next, saved into the
# resume checkpoint and restored from it side by side.


@dataclass
class RunState:
    """Counters, curve and timing of a run (the weights, Adam, RNGs and hooks are saved with it)."""

    global_step: int = 0
    iteration: int = 0
    curve: list[dict[str, Any]] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)  # training returns since the last curve row
    next_eval: int = 0
    eval_index: int = 0
    next_ckpt: int = 0
    train_time: float = 0.0  # seconds spent outside evaluations (for SPS)

    @staticmethod
    def find(path: Path, signature: dict[str, Any], log) -> tuple[dict[str, Any], Path] | None:
        """The newest valid resume checkpoint at ``path`` (None if none), refused unless it
        belongs to this run (same format and signature)."""
        found = load_resume(path, log) if path.parent.is_dir() else None
        if found is None:
            return None
        st, where = found
        if st.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{where}: format {st.get('format')!r} is not {CHECKPOINT_FORMAT!r}; "
                f"remove {path.parent} to start afresh"
            )
        if st["signature"] != signature:
            raise CheckpointError(
                f"{where} belongs to another run ({_first_difference(st['signature'], signature)}); "
                f"remove {path.parent} to start afresh"
            )
        return found

    def to_checkpoint(
        self, signature, agent: nn.Module, optimizer, hooks: Sequence[PPOHook], train_time: float
    ) -> dict[str, Any]:
        """The resume checkpoint of this state (``train_time``: the training time up to now)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "signature": signature,
            "model": agent.state_dict(),
            "optimizer": optimizer.state_dict(),
            "global_step": self.global_step,
            "iteration": self.iteration,
            "curve": self.curve,
            "recent": self.recent,
            "next_eval": self.next_eval,
            "eval_index": self.eval_index,
            "next_ckpt": self.next_ckpt,
            "train_time": train_time,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy_rng": _numpy_rng_state(),
            "python_rng": random.getstate(),
            "hooks": [h.state_dict() for h in hooks],
        }

    @classmethod
    def from_checkpoint(
        cls,
        st: dict[str, Any],
        agent: nn.Module,
        optimizer,
        hooks: Sequence[PPOHook],
        where: Path | None = None,
    ) -> RunState:
        """Restore the weights, Adam, every RNG and the hooks from ``st``; return the state.
        A checkpoint whose entries do not fit (missing, of the wrong kind) is a CheckpointError."""
        try:
            agent.load_state_dict(st["model"])
            optimizer.load_state_dict(st["optimizer"])
            state = cls(**{k: st[k] for k in _STATE_KEYS})
            torch.set_rng_state(st["torch_rng"])
            if st.get("cuda_rng") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(st["cuda_rng"])
            _set_numpy_rng_state(st["numpy_rng"])
            py = st["python_rng"]
            random.setstate((py[0], tuple(py[1]), py[2]))
            for h, hs in zip(hooks, st["hooks"]):
                h.load_state_dict(hs)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
            detail = str(e).splitlines()[0][:100] if str(e) else ""
            raise CheckpointError(
                f"resume checkpoint {where if where else ''} does not fit this run "
                f"({type(e).__name__}: {detail}); remove {where.parent if where else 'it'} "
                "to start afresh"
            ) from None
        return state


def _numpy_rng_state() -> dict[str, Any]:
    """NumPy's global RNG state as a tensor and plain numbers (loadable with weights_only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "bit_generator": str(name),
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _set_numpy_rng_state(st: dict[str, Any]) -> None:
    """Restore what ``_numpy_rng_state`` saved: exactly the same stream."""
    keys = st["keys"].numpy()
    if keys.shape != (624,) or keys.min() < 0 or keys.max() >= 2**32:
        raise ValueError("numpy_rng keys are not 624 32-bit words")
    np.random.set_state(
        (
            st["bit_generator"],
            keys.astype(np.uint32),
            int(st["pos"]),
            int(st["has_gauss"]),
            float(st["cached_gaussian"]),
        )
    )


_STATE_KEYS = [f.name for f in fields(RunState)]


class _Clock:
    """Training time (test evaluations excluded, kept in ``state.train_time``) and steps/s."""

    def __init__(self, state: RunState):
        self.state = state
        self.start()

    def start(self) -> None:
        self.t_last, self.step_last = time.perf_counter(), self.state.global_step

    def stop(self) -> float:
        """Add the time since ``start`` to the training time; its steps/s (NaN if none)."""
        self.t_stop = time.perf_counter()
        self.state.train_time += self.t_stop - self.t_last
        steps = self.state.global_step - self.step_last
        return steps / max(self.t_stop - self.t_last, 1e-9) if steps > 0 else float("nan")

    def sps(self) -> float:
        return (self.state.global_step - self.step_last) / max(
            time.perf_counter() - self.t_last, 1e-9
        )

    def train_time(self) -> float:
        return self.state.train_time + (time.perf_counter() - self.t_last)


# --------------------------------------------------------------------------------------------
# The rollout: its storage, and its collection with the G asynchronous env groups.


class Rollout:
    """One PPO iteration's rollout on the device, and the latest frames / done flags of the envs.

    Frames stay uint8 (4x smaller than float and cheap to copy), stored channels-last (the nets'
    layout), so a minibatch gathered from them is already laid out for the first convolution.
    Rewards and done flags are filled on the host during the rollout (no per-step device copies)
    and moved to the device once, for GAE. On a GPU the frames come through pinned host memory
    and a non-blocking copy."""

    def __init__(self, env: TrainEnv, num_steps: int, num_envs: int, device: str):
        self.env, self.num_steps, self.num_envs, self.device = env, num_steps, num_envs, device
        T, N = num_steps, num_envs
        stack, height, width = env.observation_shape
        self.obs = torch.zeros(
            (T, N, height, width, stack), dtype=torch.uint8, device=device
        ).permute(0, 1, 4, 2, 3)
        self.actions = torch.zeros((T, N), dtype=torch.long, device=device)
        #: True where the env pressed the action itself (FIRE after a lost life): the action
        #: stored is the one executed, and it counts in the value loss only
        self.forced = torch.zeros((T, N), dtype=torch.bool, device=device)
        self.logprobs = torch.zeros((T, N), device=device)
        self.rewards = torch.zeros((T, N))  # host
        self.dones = torch.zeros((T, N))  # host; dones[t]: obs[t] starts an episode
        self.values = torch.zeros((T, N), device=device)
        self.next_obs = torch.zeros((N, stack, height, width), dtype=torch.uint8, device=device)
        self.next_done = torch.zeros(N)  # host
        pinned = device != "cpu" and torch.cuda.is_available()
        self.staging = [
            torch.empty((sl.stop - sl.start, stack, height, width), dtype=torch.uint8).pin_memory()
            if pinned
            else None
            for sl in env.slices
        ]

    def put_obs(self, cols: slice, frames: np.ndarray, g: int) -> None:
        src = torch.from_numpy(frames)
        if self.staging[g] is not None:
            self.staging[g].copy_(src)
            src = self.staging[g]
        self.next_obs[cols].copy_(src, non_blocking=True)

    def reset(self) -> None:
        """Reset the envs (from ``env.seed``): new first frames, no episode just ended."""
        frames = self.env.reset()
        for g, cols in enumerate(self.env.slices):
            self.put_obs(cols, frames[cols], g)
        self.next_done.zero_()

    def collect(self, g: int, cols: slice, step: int) -> list[tuple[float, int]]:
        """Receive group g's step ``step`` (sent earlier): reward, next frames, done flags.
        Returns the (return, length) of the games that ended."""
        o, r, d, finished = self.env.recv(g)
        self.rewards[step, cols] = torch.from_numpy(r)
        self.put_obs(cols, o, g)
        self.next_done[cols] = torch.from_numpy(d.astype(np.float32))
        return finished


def collect_rollout(
    agent: nn.Module,
    rollout: Rollout,
    amp,
    global_step: int,
    on_episode: Callable[[float, int, int], None],
    gamma: float,
    gae_lambda: float,
) -> tuple[int, torch.Tensor, torch.Tensor]:
    """Fill ``rollout`` with ``num_steps`` steps of every env (the policy sampling, in inference
    mode); return the new global step and the rollout's GAE advantages and returns.

    The envs form G groups (env.async_groups): group g's step runs on ale-py's threads (send)
    while the net acts for the next group, and is collected (recv) just before the net acts for
    g again. G = 1 is the classic loop: act, step. ``on_episode(return, length, step)`` for each
    game that ends."""
    agent.eval()
    with torch.inference_mode():
        global_step = _act_and_step(agent, rollout, amp, global_step, on_episode)
        advantages, returns = advantages_and_returns(agent, rollout, amp, gamma, gae_lambda)
    agent.train()
    return global_step, advantages, returns


def _act_and_step(agent, rollout: Rollout, amp, global_step: int, on_episode) -> int:
    env, n = rollout.env, rollout.num_envs
    forced_actions = getattr(env, "forced_actions", lambda g: None)
    rollout.forced.zero_()

    def collect(g: int, cols: slice, step: int, at_step: int) -> None:
        for ret, length in rollout.collect(g, cols, step):
            on_episode(ret, length, at_step)

    for step in range(rollout.num_steps):
        faults.point("rollout")
        global_step += n
        for g, cols in enumerate(env.slices):
            if step > 0:
                collect(g, cols, step - 1, global_step - n)
            rollout.obs[step, cols] = rollout.next_obs[cols]
            rollout.dones[step, cols] = rollout.next_done[cols]
            with amp:
                logits, value = agent(rollout.next_obs[cols])
            _check_finite(
                logits,
                value,
                term="policy output (logits or value) in the rollout",
                step=global_step,
            )
            action = torch.multinomial(torch.softmax(logits, -1), 1).squeeze(1)
            forced = forced_actions(g)  # the env presses FIRE itself after a lost life
            if forced is not None:
                mask = torch.from_numpy(forced >= 0).to(action.device)
                action = torch.where(mask, torch.from_numpy(forced).to(action.device), action)
                rollout.forced[step, cols] = mask
            env.send(g, action.cpu().numpy())
            logprob, _ = logprob_entropy(logits, action)
            rollout.values[step, cols] = value
            rollout.actions[step, cols] = action
            rollout.logprobs[step, cols] = logprob
    for g, cols in enumerate(env.slices):
        collect(g, cols, rollout.num_steps - 1, global_step)
    return global_step


def advantages_and_returns(
    agent: nn.Module, rollout: Rollout, amp, gamma: float, gae_lambda: float
):
    """GAE over the rollout, bootstrapped from the value of the envs' latest frames."""
    with amp:
        _, next_value = agent(rollout.next_obs)
    device = rollout.device
    return compute_gae(
        rollout.rewards.to(device),
        rollout.values,
        rollout.dones.to(device),
        next_value.float(),
        rollout.next_done.to(device),
        gamma,
        gae_lambda,
    )


# --------------------------------------------------------------------------------------------
# The update: minibatch epochs over the rollout.


class HeldOutError(A2DError, ValueError):
    """A held-out share that leaves a part of the rollout smaller than the minibatch count."""


def held_out_size(share: float, batch_size: int, num_minibatches: int) -> int:
    """How many of a rollout's ``batch_size`` samples a held-out ``share`` is; HeldOutError if
    it leaves either part with fewer samples than ``num_minibatches`` (a run can check this
    before it starts)."""
    n_held = int(round(share * batch_size))
    if min(n_held, batch_size - n_held) < num_minibatches:
        raise HeldOutError(
            f"a held-out share of {share} of the {batch_size} samples of a rollout leaves a "
            f"part smaller than ppo.num_minibatches ({num_minibatches})"
        )
    return n_held


def _held_out_split(hooks: Sequence[PPOHook], p, device) -> tuple[Any, Any]:
    """(held-out sample indices, kept indices) of this iteration's rollout, drawn at random
    once per iteration; (None, None) when no hook holds out a share (no random draw)."""
    share = max((h.held_out_share() for h in hooks), default=0.0)
    if share <= 0:
        return None, None
    n_held = held_out_size(share, p.batch_size, p.num_minibatches)
    split = torch.randperm(p.batch_size, device=device)
    return split[:n_held], split[n_held:]


def ppo_update(
    agent: nn.Module,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    p,
    hooks: Sequence[PPOHook],
    amp,
    iteration: int,
    global_step: int,
) -> dict[str, float]:
    """``p.update_epochs`` epochs of minibatch steps on the PPO loss plus the hooks' extra loss
    terms; a non-finite loss term or gradient raises NumericalError. Returns the loss terms of
    the last minibatch (logged as losses/<name>).

    Each epoch reshuffles the rollout into ``p.num_minibatches`` minibatches, one weights step
    each. When a hook holds out a share of the rollout (``held_out_share``: a bi-level search),
    the rollout is split at random once per iteration into a kept part and a held-out part; each
    epoch reshuffles both, and weights minibatch i (of the kept part) is followed by held-out
    minibatch i, on which the hooks take their own steps (``after_backward``) and the weights
    never step. The weights keep their ``update_epochs * num_minibatches`` optimiser steps, and
    no held-out sample reaches them in that iteration."""
    b_obs = rollout.obs.reshape((-1, *rollout.obs.shape[2:]))  # a view, still channels-last
    b_actions, b_logprobs = rollout.actions.reshape(-1), rollout.logprobs.reshape(-1)
    b_adv, b_returns, b_values = (
        advantages.reshape(-1),
        returns.reshape(-1),
        rollout.values.reshape(-1),
    )
    # actions the env pressed itself (FIRE after a lost life) count in the value loss only
    b_policy = ~rollout.forced.reshape(-1) if bool(rollout.forced.any()) else None
    held, kept = _held_out_split(hooks, p, rollout.device)
    with amp:
        for h in hooks:
            h.on_update_start(b_obs)
    for epoch in range(p.update_epochs):
        if held is None:
            perm = torch.randperm(p.batch_size, device=rollout.device)
            plan = [
                (perm[start : start + p.minibatch_size], False)
                for start in range(0, p.batch_size, p.minibatch_size)
            ]
        else:  # weights minibatch i of the kept part, then held-out minibatch i
            w = kept[torch.randperm(len(kept), device=rollout.device)]
            a = held[torch.randperm(len(held), device=rollout.device)]
            plan = [
                (mb, is_held)
                for pair in zip(
                    w.tensor_split(p.num_minibatches), a.tensor_split(p.num_minibatches)
                )
                for mb, is_held in zip(pair, (False, True))
            ]
        for mb_index, (mb, held_out) in enumerate(plan):
            where = f" (PPO iteration {iteration}, epoch {epoch}, minibatch {mb_index})"
            for h in hooks:
                h.on_minibatch(mb_index, held_out, mb)
            mb_obs = b_obs[mb]
            with amp:
                logits, newvalue = agent(mb_obs)
            newlogprob, entropy = logprob_entropy(logits, b_actions[mb])
            terms = ppo_losses(
                newlogprob,
                b_logprobs[mb],
                entropy,
                newvalue,
                b_values[mb],
                b_adv[mb],
                b_returns[mb],
                p.clip_coef,
                p.clip_vloss,
                p.norm_adv,
                None if b_policy is None else b_policy[mb],
            )
            extra: dict[str, torch.Tensor] = {}
            with amp:  # e.g. the teacher's forward pass
                for h in hooks:
                    extra.update(h.extra_losses(mb_obs, logits, newvalue))
            terms.update(extra)
            names = ("policy_loss", "value_loss", "entropy", *extra)
            for name in names:
                if faults.nan_now(name, iteration):
                    terms[name] = terms[name] + float("nan")
            loss = (
                terms["policy_loss"]
                - p.ent_coef * terms["entropy"]
                + p.vf_coef * terms["value_loss"]
            )
            for name in extra:
                loss = loss + terms[name]

            def bad_terms(names=names, terms=terms) -> str:
                bad = [k for k in names if not bool(torch.isfinite(terms[k].detach()))]
                return f"loss term {', '.join(bad) or 'total'}"

            _check_finite(loss.detach(), term=bad_terms, step=global_step, where=where)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            try:
                for h in hooks:
                    h.after_backward(mb_index)
            except NumericalError as e:
                raise NumericalError(e.term, global_step, where) from None
            if not held_out and all(h.step_weights(mb_index) for h in hooks):
                norm = nn.utils.clip_grad_norm_(agent.parameters(), p.max_grad_norm)
                _check_finite(
                    norm, term="gradient of the network weights", step=global_step, where=where
                )
                optimizer.step()
            faults.point("update")
        if p.target_kl is not None and terms["approx_kl"] > p.target_kl:
            break
    return {k: float(v.detach()) for k, v in terms.items()}


# --------------------------------------------------------------------------------------------
# Test evaluations and the curve they make.


class _Evaluations:
    """The run's test evaluations (under the hooks' eval_context) and the curve rows they add
    (curve.csv / timing.csv, charts/test_*, the hooks' on_evaluation)."""

    def __init__(self, agent, game, seed, cfg: TrainConfig, hooks, device, writer, state):
        self.agent, self.game, self.seed, self.cfg = agent, game, seed, cfg
        self.hooks, self.device, self.writer, self.state = hooks, device, writer, state

    def run(self, episodes: int, tag: int) -> dict[str, Any]:
        with contextlib.ExitStack() as stack:
            for h in self.hooks:
                stack.enter_context(h.eval_context())
            return evaluate(
                self.agent,
                self.game,
                episodes,
                self.cfg.eval,
                self.cfg.env,
                eval_seed(self.seed, tag),
                self.device,
            )

    def add_row(self, step: int, res: dict[str, Any], sps: float) -> None:
        st = self.state
        train_ret = float(np.mean(st.recent)) if st.recent else float("nan")
        st.recent.clear()
        st.curve.append(
            {
                "step": step,
                "test_mean": res["mean"],
                "test_std": res["std"],
                "train_return": train_ret,
                "sps": sps,  # timing.csv
                "wall_s": st.train_time,  # timing.csv
            }
        )
        self.writer.add_scalar("charts/test_mean", res["mean"], step)
        self.writer.add_scalar("charts/test_std", res["std"], step)
        for h in self.hooks:
            h.on_evaluation(step, res)

    def periodic(self, clock: _Clock, log) -> None:
        """A curve evaluation (step 0 included); its time is not training time."""
        st = self.state
        sps = clock.stop()
        res = self.run(self.cfg.eval.curve_episodes, st.eval_index)
        self.add_row(st.global_step, res, sps)
        st.eval_index += 1
        st.next_eval += self.cfg.eval.interval
        clock.start()
        log(
            f"step {st.global_step:>9d}  test {res['mean']:8.2f} ± {res['std']:.2f} ({res['episodes']} ep, "
            f"{clock.t_last - clock.t_stop:.1f}s)"
        )


def _log_iteration(
    writer, log, hooks, optimizer, stats, returns, values, state: RunState, clock, num_iterations
) -> None:
    """An iteration's TensorBoard scalars (charts/learning_rate, losses/*, charts/SPS), the hooks'
    on_iteration_end, and every 10 iterations a progress line."""
    b_returns, b_values = returns.reshape(-1), values.reshape(-1)
    var_y = b_returns.var()
    explained_var = float("nan") if var_y == 0 else float(1 - (b_returns - b_values).var() / var_y)
    writer.add_scalar("charts/learning_rate", optimizer.param_groups[0]["lr"], state.global_step)
    for k, v in stats.items():
        writer.add_scalar(f"losses/{k}", v, state.global_step)
    writer.add_scalar("losses/explained_variance", explained_var, state.global_step)
    sps = clock.sps()
    writer.add_scalar("charts/SPS", sps, state.global_step)
    for h in hooks:
        h.on_iteration_end(state.iteration, state.global_step, writer)
    if state.iteration % 10 == 0 or state.iteration == num_iterations:
        batch = len(b_returns)
        remaining = (num_iterations - state.iteration) * batch / max(sps, 1e-9)
        last = state.curve[-1]["test_mean"] if state.curve else float("nan")
        log(
            f"step {state.global_step:>9d}/{num_iterations * batch}  {sps:6.0f} SPS  last test {last:.2f}  "
            f"ETA {_fmt_eta(remaining)}"
        )


def _final_outputs(
    out: Path, evals: _Evaluations, clock: _Clock, card, spec, n_actions, arch_name, finish, log
) -> dict[str, Any]:
    """The final test evaluation (the curve's last point) and the declared outputs, each
    atomically: model.json, curve.csv + timing.csv, agent.pt, the caller's ``finish`` outputs,
    then eval.json last (its presence means the run finished). Then the resume state is spent
    (a forced rerun must start afresh, not from it)."""
    agent, cfg, game, seed, state = evals.agent, evals.cfg, evals.game, evals.seed, evals.state
    sps = clock.stop()
    final = evals.run(cfg.eval.episodes, 10**6)  # a tag no periodic evaluation uses
    evals.add_row(state.global_step, final, sps)
    atomic_write_json(out / "model.json", card)
    write_curve(out / "curve.csv", state.curve)
    payload = agent_payload(agent, spec, n_actions, cfg.model.norm, game, seed, state.global_step)
    save_agent(out / "agent.pt", payload)
    result = {
        "game": game,
        "arch": arch_name,
        "seed": seed,
        "steps": state.global_step,
        **final,
        "macs": card["macs"],
        "params": card["params"],
        "train_wall_s": round(
            state.train_time, 2
        ),  # returned, not in eval.json (timing.csv has it)
    }
    if finish is not None:
        finish(result, payload)
    faults.point("final")
    atomic_write_json(out / "eval.json", {k: v for k, v in result.items() if k != "train_wall_s"})
    remove_resume(out / "resume" / "ckpt.pt")
    log(
        f"final test {final['mean']:.2f} ± {final['std']:.2f} over {final['episodes']} episodes; "
        f"{state.global_step} steps in {state.train_time:.0f}s"
    )
    return result


#: Largest seed: env i of a run is seeded ``seed + i`` and ale-py takes 32-bit signed seeds.
SEED_MAX = 2**31 - 1


def _check_seed(seed: int, num_envs: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise A2DError(f"seed must be an integer >= 0, got {seed!r}")
    if seed + num_envs - 1 > SEED_MAX:
        raise A2DError(
            f"seed {seed} with ppo.num_envs {num_envs}: the envs' seeds seed..seed+num_envs-1 "
            f"must stay <= {SEED_MAX}"
        )


def _tb_sizes(tb: Path) -> dict[str, int]:
    """The size of each TensorBoard events file in ``tb`` (after a flush): saved with a resume
    checkpoint, so that a resume can cut the files back to that point."""
    return {f.name: f.stat().st_size for f in sorted(tb.glob("events.out.tfevents.*"))}


def _tb_rewind(tb: Path, sizes: dict[str, int]) -> None:
    """Cut the events files back to ``sizes`` (a resume checkpoint's): what was logged after
    that checkpoint is replayed by the resumed run, so it must not stay. A file created after
    the checkpoint (a resumed run killed before its next one) holds only replayed steps and is
    removed."""
    for f in tb.glob("events.out.tfevents.*"):
        keep = sizes.get(f.name)
        if keep is None:
            f.unlink(missing_ok=True)
        elif f.stat().st_size > keep:
            with open(f, "r+b") as fh:
                fh.truncate(keep)
                os.fsync(fh.fileno())


def _device_setup(cfg: TrainConfig) -> tuple[str, str, Any]:
    """Device, precision and the autocast context of a run; sets torch's threads."""
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    # 0 = one thread per core on a CPU run; on a GPU run 1: there the host side's torch work is
    # small copies, and more intra-op threads only compete with the emulator threads (measured
    # on an H200 box, 64 envs: 4,823 -> 7,023 steps/s)
    set_threads(cfg.torch_threads or (1 if device.startswith("cuda") else 0))
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # a handful of fixed shapes: tune each once
    # bf16: the nets' hidden layers under autocast; weights, Adam, heads and losses stay float32
    amp = torch.autocast(
        "cuda" if device.startswith("cuda") else "cpu",
        dtype=torch.bfloat16,
        enabled=precision == "bf16",
    )
    return device, precision, amp


def train(
    game: str,
    arch: str | dict,
    seed: int,
    out_dir: str | Path,
    cfg: TrainConfig,
    hooks: Sequence[PPOHook] = (),
    log: Callable[[str], None] = print,
    finish: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Train one agent with PPO; returns the final evaluation (also written to eval.json).

    ``out_dir`` is locked for the whole run (a second job on it stops at once). A folder that
    holds a finished run is refused unless ``force``: then the old run is moved aside (see
    ``a2d.runlock``) once every check has passed, never deleted.

    A NaN/Inf stops the run with a NumericalError naming the term and the step, after one retry
    from the last resume checkpoint (from the start if there is none yet). ``finish(result,
    agent_payload)`` writes a caller's own final outputs, after agent.pt and before eval.json."""
    faults.load_plan()  # the test failpoints of this run, read once
    _check_seed(seed, cfg.ppo.num_envs)
    with run_lock(out_dir) as lock:
        replace = [refuse_finished(out_dir, force)]

        def prepare() -> None:
            """The first write into the folder, after every check: move a replaced run aside,
            sweep the temps of dead jobs."""
            if replace[0]:
                log(f"moved the finished run in {out_dir} aside to {lock.move_aside()}")
                replace[0] = False
            for d in (lock.folder, lock.folder / "resume"):
                sweep_temps(d)

        try:
            return _train(game, arch, seed, out_dir, cfg, hooks, log, finish, replace[0], prepare)
        except NumericalError as e:
            log(f"error: {e}; retrying once from the last checkpoint")
        try:
            return _train(game, arch, seed, out_dir, cfg, hooks, log, finish, replace[0], prepare)
        except NumericalError as e:
            raise NumericalError(
                e.term, e.step, f"{e.where}, again after a retry from the last checkpoint"
            ) from None


def _build_agent(env, spec, arch_name, cfg, hooks, device, prepare):
    """The net on ``device`` and its model card, with the hooks attached; then ``prepare()`` (the
    last step before the run folder is written). Closes ``env`` if any of it fails."""
    try:
        agent = build(spec, env.n_actions, norm=cfg.model.norm, fc_dim=cfg.model.fc_dim).to(device)
        card = model_card(agent, arch_name)  # before hooks attach (a supernet: its uniform mixture)
        for h in hooks:
            h.setup(agent, env.n_actions, device)
        prepare()
    except BaseException:
        env.close()
        raise
    return agent, card


def _open_writer(tb_dir: Path, found, state: RunState, cfg: TrainConfig):
    """The run's TensorBoard writer: a resumed run's event files are cut back to what its
    checkpoint saw, so every step is logged once."""
    from torch.utils.tensorboard import SummaryWriter

    tb_sizes = found[0].get("tensorboard") if found else {}  # a fresh start: no old events
    if tb_sizes is not None:
        _tb_rewind(tb_dir, tb_sizes)
    # a checkpoint without the events files' sizes: TensorBoard drops the steps >= purge_step
    purge = state.global_step if found and tb_sizes is None else None
    writer = SummaryWriter(str(tb_dir), purge_step=purge)
    if found is None:
        writer.add_text("config", f"```\n{to_dict(cfg)}\n```")
    return writer


def _save_checkpoint(resume_path, state, signature, agent, optimizer, hooks, clock, log) -> None:
    """The resume checkpoint at an iteration boundary, with the sizes of the TensorBoard files."""
    ckpt = state.to_checkpoint(signature, agent, optimizer, hooks, clock.train_time())
    ckpt["tensorboard"] = _tb_sizes(resume_path.parent.parent / "tb")  # what a resume keeps
    info = save_resume(resume_path, ckpt)
    log(
        f"checkpoint at step {state.global_step}: {info['bytes'] / 1e6:.2f} MB written in "
        f"{info['seconds'] * 1000:.0f} ms"
    )


def _train(
    game: str,
    arch: str | dict,
    seed: int,
    out_dir: str | Path,
    cfg: TrainConfig,
    hooks: Sequence[PPOHook],
    log: Callable[[str], None],
    finish,
    replace: bool = False,
    prepare: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """One attempt at the run (``train`` retries once). ``replace``: the folder holds a finished
    run that ``prepare()`` moves aside, so its resume state is not looked at; ``prepare()`` is
    called once every check has passed, before the first write into the folder."""
    out, game, p = Path(out_dir), canonical(game), cfg.ppo
    spec = get_spec(arch) if isinstance(arch, str) else arch
    arch_name = spec.get("arch", str(arch))
    signature = _run_signature(game, spec, seed, cfg, hooks)

    # ---- seeding, device, threads: once, explicitly; then the resume checkpoint, if any,
    # checked against this run before anything is written
    seed_everything(seed)
    device, precision, amp = _device_setup(cfg)
    resume_path = out / "resume" / "ckpt.pt"
    found = None if replace else RunState.find(resume_path, signature, log)

    env = TrainEnv(game, p.num_envs, cfg.env, seed)
    agent, card = _build_agent(env, spec, arch_name, cfg, hooks, device, prepare)
    # ---- every check has passed: from here on the folder is written
    out.mkdir(parents=True, exist_ok=True)
    # foreach: one multi-tensor kernel per Adam op instead of a loop over the parameters (the
    # default only on CUDA): 2.7x faster Adam step on CPU, bitwise the same weights
    optimizer = torch.optim.Adam(
        agent.parameters(), lr=p.learning_rate, eps=p.adam_eps, foreach=True
    )
    num_iterations = max(1, math.ceil(p.total_steps / p.batch_size))  # at least total_steps
    if found is None:
        state = RunState(next_ckpt=cfg.checkpoint_interval)
    else:
        state = RunState.from_checkpoint(found[0], agent, optimizer, hooks, found[1])
        log(f"resumed from {found[1]} at step {state.global_step} (iteration {state.iteration})")
    env.seed = env_seed(seed, state.iteration)  # what the uninterrupted run did at this boundary

    writer = _open_writer(out / "tb", found, state, cfg)
    log(
        f"{game} {arch_name} seed {seed}: {card['macs'] / 1e6:.2f} M MACs, {card['params'] / 1e6:.2f} M params, "
        f"{num_iterations} iterations x {p.batch_size} steps, device {device}, {precision}, "
        f"{p.num_envs} envs in {len(env.slices)} async group(s)"
    )

    def on_episode(ret: float, length: int, at_step: int) -> None:
        state.recent.append(ret)
        writer.add_scalar("charts/episodic_return", ret, at_step)
        writer.add_scalar("charts/episodic_length", length, at_step)

    try:
        rollout = Rollout(env, p.num_steps, p.num_envs, device)
        rollout.reset()
        evals = _Evaluations(agent, game, seed, cfg, hooks, device, writer, state)
        clock = _Clock(state)
        while state.iteration < num_iterations:
            if state.global_step >= state.next_eval:
                evals.periodic(clock, log)

            for h in hooks:
                h.on_iteration_start(state.iteration, state.global_step)
            if p.anneal_lr:
                frac = 1.0 - state.iteration / num_iterations
                optimizer.param_groups[0]["lr"] = frac * p.learning_rate

            # ---- rollout
            state.global_step, advantages, returns = collect_rollout(
                agent, rollout, amp, state.global_step, on_episode, p.gamma, p.gae_lambda
            )

            # ---- update
            stats = ppo_update(
                agent, optimizer, rollout, advantages, returns, p, hooks, amp,
                state.iteration, state.global_step,
            )  # fmt: skip
            state.iteration += 1

            # ---- logging
            _log_iteration(
                writer, log, hooks, optimizer, stats, returns, rollout.values, state, clock,
                num_iterations,
            )  # fmt: skip

            # ---- resume checkpoint at an iteration boundary, then the envs restart from a seed
            # that is a function of (seed, iteration): a resumed run restarts them identically
            if state.global_step >= state.next_ckpt and state.iteration < num_iterations:
                state.next_ckpt += cfg.checkpoint_interval
                writer.flush()
                _save_checkpoint(resume_path, state, signature, agent, optimizer, hooks, clock, log)
                env.seed = env_seed(seed, state.iteration)
                rollout.reset()

        # ---- final evaluation and the declared outputs, all written at the end, eval.json last
        return _final_outputs(out, evals, clock, card, spec, env.n_actions, arch_name, finish, log)
    finally:
        env.close()
        writer.close()
