"""Data (default dataset, tokenizers, batches) and the config validator."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core import data
from scratchlab.core.config import ConfigError, build_config, to_dict
from scratchlab.core.errors import ScratchlabError
from scratchlab.core.spec import deep_merge, set_path


def test_default_dataset_is_deterministic_and_split() -> None:
    a = data.default_dataset(data.DefaultDatasetConfig(part="docs"))
    b = data.default_dataset(data.DefaultDatasetConfig(part="docs"))
    assert a == b and len(a.train) > 300_000 and 0.05 < len(a.val) / len(a.train) < 0.15
    src = data.default_dataset(data.DefaultDatasetConfig(part="source", max_bytes=200_000))
    assert "def " in src.train and abs(len(src.train) + len(src.val) - 200_000) < 10


def test_text_file_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(ScratchlabError, match="does not exist"):
        data.text_file_dataset(data.TextFileConfig(path=str(tmp_path / "x.txt")))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok \xff\xfe not utf8")
    with pytest.raises(ScratchlabError, match="not valid utf-8.*errors: replace"):
        data.text_file_dataset(data.TextFileConfig(path=str(bad)))
    corpus = data.text_file_dataset(data.TextFileConfig(path=str(bad), errors="replace"))
    assert "\ufffd" in corpus.train + corpus.val
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ScratchlabError, match="empty"):
        data.text_file_dataset(data.TextFileConfig(path=str(empty)))


@given(st.text(max_size=200))
@settings(max_examples=50, deadline=None)
def test_byte_tokenizer_round_trips_any_text(text: str) -> None:
    tok = data.ByteTokenizer()
    assert tok.decode(tok.encode(text)) == text
    assert list(tok.encode_array(text)) == tok.encode(text)


@given(st.text(min_size=1, max_size=200))
@settings(max_examples=50, deadline=None)
def test_char_tokenizer_round_trips(text: str) -> None:
    tok = data.char_tokenizer(None, data.Corpus(text, ""))
    assert tok.decode(tok.encode(text)) == text and tok.vocab_size == len(set(text))


def test_char_tokenizer_save_load(tmp_path: Path) -> None:
    tok = data.char_tokenizer(None, data.Corpus("hello", "world"))
    tok.save(tmp_path / "t.json")
    again = data.char_tokenizer(None, path=tmp_path / "t.json")
    assert again.encode("low") == tok.encode("low")


def test_batches() -> None:
    ids = np.arange(100)
    x, y = data.random_batch(ids, 8, 4, np.random.default_rng(0))
    assert x.shape == (4, 8) and np.array_equal(y, x + 1)
    evals = list(data.eval_batches(ids, 8, 4, 3))
    assert sum(len(b[0]) for b in evals) == 12
    assert [b[0].tolist() for b in evals] == [b[0].tolist() for b in data.eval_batches(ids, 8, 4, 3)]
    with pytest.raises(ScratchlabError, match="block_size"):
        data.random_batch(np.arange(5), 8, 2, np.random.default_rng(0))


@dataclasses.dataclass
class Inner:
    a: int = 1
    b: float = 0.5
    mode: Literal["x", "y"] = "x"


@dataclasses.dataclass
class Outer:
    inner: Inner = dataclasses.field(default_factory=Inner)
    sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    pair: tuple[float, float] = (0.9, 0.99)
    maybe: int | None = None


def test_build_config_types_and_round_trip() -> None:
    cfg = build_config(Outer, {"inner": {"a": 3, "b": 2}, "sizes": [4], "pair": [0.8, 0.9],
                               "maybe": None})
    assert cfg == Outer(Inner(3, 2.0), [4], (0.8, 0.9), None)
    assert build_config(Outer, to_dict(cfg)) == cfg
    assert build_config(Outer, {"inner": {"b": "3e-4"}}).inner.b == 3e-4  # YAML 1.1 quirk


@pytest.mark.parametrize("values, path, words", [
    ({"inner": {"c": 1}}, "inner.c", "unknown key"),
    ({"inner": {"a": 1.5}}, "inner.a", "integer"),
    ({"sizes": [1, "x"]}, "sizes[1]", "integer"),
    ({"pair": [1.0]}, "pair", "2 values"),
    ({"inner": {"mode": "z"}}, "inner.mode", "one of"),
    ({"maybe": "q"}, "maybe", "int"),
    ({"inner": 3}, "inner", "mapping"),
])
def test_build_config_errors_name_the_path(values, path, words) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(Outer, values)
    assert info.value.path == path and words in info.value.reason


def test_deep_merge_and_set_path() -> None:
    base = {"model": {"d": 1, "ffn": {"name": "mlp", "hidden": 4}}, "x": 1}
    merged = deep_merge(base, {"model": {"ffn": {"name": "moe", "k": 2}}})
    assert merged["model"] == {"d": 1, "ffn": {"name": "moe", "k": 2}}  # switching replaces
    assert deep_merge(base, {"model": {"ffn": {"hidden": 8}}})["model"]["ffn"] == {
        "name": "mlp", "hidden": 8}
    assert base["model"]["ffn"]["hidden"] == 4  # untouched
    raw = {"model": {"positional": "rope"}}
    set_path(raw, "model.positional.theta", 500.0)
    assert raw == {"model": {"positional": {"name": "rope", "theta": 500.0}}}


def test_mean_std_tolerates_non_finite_values() -> None:
    import math

    from scratchlab.core.results import format_mean_std, mean_std

    assert mean_std([1.0, 3.0]) == (2.0, math.sqrt(2))
    m, s = mean_std([1.0, math.inf])
    assert m == math.inf and math.isnan(s)
    assert math.isnan(mean_std([1.0, math.nan])[0])
    assert format_mean_std(mean_std([1.0, math.inf])) == "inf"
