"""The registry entries (tokenizer and task `bpe`), the experiment spec and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scratchlab.core.config import ConfigError, build_config, resolve_choice
from scratchlab.core.data import Corpus, stdlib_docs
from scratchlab.core.errors import ScratchlabError
from scratchlab.core.registry import get_registry
from scratchlab.tokenizer import BPETokenizer
from scratchlab.tokenizer.component import CACHE_ENV, BPEConfig, bpe_tokenizer

REPO = Path(__file__).resolve().parents[3]
DOCS = "".join(stdlib_docs())


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_tokenizer_component_trains_caches_and_reloads(cache, tmp_path):
    choice = resolve_choice("tokenizer", {"name": "bpe", "vocab_size": 400})
    corpus = Corpus(DOCS[:30_000], DOCS[30_000:35_000], "docs")
    tok = choice.build(None, corpus)  # how the lm task calls it
    assert tok.vocab_size == 400 and len(list(cache.glob("*.json"))) == 1
    again = choice.build(None, corpus)  # from the cache: same merges, no training
    assert again.merges == tok.merges and "pretokenize_s" in again.meta
    other = choice.build(None, Corpus(DOCS[:20_000], "", "docs"))  # other text: new entry
    assert len(list(cache.glob("*.json"))) == 2 and other.merges != tok.merges
    tok.save(tmp_path / "tok.json")
    reloaded = choice.build(None, None, path=tmp_path / "tok.json")
    assert reloaded.merges == tok.merges
    from_file = bpe_tokenizer(BPEConfig(file=str(tmp_path / "tok.json")), None)
    assert from_file.encode("hello world") == tok.encode("hello world")
    ids = np.asarray(tok.encode_array(corpus.val))
    assert tok.decode(ids) == corpus.val


def test_damaged_cache_entry_is_retrained(cache):
    corpus = Corpus(DOCS[:10_000], "", "docs")
    tok = bpe_tokenizer(BPEConfig(vocab_size=300), corpus)
    entry = next(cache.glob("*.json"))
    entry.write_text("{broken")
    assert bpe_tokenizer(BPEConfig(vocab_size=300), corpus).merges == tok.merges


def test_component_config_errors():
    with pytest.raises(ConfigError, match="at least 257"):
        build_config(BPEConfig, {"vocab_size": 100, "special_tokens": ["<s>"]})
    with pytest.raises(ConfigError, match="regular expression"):
        build_config(BPEConfig, {"pattern": "(["})
    with pytest.raises(ScratchlabError, match="needs a corpus"):
        bpe_tokenizer(BPEConfig(), None)


def test_registry_entries():
    reg = get_registry()
    assert reg.get("tokenizer", "bpe").backend is None
    torch_task, mlx_task = reg.get("task", "bpe", "torch"), reg.get("task", "bpe", "mlx")
    assert torch_task.factory.target == mlx_task.factory.target


@pytest.mark.slow
def test_experiment_spec_smoke(tmp_path, cache):
    from scratchlab.core.runner import run_sweep
    from scratchlab.core.spec import load_spec

    spec = load_spec(REPO / "experiments" / "tokenizer_vocab.yaml",
                     overrides=["data.dataset.max_bytes=40000", "processes=1"])
    sweep = run_sweep(spec, tmp_path / "results")
    assert sweep.results and all(r.status == "ok" for r in sweep.results), \
        [r.error for r in sweep.results]
    assert (sweep.dir / "results.md").exists() and (sweep.dir / "bpe_vocab.png").exists()
    by_size = {(r.run.variant, r.metrics["vocab_size"]): r.metrics for r in sweep.results}
    small, large = by_size[("gpt2[tokenizer.vocab_size=512]", 512.0)], None
    large = max((m for (v, _), m in by_size.items() if v.startswith("gpt2")),
                key=lambda m: m["vocab_size"])
    assert large["bytes_per_token"] > small["bytes_per_token"] > 1.0
    assert 0 < small["vocab_used"] <= 1
    run_dir = sweep.results[0].dir
    assert BPETokenizer.load(run_dir / "tokenizer.json").vocab_size > 256


def test_cli_train_encode_decode_export_inspect(tmp_path, capsys):
    from scratchlab.core.cli import main

    text = tmp_path / "a.txt"
    text.write_text(DOCS[:40_000], encoding="utf-8")
    out = tmp_path / "tok.json"
    assert main(["tokenizer", "train", "--input", str(text), "--vocab-size", "400",
                 "--pattern", "gpt4", "--special", "<|endoftext|>", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["tokenizer", "encode", "-t", str(out), "hello world"]) == 0
    ids = capsys.readouterr().out.split()
    assert main(["tokenizer", "decode", "-t", str(out), *ids]) == 0
    assert capsys.readouterr().out.strip() == "hello world"
    assert main(["tokenizer", "encode", "-t", str(out), "--input", str(text),
                 "--out", str(tmp_path / "ids.npy")]) == 0
    assert np.load(tmp_path / "ids.npy").tolist() == BPETokenizer.load(out).encode(DOCS[:40_000])
    for fmt, name in (("hf", "tokenizer.json"), ("tiktoken", "r.tiktoken")):
        assert main(["tokenizer", "export", "-t", str(out), "--format", fmt, "--out",
                     str(tmp_path / name)]) == 0
    assert main(["tokenizer", "import", "--from", "tiktoken", "--input",
                 str(tmp_path / "r.tiktoken"), "--pattern", "gpt4", "--special",
                 "<|endoftext|>=399", "--out", str(tmp_path / "back.json")]) == 0
    assert BPETokenizer.load(tmp_path / "back.json").merges == BPETokenizer.load(out).merges
    assert main(["tokenizer", "inspect", "-t", str(tmp_path / "tokenizer.json"),
                 "--text", "def f(): pass"]) == 0
    assert "merges" in capsys.readouterr().out


def test_cli_bad_files_are_clear_errors(tmp_path, capsys):
    from scratchlab.core.cli import main

    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café\n".encode("latin-1") * 50)
    args = ["tokenizer", "train", "--vocab-size", "300", "--out", str(tmp_path / "t.json")]
    assert main([*args, "--input", str(bad)]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err
    assert main([*args, "--input", str(bad), "--errors", "replace"]) == 0  # explicit policy
    assert main([*args, "--input", str(tmp_path / "missing.txt")]) == 2
    assert main([*args, "--input", str(tmp_path)]) == 2
    assert "directory" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main([*args, "--input", str(empty)]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["tokenizer", "decode", "-t", str(bad), "1"]) == 2
    assert main([*args[:2], "--vocab-size", "100", "--out", "x", "--input", str(empty)]) == 2
