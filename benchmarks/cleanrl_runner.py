"""Run CleanRL's unmodified ``ppo_atari.py`` on this project's gymnasium 1.x / ale-py 0.12.

    python benchmarks/cleanrl_runner.py /path/to/cleanrl/cleanrl/ppo_atari.py --total-timesteps 4096

CleanRL pins gymnasium 0.29 and ale-py 0.8 (whose ROMs must be downloaded). Rather than edit its
file, this runner registers ale-py's environments and aliases the two wrappers gymnasium 1.0
renamed (GrayScaleObservation -> GrayscaleObservation, FrameStack -> FrameStackObservation),
then runs the script as ``__main__`` with the remaining arguments. Its episode logging reads
gymnasium 0.29's ``final_info`` and stays silent under 1.x; its training loop, networks, wrappers
and SPS print are CleanRL's own. Used by ``benchmarks/run.py --cleanrl`` for the side-by-side
throughput ratio; nothing of CleanRL is part of this project.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import ale_py
import gymnasium as gym


def main() -> None:
    script = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(script.parent.parent))  # for cleanrl_utils
    gym.register_envs(ale_py)
    gym.wrappers.GrayScaleObservation = gym.wrappers.GrayscaleObservation
    gym.wrappers.FrameStack = gym.wrappers.FrameStackObservation
    sys.argv = [str(script), *sys.argv[2:]]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
