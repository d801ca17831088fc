"""scratchlab-core: the registry, hooks, backends, spec loader, runner, results and data.

Importing it imports neither torch nor MLX; backends load their framework when asked.
"""

from scratchlab.core.config import Choice, ChoiceSpec, build_config, choice, resolve_choice
from scratchlab.core.errors import (
                                    CheckpointError,
                                    ComponentNotFound,
                                    Diverged,
                                    ScratchlabError,
                                    SpecError,
)
from scratchlab.core.hookspecs import hookimpl
from scratchlab.core.registry import Component, Registry, get_registry, lazy

__all__ = ["CheckpointError", "Choice", "ChoiceSpec", "Component", "ComponentNotFound",
           "Diverged", "Registry", "ScratchlabError", "SpecError", "build_config", "choice",
           "get_registry", "hookimpl", "lazy", "resolve_choice"]
