"""Figures, tables and statistics. Reads results files only: never imports rl or models."""

from a2d import A2DError


class ResultsError(A2DError):
    """A results file is missing or unreadable, or the arguments do not fit together: each
    module's ``main()`` prints it as one line and exits with status 1."""
