"""`scratchlab` is a PEP 420 namespace: a stray scratchlab/__init__.py would hide every other
package. Also: scratchlab.core must not import a framework at import time."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_no_namespace_init_anywhere() -> None:
    stray = [p for p in (REPO / "packages").glob("*/src/scratchlab/__init__.py")]
    assert stray == [], f"remove {stray}: scratchlab must stay a namespace package"


def test_no_folder_named_scratchlab_outside_src() -> None:
    bad = [p for p in REPO.rglob("scratchlab") if p.is_dir() and p.parent.name != "src"
           and ".nox" not in p.parts and "site-packages" not in p.parts]
    assert bad == []


def test_every_installed_package_is_importable_together() -> None:
    import importlib
    import importlib.metadata

    for pkg in sorted(p.name for p in (REPO / "packages").iterdir() if p.is_dir()):
        try:
            importlib.metadata.distribution(f"scratchlab-{pkg}")
        except importlib.metadata.PackageNotFoundError:
            continue  # an isolation session installs only some packages
        importlib.import_module(f"scratchlab.{pkg}")


def test_core_imports_no_framework() -> None:
    code = ("import sys, scratchlab.core, scratchlab.core.cli, scratchlab.core.runner, "
            "scratchlab.core.registry as r; r.get_registry(); "
            "print([m for m in ('torch', 'mlx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
