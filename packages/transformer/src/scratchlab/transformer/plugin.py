"""scratchlab-transformer's plugin: the components it registers."""

from __future__ import annotations

from scratchlab.core import Component, hookimpl


@hookimpl
def scratchlab_components() -> list[Component]:
    return []
