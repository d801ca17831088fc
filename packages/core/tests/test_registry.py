"""The registry: duplicates, hook validation, the catalogue and `scratchlab list`."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pluggy
import pytest
import yaml

from scratchlab.core import hookspecs, registry
from scratchlab.core.errors import ComponentNotFound, ScratchlabError
from scratchlab.core.registry import Component, Registry, collect, get_registry

REPO = Path(__file__).resolve().parents[3]


@dataclasses.dataclass
class Cfg:
    x: int = 1


def test_duplicate_component_names_both_sources() -> None:
    r = Registry([Component("norm", "rms", print, Cfg, package="pkg-a")])
    with pytest.raises(ScratchlabError, match="pkg-a.*pkg-b"):
        r.add(Component("norm", "rms", print, Cfg, package="pkg-b"))


def test_same_name_different_backends_is_fine() -> None:
    r = Registry([Component("norm", "rms", print, Cfg, backend="torch"),
                  Component("norm", "rms", print, Cfg, backend="mlx")])
    assert r.get("norm", "rms", "mlx").backend == "mlx"
    with pytest.raises(ComponentNotFound, match="no None implementation|available for"):
        Registry([Component("norm", "rms", print, Cfg, backend="torch")]).get("norm", "rms", "mlx")


def test_unknown_component_suggests_the_closest() -> None:
    with pytest.raises(ComponentNotFound, match="did you mean 'default'"):
        get_registry().get("dataset", "defualt")


def test_component_of_uninstalled_package_gives_install_command(monkeypatch) -> None:
    fake = {"zoo": {"distribution": "scratchlab-zoo", "path": "packages/zoo",
                    "components": {"ffn": ["giraffe"]}}}
    monkeypatch.setattr(registry, "catalogue", lambda: fake)
    with pytest.raises(ComponentNotFound, match=r'pip install "scratchlab-zoo\[torch\]"'):
        get_registry().get("ffn", "giraffe", "torch")


def test_misspelled_hook_is_rejected_by_check_pending() -> None:
    class Plugin:
        @hookspecs.hookimpl
        def scratchlab_component(self):  # missing the final s
            return []

    pm = pluggy.PluginManager("scratchlab")
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin(), name="typo-plugin")
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


def test_collect_tags_components_with_their_distribution() -> None:
    class Plugin:
        @hookspecs.hookimpl
        def scratchlab_components(self):
            return [Component("norm", "x", print, Cfg)]

    pm = pluggy.PluginManager("scratchlab")
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin(), name="my-dist")
    assert [c.package for c in collect(pm)] == ["my-dist"]


def test_registry_yaml_equals_what_is_registered() -> None:
    """registry.yaml is the catalogue; it must list exactly what the plugins register."""
    import importlib.metadata

    catalogue = yaml.safe_load((REPO / "registry.yaml").read_text())["packages"]
    installed = set()
    for entry in catalogue.values():
        try:
            importlib.metadata.distribution(entry["distribution"])
            installed.add(entry["distribution"])
        except importlib.metadata.PackageNotFoundError:
            pass  # isolation sessions install only some packages
    declared = {(entry["distribution"], kind, name)
                for entry in catalogue.values() if entry["distribution"] in installed
                for kind, names in (entry.get("components") or {}).items() for name in names}
    registered = {(c.package, c.kind, c.name) for c in get_registry()}
    assert registered - declared == set(), "registered but missing from registry.yaml"
    assert declared - registered == set(), "in registry.yaml but not registered"
    for key, entry in catalogue.items():
        assert (REPO / entry["path"] / "pyproject.toml").exists()
        assert entry["distribution"] == f"scratchlab-{key}"


def test_every_component_has_summary_and_config_defaults() -> None:
    for c in get_registry():
        assert c.summary, f"{c.kind}/{c.name} needs a summary"
        if c.config is not None and all(
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
                for f in dataclasses.fields(c.config)):
            c.config()  # defaults must be valid


def test_scratchlab_list_prints_a_table() -> None:
    out = subprocess.run([sys.executable, "-m", "scratchlab.core.cli", "list"],
                         capture_output=True, text=True, check=True, env=_wide_env())
    for word in ("kind", "backends", "classify", "scratchlab-core", "default"):
        assert word in out.stdout


def test_disable_third_party_env_skips_foreign_plugins(tmp_path: Path) -> None:
    site = _install_plugin(tmp_path)
    env = {**_wide_env(), "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-m", "scratchlab.core.cli", "list", "--kind", "norm"],
                         capture_output=True, text=True, env=env, check=True)
    assert "zeronorm" in out.stdout and "scratchlab-demo-plugin" in out.stdout
    env[registry.DISABLE_THIRD_PARTY_ENV] = "1"
    out = subprocess.run([sys.executable, "-m", "scratchlab.core.cli", "list", "--kind", "norm"],
                         capture_output=True, text=True, env=env, check=True)
    assert "zeronorm" not in out.stdout


def _wide_env() -> dict[str, str]:
    import os

    return {**os.environ, "COLUMNS": "200", "SCRATCHLAB_MLX_BLAS": "bundled"}


def _install_plugin(tmp_path: Path) -> Path:
    """Build a real throwaway plugin distribution and pip-install it into a private folder."""
    src = tmp_path / "demo"
    (src / "scratchlab_demo").mkdir(parents=True)
    (src / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "scratchlab-demo-plugin"
        version = "0.0.1"
        [project.entry-points.scratchlab]
        scratchlab-demo-plugin = "scratchlab_demo"
    """))
    (src / "scratchlab_demo" / "__init__.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass
        from scratchlab.core import Component, hookimpl

        @dataclass
        class ZeroNormConfig:
            eps: float = 0.0

        def zeronorm(config, model_config=None):
            return lambda x: x * 0

        @hookimpl
        def scratchlab_components():
            return [Component("norm", "zeronorm", zeronorm, ZeroNormConfig,
                              summary="multiplies by zero (a demo)")]
    """))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(src)], check=True, capture_output=True)
    return site


def test_third_party_plugin_appears_in_list(tmp_path: Path) -> None:
    site = _install_plugin(tmp_path)
    out = subprocess.run([sys.executable, "-m", "scratchlab.core.cli", "list"],
                         capture_output=True, text=True, check=True,
                         env={**_wide_env(), "PYTHONPATH": str(site)})
    assert "zeronorm" in out.stdout and "multiplies by zero" in out.stdout
