"""Where a PPO iteration's time goes: rollout (and, within it, waiting for the emulators in
``env.recv``) vs update, per iteration, for one run of the real training loop.

    python benchmarks/iteration_split.py [--arch vanilla] [--steps 8192] [--set KEY=VALUE ...]
    python benchmarks/iteration_split.py --steps 65536 --set device=cuda --set ppo.num_envs=64 \\
        --set env.async_groups=2 --set env.num_threads=8

Prints one JSON line: milliseconds per iteration (the first one includes warm-up: cuDNN
autotuning, oneDNN kernel creation). The update is timed to a CUDA synchronisation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from run import _bench_cfg, _train_cfg, parse_case

    import a2d.envs as envs
    from a2d.rl.ppo import PPOHook, train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--game", default="Breakout")
    ap.add_argument("--arch", default="vanilla")
    ap.add_argument("--steps", type=int, default=8192)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args()
    sets = parse_case("x:" + ",".join(a.set))[1]

    waited = [0.0]
    recv = envs.TrainEnv.recv

    def timed_recv(self, g):
        t = time.perf_counter()
        out = recv(self, g)
        waited[0] += time.perf_counter() - t
        return out

    envs.TrainEnv.recv = timed_recv

    class Split(PPOHook):
        changes_training = False

        def __init__(self):
            self.rollout, self.wait, self.update = [], [], []
            self.t0 = self.t1 = None

        def on_iteration_start(self, iteration, global_step):
            self.t0, self.t1, waited[0] = time.perf_counter(), None, 0.0

        def extra_losses(self, obs, logits, value):
            if self.t1 is None:  # the first minibatch: the rollout (and GAE) is over
                self.t1 = time.perf_counter()
                self.rollout.append(self.t1 - self.t0)
                self.wait.append(waited[0])
            return {}

        def on_iteration_end(self, iteration, global_step, writer):
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.update.append(time.perf_counter() - self.t1)

    cfg = _bench_cfg(_train_cfg(sets), a.steps)
    hook = Split()
    with tempfile.TemporaryDirectory() as d:
        train(a.game, a.arch, 1, d, cfg, hooks=[hook], log=lambda s: None)

    def ms(xs):
        return [round(x * 1000) for x in xs]

    print(
        json.dumps(
            {
                "set": sets,
                "steps_per_iteration": cfg.ppo.batch_size,
                "rollout_ms": ms(hook.rollout),
                "recv_wait_ms": ms(hook.wait),
                "update_ms": ms(hook.update),
            }
        )
    )


if __name__ == "__main__":
    main()
