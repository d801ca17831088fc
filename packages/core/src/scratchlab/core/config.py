"""Typed configs from plain dicts: the validator behind every spec.

Configs are dataclasses. A field that names another component (``positional: rope`` or
``ffn: {name: moe, n_experts: 8}``) is declared with :func:`choice` and becomes a :class:`Choice`
holding the chosen component's own validated config. Errors carry the key path, so the spec
loader can point at the right line.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from scratchlab.core.errors import ComponentNotFound, ScratchlabError, did_you_mean


class ConfigError(ScratchlabError):
    """A value that does not fit its config; ``path`` is the dotted key path inside the config."""

    def __init__(self, path: str, message: str) -> None:
        self.path, self.reason = path, message
        super().__init__(f"at '{path}': {message}" if path else message)


@dataclass(frozen=True)
class Choice:
    """A component picked in a config: its kind and name, and its validated settings."""

    kind: str
    name: str
    config: Any = None

    def component(self, backend: str | None = None) -> Any:
        from scratchlab.core.registry import get_registry

        return get_registry().get(self.kind, self.name, backend)

    def build(self, backend: str | None = None, /, *args: Any, **kwargs: Any) -> Any:
        """Call the component's factory for ``backend`` with this config first."""
        return self.component(backend).factory(self.config, *args, **kwargs)


ChoiceSpec = Choice | str | dict[str, Any] | None
"""What a :func:`choice` field holds: a name, ``{name: ..., **settings}``, or a resolved Choice."""


def choice(kind: str, default: str | dict[str, Any] | None) -> Any:
    """A dataclass field that names a component of ``kind`` (a name or ``{name: ..., ...}``)."""
    if isinstance(default, dict):
        frozen = dict(default)
        return field(default_factory=lambda: dict(frozen), metadata={"kind": kind})
    return field(default=default, metadata={"kind": kind})


def resolve_choice(kind: str, value: Any, path: str = "") -> Choice | None:
    """A str, dict or Choice naming a component of ``kind`` -> Choice with a validated config."""
    if value is None or isinstance(value, Choice):
        return value
    if isinstance(value, str):
        name, settings = value, {}
    elif isinstance(value, dict):
        if "name" not in value:
            raise ConfigError(path, f"a {kind} needs a 'name' (e.g. {{name: ..., ...}})")
        settings = {k: v for k, v in value.items() if k != "name"}
        name = value["name"]
        if not isinstance(name, str):
            raise ConfigError(_join(path, "name"), f"expected a {kind} name, got {name!r}")
    else:
        raise ConfigError(path, f"expected a {kind} name or a mapping with 'name', got {value!r}")
    from scratchlab.core.registry import get_registry

    try:
        cls = get_registry().config_class(kind, name)
    except ComponentNotFound as exc:
        raise ConfigError(path, str(exc)) from None
    if cls is None:
        if settings:
            raise ConfigError(path, f"{kind} '{name}' takes no settings, got {sorted(settings)}")
        return Choice(kind, name, None)
    return Choice(kind, name, build_config(cls, settings, path))


def build_config(cls: type, values: Any, path: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``values`` (a dict), checking keys and types."""
    if dataclasses.is_dataclass(values) and isinstance(values, cls):
        return values
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(path, f"expected a mapping, got {type(values).__name__} {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        key_path = _join(path, str(key))
        if key not in fields:
            raise ConfigError(key_path, f"unknown key '{key}'{did_you_mean(str(key), fields)}; "
                              f"valid keys: {', '.join(sorted(fields))}")
        f = fields[key]
        if "kind" in f.metadata:
            kwargs[key] = resolve_choice(f.metadata["kind"], value, key_path)
        else:
            kwargs[key] = coerce(hints[key], value, key_path)
    missing = [n for n, f in fields.items() if n not in kwargs
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(_join(path, missing[0]), f"required key '{missing[0]}' is missing")
    for name, f in fields.items():  # defaults that name components get validated too
        if name not in kwargs and "kind" in f.metadata:
            default = (f.default if f.default is not dataclasses.MISSING
                       else f.default_factory())  # type: ignore[misc,operator]
            kwargs[name] = resolve_choice(f.metadata["kind"], default, _join(path, name))
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ checks (d_model % n_heads, ...)
        raise ConfigError(path, str(exc)) from None


def coerce(tp: Any, value: Any, path: str) -> Any:
    """Check ``value`` against type hint ``tp``; allow int -> float; recurse into containers."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(arg, value, path)
            except ConfigError as exc:
                errors.append(exc.reason)
        raise ConfigError(path, f"expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(path, f"expected one of {', '.join(map(repr, args))}, got {value!r}"
                              f"{did_you_mean(str(value), map(str, args))}")
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build_config(tp, value, path)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(path, f"expected {len(args)} values, got {len(value)}")
            return tuple(coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        out = [coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin or tp) is tuple else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {k: coerce(vt, v, _join(path, str(k))) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(path, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:  # YAML 1.1 reads 3e-4 (no dot) as a string
                    return float(value)
                except ValueError:
                    pass
            raise ConfigError(path, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(path, f"expected {tp.__name__}, got {value!r}")
    return value


def to_dict(config: Any) -> Any:
    """A config (with nested Choices) as plain JSON-able data, the inverse of build_config."""
    if isinstance(config, Choice):
        body = to_dict(config.config) if config.config is not None else {}
        return {"name": config.name, **body}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, dict):
        return {k: to_dict(v) for k, v in config.items()}
    return config


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    args = [a for a in get_args(tp) if a is not type(None)]
    names = [getattr(a, "__name__", str(a)) for a in args]
    return " or ".join(names) + (" (or null)" if type(None) in get_args(tp) else "")
