"""Errors a user can cause. The CLI prints them as one paragraph and exits with status 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ScratchlabError(Exception):
    """A mistake in the user's input (spec, component name, file): shown without a traceback."""


class SpecError(ScratchlabError):
    """A problem in an experiment spec, located by file, key path and (where YAML has it) line."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 line: int | None = None) -> None:
        self.file, self.path, self.line, self.reason = file, path, line, message
        where = []
        if file:
            where.append(f"{file}:{line}" if line else file)
        if path:
            where.append(f"at '{path}'")
        super().__init__(f"{' '.join(where)}: {message}" if where else message)


class ComponentNotFound(ScratchlabError):
    """A spec or a call named a component that no installed plugin provides."""


class CheckpointError(ScratchlabError):
    """A checkpoint file is missing, truncated, corrupt or does not match the model."""


class Diverged(Exception):
    """Training produced a non-finite loss; the runner records the run as failed and moves on."""


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest option, or ''."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
