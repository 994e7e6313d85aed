"""Errors the command line reports as one clear line instead of a traceback."""

from __future__ import annotations

SHOWN_CHARS = 60


def shown(value: object) -> str:
    """repr(value) short enough for a one-line error: a 400-digit integer or a long list
    from a config is cut in the middle."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    half = SHOWN_CHARS // 2
    return f"{text[:half]}...{text[-half:]}"


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


class OutputError(SsamtError, OSError):
    """An output cannot be written (read-only, disk full, a folder, the same file as an
    input); the message names the path. Also an OSError, for callers that catch those."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class RunFolderError(SsamtError):
    """A run folder is in use by another process, holds another dataset's run, or holds
    finished results that the command would overwrite."""
