"""a2d: Auto-Agent-Distiller reproduction and toolkit."""

__version__ = "0.1.0"


class A2DError(Exception):
    """A user-facing error: printed as one line by the CLI, never as a traceback."""
