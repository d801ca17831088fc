"""The component registry: what every installed plugin provides, keyed by (kind, name, backend).

Plugins are found through the ``scratchlab`` entry-point group. Set
``SCRATCHLAB_DISABLE_THIRD_PARTY_PLUGINS=1`` to load only the first-party packages listed in
``registry.yaml`` (useful when a broken third-party plugin stops everything).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pluggy
import yaml

from scratchlab.core import hookspecs
from scratchlab.core.errors import ComponentNotFound, ScratchlabError, did_you_mean

ENTRY_POINT_GROUP = "scratchlab"
DISABLE_THIRD_PARTY_ENV = "SCRATCHLAB_DISABLE_THIRD_PARTY_PLUGINS"
BACKENDS = ("torch", "mlx")


@dataclass(frozen=True)
class Component:
    """One registered part: a model, an attention, an optimizer, a task, a dataset, ...

    ``factory`` builds it; what it takes depends on the kind (documented in docs/architecture.md).
    ``config`` is the dataclass of its settings, whose defaults and field types the spec
    validator uses. ``backend`` is ``"torch"``, ``"mlx"`` or None for framework-free parts.
    """

    kind: str
    name: str
    factory: Callable[..., Any]
    config: type | None = None
    backend: str | None = None
    summary: str = ""
    package: str = ""  # the distribution that registered it; filled in by the registry

    def __post_init__(self) -> None:
        if self.backend not in (None, *BACKENDS):
            raise ValueError(f"component {self.kind}/{self.name}: unknown backend {self.backend!r}")
        if self.config is not None and not dataclasses.is_dataclass(self.config):
            raise TypeError(f"component {self.kind}/{self.name}: config must be a dataclass")


class Registry:
    """All components, with lookups that fail with an actionable message."""

    def __init__(self, components: list[Component] | None = None) -> None:
        self._by_key: dict[tuple[str, str, str | None], Component] = {}
        for c in components or []:
            self.add(c)

    def add(self, component: Component) -> None:
        key = (component.kind, component.name, component.backend)
        if key in self._by_key:
            other = self._by_key[key]
            backend = f" ({component.backend})" if component.backend else ""
            raise ScratchlabError(
                f"duplicate component {component.kind} '{component.name}'{backend}: registered by "
                f"both '{other.package or '?'}' and '{component.package or '?'}'. Uninstall one of "
                "them or rename the component in your plugin.")
        self._by_key[key] = component

    def __iter__(self) -> Iterator[Component]:
        return iter(sorted(self._by_key.values(), key=lambda c: (c.kind, c.name, c.backend or "")))

    def __len__(self) -> int:
        return len(self._by_key)

    def kinds(self) -> list[str]:
        return sorted({c.kind for c in self})

    def names(self, kind: str) -> list[str]:
        return sorted({c.name for c in self if c.kind == kind})

    def find(self, kind: str, name: str, backend: str | None = None) -> Component | None:
        return self._by_key.get((kind, name, backend)) or self._by_key.get((kind, name, None))

    def get(self, kind: str, name: str, backend: str | None = None) -> Component:
        """The component, or a ComponentNotFound that says what to install or what was meant."""
        found = self.find(kind, name, backend)
        if found is not None:
            return found
        if name in self.names(kind):
            have = sorted({c.backend or "any" for c in self if c.kind == kind and c.name == name})
            raise ComponentNotFound(
                f"{kind} '{name}' has no {backend} implementation (available for: "
                f"{', '.join(have)}).")
        hint = install_hint(kind, name)
        if hint:
            raise ComponentNotFound(f"{kind} '{name}' is provided by {hint}.")
        known = self.names(kind)
        raise ComponentNotFound(
            f"unknown {kind} '{name}'{did_you_mean(name, known)}; installed {kind}s: "
            f"{', '.join(known) or 'none'}.")

    def config_class(self, kind: str, name: str) -> type | None:
        """The config dataclass shared by every backend of a component."""
        for c in self:
            if c.kind == kind and c.name == name:
                return c.config
        self.get(kind, name)  # raises with the right message
        return None


# --- the catalogue (registry.yaml) ----------------------------------------------------------

def _catalogue_path() -> Path | None:
    packaged = Path(__file__).with_name("registry.yaml")
    if packaged.exists():  # wheel installs carry a copy (see pyproject force-include)
        return packaged
    for parent in Path(__file__).resolve().parents:  # editable installs: the repo's own file
        candidate = parent / "registry.yaml"
        if candidate.exists() and (parent / "packages").is_dir():
            return candidate
    return None


@cache
def catalogue() -> dict[str, Any]:
    """registry.yaml: ``{package: {distribution, path, components: {kind: [names]}}}``."""
    path = _catalogue_path()
    if path is None:
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return dict(data.get("packages", {}))


def install_hint(kind: str, name: str) -> str | None:
    """'scratchlab-moe (pip install "scratchlab-moe[torch]")' if the catalogue knows the part."""
    for entry in catalogue().values():
        if name in (entry.get("components") or {}).get(kind, []):
            dist = entry["distribution"]
            return (f"the package {dist}, which is not installed: pip install \"{dist}[torch]\" "
                    f"(or \"[mlx]\"; from a checkout: pip install -e {entry['path']})")
    return None


def first_party_distributions() -> set[str]:
    return {e["distribution"] for e in catalogue().values()} | {"scratchlab-core"}


# --- plugin loading --------------------------------------------------------------------------

def plugin_manager(*, third_party: bool | None = None) -> pluggy.PluginManager:
    """A plugin manager with every installed plugin registered and validated."""
    if third_party is None:
        third_party = os.environ.get(DISABLE_THIRD_PARTY_ENV, "") in ("", "0")
    pm = pluggy.PluginManager("scratchlab")
    pm.add_hookspecs(hookspecs)
    first_party = first_party_distributions()
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"]
        if dist_name in seen:  # the same distribution on sys.path twice
            continue
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP:
                continue
            if not third_party and dist_name not in first_party:
                continue
            seen.add(dist_name)
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin should say who it is
                raise ScratchlabError(
                    f"the plugin '{ep.name}' from {dist_name} failed to import ({exc!r}). "
                    f"Fix or uninstall it, or set {DISABLE_THIRD_PARTY_ENV}=1 to skip "
                    "third-party plugins.") from exc
            if pm.is_registered(plugin) or pm.has_plugin(dist_name):
                continue
            pm.register(plugin, name=dist_name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise ScratchlabError(
            f"a plugin implements a hook that does not exist: {exc}. Hook names start with "
            "'scratchlab_'; see scratchlab.core.hookspecs for the list.") from exc
    return pm


def collect(pm: pluggy.PluginManager) -> Registry:
    registry = Registry()
    for plugin_name, plugin in pm.list_name_plugin():
        impl = getattr(plugin, "scratchlab_components", None)
        if impl is None:
            continue
        for component in impl() or []:
            registry.add(dataclasses.replace(component, package=plugin_name or "?"))
    return registry


@cache
def _default() -> tuple[pluggy.PluginManager, Registry]:
    pm = plugin_manager()
    return pm, collect(pm)


def get_registry() -> Registry:
    """The process-wide registry of every installed plugin (built once)."""
    return _default()[1]


def get_plugin_manager() -> pluggy.PluginManager:
    return _default()[0]


def reset() -> None:
    """Forget the cached registry (after installing a plugin in the same process)."""
    _default.cache_clear()
    catalogue.cache_clear()


class lazy:
    """A factory that imports ``"module:attr"`` on first call, so registering a torch or MLX
    component does not import the framework (``scratchlab list`` stays fast and works even
    where a framework is missing)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def resolve(self) -> Callable[..., Any]:
        module, _, attr = self.target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj  # type: ignore[no-any-return]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"lazy({self.target!r})"
