"""Broken specs: each is answered with exit status 2 and one clear message naming the key path
(and the line, where YAML has it) — never a traceback."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from scratchlab.core import registry
from scratchlab.core.cli import run_exp
from scratchlab.core.config import choice
from scratchlab.core.registry import Component, get_registry

GOOD = """\
name: t
task: classify
backends: [torch]
seeds: [0]
model: {hidden: 8}
train: {steps: 5}
"""


@dataclasses.dataclass
class ProbeConfig:
    """A task config with component choices, to test unknown components in specs."""

    dataset: object = choice("dataset", "default")
    steps: int = 1


@pytest.fixture(autouse=True)
def probe_task():
    reg = get_registry()
    comp = Component("task", "probe", lambda ctx: {}, ProbeConfig, backend="torch",
                     summary="test probe", package="tests")
    reg._by_key[("task", "probe", "torch")] = comp
    yield
    reg._by_key.pop(("task", "probe", "torch"), None)


# (spec text, --set overrides, substrings the message must contain)
CASES = {
    "bad yaml": ("name: t\ntask: classify\nmodel: {hidden: 8\n", [], ["invalid YAML", ":4"]),
    "not a mapping": ("- 1\n- 2\n", [], ["must be a YAML mapping"]),
    "missing task": ("name: t\nseeds: [0]\n", [], ["needs a 'task'"]),
    "unknown task": (GOOD.replace("task: classify", "task: clasify"), [],
                     ["'task'", "did you mean 'classify'", ":2"]),
    "unknown top key": (GOOD + "modle: {hidden: 3}\n", [],
                        ["'modle'", "did you mean 'model'", ":7"]),
    "unknown nested key": (GOOD.replace("{hidden: 8}", "{hiden: 8}"), [],
                           ["'model.hiden'", "did you mean 'hidden'", ":5"]),
    "wrong type int": (GOOD.replace("steps: 5", "steps: ten"), [],
                       ["'train.steps'", "expected an integer", ":6"]),
    "bool for int": (GOOD.replace("hidden: 8", "hidden: true"), [],
                     ["'model.hidden'", "expected an integer"]),
    "bad literal": (GOOD.replace("{hidden: 8}", "{hidden: 8, activation: relux}"), [],
                    ["'model.activation'", "did you mean 'relu'"]),
    "negative steps": (GOOD.replace("steps: 5", "steps: -3"), [],
                       ["'train'", "steps must be at least 1", ":6"]),
    "empty seeds": (GOOD.replace("seeds: [0]", "seeds: []"), [], ["'seeds'", "non-empty", ":4"]),
    "seed not int": (GOOD.replace("seeds: [0]", "seeds: [a]"), [], ["'seeds.0'"]),
    "repeated seed": (GOOD.replace("seeds: [0]", "seeds: [1, 1]"), [], ["repeats"]),
    "unknown backend": (GOOD.replace("[torch]", "[jax]"), [], ["'backends.0'", "jax"]),
    "variants not mapping": (GOOD + "variants: [a, b]\n", [], ["'variants'", "map variant names"]),
    "variant not mapping": (GOOD + "variants:\n  wide: 3\n", [], ["'variants.wide'", ":8"]),
    "variant unknown key": (GOOD + "variants:\n  wide: {model: {hiddn: 64}}\n", [],
                            ["'variants.wide.model.hiddn'", "did you mean 'hidden'", ":8"]),
    "grid not mapping": (GOOD + "grid: [1, 2]\n", [], ["'grid'", "dotted key paths"]),
    "grid empty values": (GOOD + "grid: {model.hidden: []}\n", [],
                          ["'grid.model.hidden'", "non-empty list"]),
    "grid unknown path": (GOOD + "grid: {model.hiddn: [4, 8]}\n", [],
                          ["'model.hiddn'", "did you mean 'hidden'"]),
    "grid through scalar": (GOOD + "grid: {model.hidden.x: [1]}\n", [],
                            ["'grid.model.hidden.x'", "not a mapping"]),
    "set without equals": (GOOD, ["train.steps"], ["--set", "not key.path=value"]),
    "set unknown key": (GOOD, ["train.stpes=3"], ["train.stpes", "did you mean 'steps'"]),
    "set wrong type": (GOOD, ["train.steps=abc"], ["train.steps", "expected an integer", "--set"]),
    "set empty seeds": (GOOD, ["seeds=[]"], ["'seeds'", "non-empty"]),
    "duplicate key": (GOOD + "train: {steps: 6}\n", [], ["duplicate key 'train'", ":7"]),
    "impossible value": (GOOD + "data: {n_classes: 1}\n", [], ["'data'", "n_classes"]),
    "report unknown key": (GOOD + "report: {metric: [val_loss]}\n", [],
                           ["'report.metric'", "did you mean 'metrics'"]),
    "bad name": (GOOD.replace("name: t", "name: a/b"), [], ["'name'", "without '/'"]),
    "unknown component": ("task: probe\ndataset: defualt\n", [],
                          ["'dataset'", "unknown dataset 'defualt'", "did you mean 'default'", ":2"]),
    "component missing its name": ("task: probe\ndataset: {part: docs}\n", [],
                                   ["'dataset'", "needs a 'name'"]),
    "component bad setting": ("task: probe\ndataset: {name: default, part: code}\n", [],
                              ["'dataset.part'", "'docs'"]),
    "wrong type float": (GOOD + "optimizer: {lr: fast}\n", [],
                         ["'optimizer.lr'", "expected a number"]),
    "bad grid value": (GOOD + "grid: {optimizer.lr: [0.1, -1]}\n", [],
                       ["'optimizer'", "lr must be positive"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_spec_exits_2_with_clear_message(name: str, tmp_path: Path, capsys) -> None:
    text, overrides, expected = CASES[name]
    spec = tmp_path / "broken.yaml"
    spec.write_text(text)
    argv = [str(spec), "--dry-run", "--out", str(tmp_path)]
    for o in overrides:
        argv += ["--set", o]
    assert run_exp(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for piece in expected:
        assert piece in err, f"{piece!r} not in {err!r}"


def test_missing_package_names_install_command(tmp_path: Path, capsys, monkeypatch) -> None:
    fake = {"zoo": {"distribution": "scratchlab-zoo", "path": "packages/zoo",
                    "components": {"dataset": ["giraffe"]}}}
    monkeypatch.setattr(registry, "catalogue", lambda: fake)
    spec = tmp_path / "s.yaml"
    spec.write_text("task: probe\ndataset: {name: giraffe}\n")
    assert run_exp([str(spec), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "scratchlab-zoo" in err and "pip install" in err and "'dataset'" in err


def test_missing_spec_file(tmp_path: Path, capsys) -> None:
    assert run_exp([str(tmp_path / "nope.yaml"), "--dry-run"]) == 2
    assert "no such spec file" in capsys.readouterr().err


def test_bad_backend_flag(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(GOOD)
    assert run_exp([str(spec), "--backend", "jaxx", "--dry-run"]) == 2
    assert "unknown backend 'jaxx'" in capsys.readouterr().err


def test_unsafe_yaml_tags_are_refused(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(GOOD + "x: !!python/object/apply:os.system ['echo hacked']\n")
    assert run_exp([str(spec), "--dry-run"]) == 2
    assert "hacked" not in capsys.readouterr().out


def test_good_spec_dry_run_lists_runs(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    spec = tmp_path / "s.yaml"
    spec.write_text(GOOD + textwrap.dedent("""\
        variants:
          narrow: {}
          wide: {model: {hidden: 32}, grid: {optimizer.lr: [0.01, 0.02]}}
    """))
    assert run_exp([str(spec), "--dry-run", "--set", "seeds=[0, 1]"]) == 0
    out = capsys.readouterr().out
    assert "6 runs" in out and "wide[optimizer.lr=0.02]" in out
