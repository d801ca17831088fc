"""Sessions: test (the one test command), lint, typecheck, isolation-<package>, bench.

    nox -s test                 # every package installed editable in one venv, all tests
    nox -s lint typecheck
    nox -t isolation            # each package alone with core: proves it installs and passes
    nox -s bench                # benchmark tables into docs/benchmarks.md
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["test", "lint", "typecheck"]

# in dependency order; each name is packages/<name> and the module scratchlab.<name>
PACKAGES = ["core", "tokenizer", "optim", "transformer", "moe", "lora", "rl", "interp"]
# scratchlab packages each one needs besides core (for the isolation sessions)
NEEDS = {
    "transformer": ["optim"],
    "moe": ["optim", "transformer"],
    "lora": ["optim", "transformer"],
    "interp": ["optim", "transformer"],
    "rl": ["optim", "transformer"],
}
CONSTRAINTS = ["-c", str(ROOT / "constraints.txt")]


def _blas_env() -> dict[str, str]:
    """LD_PRELOAD OpenBLAS for MLX where the machine has it (see scratchlab.core.blas)."""
    spec = importlib.util.spec_from_file_location(
        "_blas", ROOT / "packages/core/src/scratchlab/core/blas.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    env = module.preload_env({})
    return {"LD_PRELOAD": env["LD_PRELOAD"]} if "LD_PRELOAD" in env else {}


def _test_env() -> dict[str, str]:
    # one torch/OpenMP thread per test process: the tests use tiny tensors, where threads cost
    # more than they give, and a busy machine makes spinning threads very slow
    return {**_blas_env(), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}


def _editable(names: list[str], extras: str = "test") -> list[str]:
    args = []
    for name in names:
        extra = f"torch,mlx,{extras}" if name == "core" else extras
        args += ["-e", f"packages/{name}[{extra}]"]
    return args


def _install_all(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, *_editable(PACKAGES))


@nox.session(python="3.11")
def test(session: nox.Session) -> None:
    """All tests of all packages, in one environment."""
    _install_all(session)
    session.run("pytest", *session.posargs, env=_test_env())


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "packages", "benchmarks", "noxfile.py")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    session.install(*CONSTRAINTS, "mypy", "types-PyYAML", *_editable(PACKAGES))
    session.run("mypy", *[a for name in PACKAGES for a in ("-p", f"scratchlab.{name}")])


for _name in PACKAGES:
    def _isolation(session: nox.Session, name: str = _name) -> None:
        """Only core, this package (and the scratchlab packages it needs), with both extras."""
        names = ["core", *NEEDS.get(name, []), name] if name != "core" else ["core"]
        session.install(*CONSTRAINTS, *_editable(names, "torch,mlx,test"
                                                 if name != "core" else "test"))
        session.run("pytest", f"packages/{name}/tests", *session.posargs, env=_test_env())

    nox.session(python="3.11", name=f"isolation-{_name}", tags=["isolation"])(_isolation)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run every benchmark script; each prints a table and updates docs/benchmarks.md."""
    _install_all(session)
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    chosen = [s for s in scripts if not session.posargs or s.stem in session.posargs]
    for script in chosen:
        session.run("python", str(script), env=_blas_env())
