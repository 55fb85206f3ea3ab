"""a2d: Auto-Agent-Distiller reproduction and toolkit."""

import os

__version__ = "0.1.0"  # the one version source: pyproject.toml reads it (dynamic version)

# torch's OpenMP threads spin after each parallel region by default; on a machine whose cores are
# also busy with other jobs (2 cores, 2 torch threads and a second job) the spinning thread steals
# the core the other one needs: PPO `vanilla` at 2 threads ran 5x slower here (~33 vs ~175
# steps/s). Passive waiting changes no result (same threads, same work split). Set before torch
# is imported (a2d is imported first by every entry point); an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class A2DError(Exception):
    """A user-facing error: printed as one line by the CLI, never as a traceback."""
