"""Files: our JSON, Hugging Face tokenizer.json and tiktoken ranks, and corrupt files."""

from __future__ import annotations

import json
from functools import cache

import pytest

from scratchlab.core.data import stdlib_docs
from scratchlab.core.errors import ScratchlabError
from scratchlab.tokenizer import (
    BPETokenizer,
    export_hf,
    export_tiktoken,
    formats,
    from_tiktoken,
    from_tiktoken_encoding,
    import_hf,
    load,
    to_tiktoken,
    train_bpe,
)


@cache
def tok() -> BPETokenizer:
    return train_bpe("".join(stdlib_docs())[:100_000], 600, pattern="gpt4",
                     special_tokens=["<|endoftext|>"], processes=1)


def same(a: BPETokenizer, b: BPETokenizer) -> None:
    assert a.vocab == b.vocab and a.merges == b.merges and a.pattern == b.pattern
    assert a.special_tokens == b.special_tokens and a.vocab_size == b.vocab_size


def test_own_format_round_trips(tmp_path):
    tok().save(tmp_path / "t.json")
    back = BPETokenizer.load(tmp_path / "t.json")
    same(back, tok())
    assert back.meta["algorithm"] == "fast"
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["format"] == "scratchlab-bpe" and data["version"] == 1


def test_hf_export_import_round_trips(tmp_path):
    export_hf(tok(), tmp_path / "tokenizer.json")
    same(import_hf(tmp_path / "tokenizer.json"), tok())
    same(load(tmp_path / "tokenizer.json"), tok())  # load() recognises HF files too


def test_import_a_tokenizer_trained_by_hf():
    """A tokenizer.json written by tokenizers itself (ByteLevel with its own GPT-2 regex)."""
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import models, pre_tokenizers, trainers

    text = "".join(stdlib_docs())[:100_000]
    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.train_from_iterator([text], trainers.BpeTrainer(
        vocab_size=500, show_progress=False, special_tokens=["<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    ours = formats.from_hf_dict(json.loads(hf.to_str()))
    sample = text[-3000:]
    assert ours.encode(sample) == hf.encode(sample).ids
    assert ours.special_tokens == {"<s>": 0}
    trained = train_bpe(text, 500, special_tokens=["<s>"], processes=1)
    assert ([ours.vocab[a] + ours.vocab[b] for a, b, _ in ours.merges]
            == [trained.vocab[a] + trained.vocab[b] for a, b, _ in trained.merges])


def test_tiktoken_export_import_round_trips(tmp_path):
    export_tiktoken(tok(), tmp_path / "r.tiktoken")
    back = from_tiktoken(formats.read_tiktoken(tmp_path / "r.tiktoken"), "gpt4",
                         tok().special_tokens)
    same(back, tok())
    pytest.importorskip("tiktoken")
    same(from_tiktoken_encoding(to_tiktoken(tok())), tok())


def _corrupt(tmp_path, edit) -> str:
    data = formats.to_dict(tok())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.update(version=99), "version 99"),
    (lambda d: d.update(format="other"), "not a scratchlab BPE tokenizer"),
    (lambda d: d.pop("merges"), "corrupt"),
    (lambda d: d["merges"].append([1, 2]), "corrupt"),
    (lambda d: d["vocab"].__setitem__(300, "zz"), "corrupt"),
    (lambda d: d["vocab"].__setitem__(300, "616263"), "do not make token"),
    (lambda d: d["vocab"].__setitem__(65, None), "lacks the single byte 65"),
    (lambda d: d["merges"].append([1, 2, 99999]), "not in the vocabulary"),
    (lambda d: d.update(pattern="(oops"), "not a valid regular expression"),
    (lambda d: d["special_tokens"].update({"<x>": 300}), "also an ordinary token"),
])
def test_corrupt_files_are_clear_errors(tmp_path, edit, message):
    with pytest.raises(ScratchlabError, match=message):
        load(_corrupt(tmp_path, edit))


def test_unreadable_files_are_clear_errors(tmp_path):
    (tmp_path / "trunc.json").write_text(json.dumps(formats.to_dict(tok()))[:500])
    with pytest.raises(ScratchlabError, match="not valid JSON"):
        load(tmp_path / "trunc.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScratchlabError, match="not a tokenizer file"):
        load(tmp_path / "bin.json")
    with pytest.raises(ScratchlabError, match="does not exist"):
        load(tmp_path / "missing.json")
    (tmp_path / "r.tiktoken").write_text("not base64 at all\n")
    with pytest.raises(ScratchlabError, match="line 1"):
        formats.read_tiktoken(tmp_path / "r.tiktoken")
    (tmp_path / "wp.json").write_text(json.dumps({"model": {"type": "WordPiece"}}))
    with pytest.raises(ScratchlabError, match="only BPE models"):
        load(tmp_path / "wp.json")


def test_tiktoken_ranks_that_are_not_bpe_are_rejected():
    ranks = {bytes([b]): b for b in range(256)}
    ranks[b"abc"] = 256  # no two lower-ranked tokens make it
    with pytest.raises(ScratchlabError, match="not a BPE ranking"):
        from_tiktoken(ranks)
