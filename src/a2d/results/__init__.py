"""Figures, tables and statistics. Reads results files only: never imports rl or models."""
