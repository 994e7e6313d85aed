"""Errors the command line reports as one clear line instead of a traceback."""

from __future__ import annotations


class SsamtError(Exception):
    """Base class: a problem with the user's input or environment, with a clear message."""


class DataError(SsamtError):
    """A data file is missing, malformed or inconsistent; the message names the file."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CheckpointError(SsamtError):
    """A checkpoint is missing, corrupt or does not fit the model asked for."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(SsamtError):
    """A configuration value is unknown or out of range."""
