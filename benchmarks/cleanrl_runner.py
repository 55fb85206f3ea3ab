"""Run CleanRL's unmodified ``ppo_atari.py`` on this project's gymnasium 1.x / ale-py 0.12.

    python benchmarks/cleanrl_runner.py [--episodes CSV] [--threads N] \
        /path/to/cleanrl/cleanrl/ppo_atari.py --total-timesteps 4096

CleanRL pins gymnasium 0.29 and ale-py 0.8 (whose ROMs must be downloaded). Rather than edit its
file, this runner registers ale-py's environments and aliases the two wrappers gymnasium 1.0
renamed (GrayScaleObservation -> GrayscaleObservation, FrameStack -> FrameStackObservation),
then runs the script as ``__main__`` with the remaining arguments. Its episode logging reads
gymnasium 0.29's ``final_info`` and stays silent under 1.x; its training loop, networks, wrappers
and SPS print are CleanRL's own. Used by ``benchmarks/run.py --cleanrl`` for the side-by-side
throughput ratio and by ``benchmarks/cleanrl_compare.py`` for the learning comparison; nothing of
CleanRL is part of this project.

The runner's own options, before the script's path:

``--episodes CSV``
    record CleanRL's training episodes: ``global_step,episodic_return,episodic_length``, one row
    per finished game, appended as it ends. ``gym.vector.SyncVectorEnv`` (which the script
    builds its envs with) is replaced by a subclass that counts its ``step`` calls and reads the
    ``episode`` info that CleanRL's own ``RecordEpisodeStatistics`` wrapper (the innermost one:
    full games, raw unclipped score) reports under gymnasium 1.x. ``global_step`` is the number
    of vector steps so far x the env count: the value of CleanRL's ``global_step`` at that step
    (it adds ``num_envs`` before each ``envs.step``).
``--threads N``
    ``torch.set_num_threads(N)`` before the script starts (CleanRL sets none).
"""

from __future__ import annotations

import csv
import runpy
import sys
from pathlib import Path

import ale_py
import gymnasium as gym

EPISODE_FIELDS = ("global_step", "episodic_return", "episodic_length")


def episode_logging_vector_env(path: str | Path) -> type:
    """A ``gym.vector.SyncVectorEnv`` that appends each finished episode to the CSV ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        csv.writer(f).writerow(EPISODE_FIELDS)

    class EpisodeLoggingSyncVectorEnv(gym.vector.SyncVectorEnv):
        vector_steps = 0

        def step(self, actions):
            out = super().step(actions)
            self.vector_steps += 1
            infos = out[-1]
            if "episode" in infos:
                done = infos.get("_episode", [True] * self.num_envs)
                ep = infos["episode"]
                step = self.vector_steps * self.num_envs
                rows = [
                    (step, float(ep["r"][i]), int(ep["l"][i]))
                    for i in range(self.num_envs)
                    if done[i]
                ]
                if rows:
                    with path.open("a", newline="") as f:
                        csv.writer(f).writerows(rows)
            return out

    return EpisodeLoggingSyncVectorEnv


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    episodes, threads = None, None
    while args and args[0] in ("--episodes", "--threads"):
        if len(args) < 2:
            raise SystemExit(f"{args[0]} needs a value")
        opt, value, args = args[0], args[1], args[2:]
        if opt == "--episodes":
            episodes = value
        else:
            threads = int(value)
    if not args:
        raise SystemExit("usage: cleanrl_runner.py [--episodes CSV] [--threads N] SCRIPT [ARGS]")
    script = Path(args[0]).resolve()
    sys.path.insert(0, str(script.parent.parent))  # for cleanrl_utils
    gym.register_envs(ale_py)
    gym.wrappers.GrayScaleObservation = gym.wrappers.GrayscaleObservation
    gym.wrappers.FrameStack = gym.wrappers.FrameStackObservation
    if episodes is not None:
        gym.vector.SyncVectorEnv = episode_logging_vector_env(episodes)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    sys.argv = [str(script), *args[1:]]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
