"""Experiment specs: YAML in, a validated list of runs out.

A spec names a task, a base config (every other top-level key), ``variants`` that override it
by deep merge, an optional ``grid`` (cartesian product over dotted key paths; also allowed
inside a variant), ``seeds``, ``backends`` and ``report``. Every run's config is validated
against the task's config dataclass; errors name the file, key path and line.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scratchlab.core.config import ConfigError, build_config, to_dict
from scratchlab.core.errors import ComponentNotFound, SpecError, did_you_mean
from scratchlab.core.registry import BACKENDS, get_registry

META_KEYS = ("name", "description", "task", "backends", "seeds", "variants", "grid", "report")
Lines = dict[tuple[str, ...], int]


@dataclass(frozen=True)
class Run:
    """One point of the sweep: a variant (plus grid values), a seed and a backend."""

    id: str
    variant: str
    seed: int
    backend: str
    config: Any  # the task's config dataclass, validated
    overrides: dict[str, Any] = field(default_factory=dict)  # grid values, for the table

    def describe(self) -> dict[str, Any]:
        return {"run_id": self.id, "variant": self.variant, "backend": self.backend,
                "seed": self.seed, **self.overrides}


@dataclass
class Spec:
    name: str
    task: str
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    grid: dict[str, list[Any]]
    seeds: list[int]
    backends: list[str]
    report: dict[str, Any]
    description: str = ""
    file: str = "<spec>"
    lines: Lines = field(default_factory=dict)
    overrides: list[tuple[str, Any]] = field(default_factory=list)  # from --set, win over all

    def error(self, message: str, path: tuple[str, ...] | str = ()) -> SpecError:
        keys = tuple(path.split(".")) if isinstance(path, str) else path
        line = None
        for n in range(len(keys), 0, -1):  # the deepest key YAML knows a line for
            if keys[:n] in self.lines:
                line = self.lines[keys[:n]]
                break
        return SpecError(message, file=self.file, path=".".join(keys) or None, line=line)

    def runs(self) -> list[Run]:
        """Expand variants x grid x seeds x backends and validate every config."""
        task_config = self._task_config_class()
        runs: list[Run] = []
        for vname, variant in (self.variants or {"base": {}}).items():
            vprefix = ("variants", vname) if self.variants else ()
            vgrid = dict(variant.get("grid", {}) or {})
            grid = {**self.grid, **vgrid}
            merged = deep_merge(self.base, {k: v for k, v in variant.items() if k != "grid"})
            keys = list(grid)
            for values in itertools.product(*(grid[k] for k in keys)):
                point = dict(zip(keys, values))
                raw = copy.deepcopy(merged)
                for key, value in point.items():
                    src = vprefix + ("grid", key) if key in vgrid else ("grid", key)
                    self._set(raw, key, value, src)
                for key, value in self.overrides:
                    self._set(raw, key, value, ("--set", key))
                config = self._validate(task_config, raw, vprefix)
                label = vname + (f"[{', '.join(f'{k}={v}' for k, v in point.items())}]"
                                 if point else "")
                for seed in self.seeds:
                    for backend in self.backends:
                        runs.append(Run(run_id(self.task, to_dict(config), label, seed, backend),
                                        label, seed, backend, config, point))
        return runs

    def _task_config_class(self) -> type:
        registry = get_registry()
        try:
            component = registry.get("task", self.task, self.backends[0])
        except ComponentNotFound as exc:
            raise self.error(str(exc), ("task",)) from None
        for backend in self.backends:
            if registry.find("task", self.task, backend) is None:
                raise self.error(f"task '{self.task}' has no {backend} implementation",
                                 ("backends",))
        if component.config is None:
            raise self.error(f"task '{self.task}' declares no config dataclass", ("task",))
        return component.config

    def _set(self, raw: dict[str, Any], dotted: str, value: Any, src: tuple[str, ...]) -> None:
        try:
            set_path(raw, dotted, value)
        except ValueError as exc:
            raise self.error(str(exc), src) from None

    def _validate(self, cls: type, raw: dict[str, Any], vprefix: tuple[str, ...]) -> Any:
        try:
            return build_config(cls, raw)
        except ConfigError as exc:
            keys = tuple(exc.path.split(".")) if exc.path else ()
            # point at the variant's line if the key came from it, else at the base's
            where = vprefix + keys if vprefix and _has_line(self.lines, vprefix + keys) else keys
            for key, _ in self.overrides:
                if exc.path.startswith(key) or key.startswith(exc.path or "\0"):
                    raise SpecError(f"{exc.reason} (from --set {key})", file=self.file,
                                    path=exc.path) from None
            raise self.error(exc.reason, where) from None


def _has_line(lines: Lines, keys: tuple[str, ...]) -> bool:
    return any(keys[:n] in lines for n in range(len(keys), 2, -1))


def run_id(task: str, config: Any, variant: str, seed: int, backend: str) -> str:
    """A stable id: the hash of everything that determines the run's result."""
    blob = json.dumps({"task": task, "config": config, "variant": variant, "seed": seed,
                       "backend": backend}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``. A mapping whose ``name`` changes (switching
    component, e.g. ffn mlp -> moe) replaces the base mapping instead of merging into it."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, str) and isinstance(value, dict) and value.get("name", old) == old:
            old = {"name": old}
        if (isinstance(old, dict) and isinstance(value, dict)
                and value.get("name", old.get("name")) == old.get("name")):
            out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_path(d, "model.ffn.hidden", 256)``; a component name on the way becomes a mapping."""
    keys = dotted.split(".")
    if not all(keys):
        raise ValueError(f"'{dotted}' is not a valid key path (empty part)")
    node = raw
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif isinstance(child, str):
            child = node[key] = {"name": child}
        elif not isinstance(child, dict):
            prefix = ".".join(keys[: i + 1])
            raise ValueError(f"cannot set '{dotted}': '{prefix}' is {child!r}, not a mapping")
        node = child
    node[keys[-1]] = value


# --- loading ---------------------------------------------------------------------------------

def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
              backends: list[str] | None = None) -> Spec:
    """Read and check a spec file (structure only; ``Spec.runs()`` validates the configs)."""
    file = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise SpecError("no such spec file", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the spec ({exc})", file=file) from None
    data, lines = load_yaml_with_lines(text, file)
    if not isinstance(data, dict):
        raise SpecError("a spec must be a YAML mapping (name:, task:, ...)", file=file, line=1)
    spec = _from_dict(data, file, lines)
    for item in overrides:
        key, value = parse_override(item)
        if key.split(".")[0] in META_KEYS:
            if key.split(".")[0] in ("variants", "grid") and "." in key:
                set_path(data, key, value)
            else:
                data[key] = value
            spec = _from_dict(data, file, lines, spec.overrides)
        else:
            spec.overrides.append((key, value))
    if backends:
        for b in backends:
            if b not in BACKENDS:
                raise SpecError(f"unknown backend '{b}'{did_you_mean(b, BACKENDS)}; choose "
                                f"from {', '.join(BACKENDS)}", file="--backend")
        spec.backends = list(backends)
    return spec


def parse_override(item: str) -> tuple[str, Any]:
    """'train.steps=100' -> ('train.steps', 100): the value is read as YAML."""
    if "=" not in item:
        raise SpecError(f"'{item}' is not key.path=value", file="--set")
    key, _, text = item.partition("=")
    key = key.strip()
    if not key or not all(key.split(".")):
        raise SpecError(f"'{key}' is not a valid key path", file="--set")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise SpecError(f"the value of {key} is not valid YAML: {exc}", file="--set") from None
    return key, value


def _from_dict(data: dict[str, Any], file: str, lines: Lines,
               overrides: list[tuple[str, Any]] | None = None) -> Spec:
    def err(msg: str, *keys: str) -> SpecError:
        return Spec("", "", {}, {}, {}, [], [], {}, file=file, lines=lines).error(msg, keys)

    task = data.get("task")
    if task is None:
        raise err("the spec needs a 'task' (e.g. task: lm); see `scratchlab list` for tasks")
    if not isinstance(task, str):
        raise err(f"'task' must be a task name, got {task!r}", "task")
    name = data.get("name", Path(file).stem)
    if not isinstance(name, str) or not name or "/" in name:
        raise err(f"'name' must be a non-empty string without '/', got {name!r}", "name")
    seeds = data.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        raise err("'seeds' must be a non-empty list of integers, e.g. [0, 1, 2]", "seeds")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise err(f"seed {s!r} is not a non-negative integer", "seeds", str(i))
    if len(set(seeds)) != len(seeds):
        raise err("'seeds' repeats a seed", "seeds")
    backends = data.get("backends", ["torch"])
    if isinstance(backends, str):
        backends = [backends]
    if not isinstance(backends, list) or not backends:
        raise err("'backends' must be a non-empty list drawn from torch, mlx", "backends")
    for i, b in enumerate(backends):
        if b not in BACKENDS:
            raise err(f"unknown backend {b!r}{did_you_mean(str(b), BACKENDS)}; choose from "
                      f"{', '.join(BACKENDS)}", "backends", str(i))
    variants = data.get("variants") or {}
    if not isinstance(variants, dict):
        raise err("'variants' must map variant names to overrides", "variants")
    for vname, v in variants.items():
        if v is None:
            variants[vname] = v = {}
        if not isinstance(v, dict):
            raise err(f"variant '{vname}' must be a mapping of overrides (use {{}} for none)",
                      "variants", str(vname))
        if "grid" in v:
            _check_grid(v["grid"], err, "variants", str(vname), "grid")
    grid = data.get("grid") or {}
    _check_grid(grid, err, "grid")
    report = data.get("report") or {}
    if not isinstance(report, dict):
        raise err("'report' must be a mapping (e.g. {metrics: [val_loss]})", "report")
    for key in report:
        if key not in ("metrics", "primary"):
            raise err(f"unknown key '{key}'{did_you_mean(str(key), ['metrics', 'primary'])}",
                      "report", str(key))
    description = data.get("description", "")
    base = {k: v for k, v in data.items() if k not in META_KEYS}
    return Spec(name, task, base, {str(k): v for k, v in variants.items()}, dict(grid),
                list(seeds), list(backends), dict(report), str(description), file, lines,
                list(overrides or []))


def _check_grid(grid: Any, err: Any, *where: str) -> None:
    if not isinstance(grid, dict):
        raise err("a grid maps dotted key paths to lists of values, e.g. "
                  "{optimizer.lr: [1.0e-3, 3.0e-3]}", *where)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise err(f"grid values for '{key}' must be a non-empty list", *where, str(key))


def load_yaml_with_lines(text: str, file: str) -> tuple[Any, Lines]:
    """Safe-load YAML and record the line of every mapping key (as a key-path tuple)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"invalid YAML: {problem}", file=file,
                        line=mark.line + 1 if mark else None) from None
    lines: Lines = {}
    constructor = yaml.SafeLoader("")

    def build(n: yaml.Node, path: tuple[str, ...]) -> Any:
        if isinstance(n, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in n.value:
                key = constructor.construct_object(key_node)  # type: ignore[no-untyped-call]
                if key in out:
                    raise SpecError(f"duplicate key '{key}'", file=file,
                                    path=".".join((*path, str(key))),
                                    line=key_node.start_mark.line + 1)
                lines[(*path, str(key))] = key_node.start_mark.line + 1
                out[key] = build(value_node, (*path, str(key)))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, (*path, str(i))) for i, v in enumerate(n.value)]
        try:
            return constructor.construct_object(n)  # type: ignore[no-untyped-call]
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid value: {exc}", file=file, path=".".join(path),
                            line=n.start_mark.line + 1) from None

    return (build(node, ()) if node is not None else None), lines
