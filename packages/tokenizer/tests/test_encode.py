"""Encoding: equal to tiktoken (our ranks) and to tokenizers (our tokenizer.json) on real
text; round trips; special tokens; batches and files."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core.data import stdlib_docs, stdlib_source
from scratchlab.core.errors import ScratchlabError
from scratchlab.tokenizer import BPETokenizer, to_tiktoken, train_bpe
from scratchlab.tokenizer.formats import to_hf_dict

SPECIAL = "<|endoftext|>"


@cache
def trained(pattern: str = "gpt2", size: int = 1500) -> BPETokenizer:
    return train_bpe("".join(stdlib_docs()), size, pattern=pattern, special_tokens=[SPECIAL],
                     processes=1)


def real_text() -> str:
    """Python source the tokenizer never saw in training (it learnt on the docs)."""
    src = stdlib_source()
    return "".join(src[10:14]) + "Ünïcödé: naïve café, 日本語のテキスト, emoji 🎉🎉, ١٢٣٤٥\r\n\t\x00"


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_encoding_equals_tiktoken_with_our_ranks(pattern):
    pytest.importorskip("tiktoken")
    tok, text = trained(pattern), real_text()
    enc = to_tiktoken(tok)
    ours = tok.encode(text)
    assert ours == enc.encode_ordinary(text)
    assert len(ours) < len(text.encode()) / 2.0  # it does compress
    with_special = text[:500] + SPECIAL + text[500:1000]
    assert (tok.encode(with_special, allowed_special="all")
            == enc.encode(with_special, allowed_special="all"))


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_encoding_equals_hf_tokenizers_loading_our_json(pattern):
    tokenizers = pytest.importorskip("tokenizers")
    tok, text = trained(pattern), real_text()
    hf = tokenizers.Tokenizer.from_str(json.dumps(to_hf_dict(tok)))
    assert tok.encode(text) == hf.encode(text).ids
    assert hf.decode(tok.encode(text)) == text
    assert hf.encode(SPECIAL).ids == [tok.special_tokens[SPECIAL]]


def test_encode_chunk_reproduces_training_segmentation():
    """A chunk seen in training encodes to one token when training merged it whole."""
    tok = trained()
    for token_id in list(tok.vocab)[-50:]:
        piece = tok.vocab[token_id]
        assert tok.encode_chunk(piece) == [token_id]


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_any_unicode_string_round_trips(text):
    tok = trained()
    ids = tok.encode(text, disallowed_special=())
    assert tok.decode(ids) == text
    assert np.array_equal(tok.encode_array(text, disallowed_special=()), ids)


@settings(max_examples=100, deadline=None)
@given(st.binary())
def test_arbitrary_bytes_round_trip(data):
    tok = trained()
    assert tok.decode_bytes(tok.encode_bytes(data)) == data


def test_encode_bytes_equals_encode_on_valid_utf8():
    tok, text = trained(), real_text()[:5000]
    assert tok.encode_bytes(text.encode()) == tok.encode(text)


def test_special_token_policies():
    tok = trained()
    text = f"a{SPECIAL}b"
    with pytest.raises(ScratchlabError, match="contains the special token"):
        tok.encode(text)  # default: raise
    allowed = tok.encode(text, allowed_special="all")
    assert tok.special_tokens[SPECIAL] in allowed
    plain = tok.encode(text, disallowed_special=())
    assert tok.special_tokens[SPECIAL] not in plain and tok.decode(plain) == text
    assert tok.decode(allowed) == text
    tok2 = BPETokenizer(tok.vocab, tok.merges, tok.pattern, tok.special_tokens,
                        special_policy="allowed")
    assert tok2.encode(text) == allowed
    tok3 = BPETokenizer(tok.vocab, tok.merges, tok.pattern, tok.special_tokens,
                        special_policy="disallowed")
    assert tok3.encode(text) == plain
    with pytest.raises(ScratchlabError, match="not a special token"):
        tok.encode(text, allowed_special={"<nope>"})
    with pytest.raises(ScratchlabError, match="special_policy"):
        BPETokenizer(tok.vocab, tok.merges, special_policy="sometimes")  # type: ignore[arg-type]


def test_decode_unknown_id_is_a_clear_error():
    with pytest.raises(ScratchlabError, match="not in this tokenizer's vocabulary"):
        trained().decode([10**6])


def test_lone_surrogate_in_str_is_a_clear_error():
    with pytest.raises(ScratchlabError, match="surrogate"):
        trained().encode("a\udc80b")


def test_batch_encoding_across_processes_equals_one_by_one():
    tok = trained()
    texts = [s[:3000] for s in stdlib_source()[:12]]
    assert tok.encode_batch(texts, processes=2) == [tok.encode(t) for t in texts]
    assert tok.encode_batch(texts[:1], processes=1) == [tok.encode(texts[0])]


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4", r"\w+|\s+|[^\w\s]+"])
def test_streaming_files_equals_encoding_the_whole_text(tmp_path, pattern, monkeypatch):
    from scratchlab.tokenizer import tokenizer as tokmod

    monkeypatch.setattr(tokmod, "BLOCK_CHARS", 2_000)  # many blocks, cut at safe points only
    tok = trained() if pattern == "gpt2" else train_bpe("".join(stdlib_docs())[:50_000], 400,
                                                       pattern=pattern, processes=1)
    a, b = tmp_path / "a.py", tmp_path / "b.txt"
    a.write_text(real_text() + "\n\n  \n", encoding="utf-8", newline="")
    b.write_text("".join(stdlib_docs()[:5]), encoding="utf-8")
    ids = tok.encode_files([a, b])
    expected = []
    for path in (a, b):
        with open(path, encoding="utf-8", newline="") as f:
            expected += tok.encode(f.read())
    assert ids.dtype == np.int32 and ids.tolist() == expected


def test_cache_is_bounded_and_gives_the_same_ids():
    tok = trained()
    small = BPETokenizer(tok.vocab, tok.merges, tok.pattern, max_cache=50)
    text = real_text()[:20_000]
    assert small.encode(text) == tok.encode(text) == small.encode(text)
    assert 0 < len(small._cache) <= 50


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_ignore_merges_gives_the_same_ids_on_trained_vocabularies(pattern):
    """Every token our trainer makes is what the merges give on its own bytes, so looking a
    whole chunk up first (``ignore_merges``, tiktoken's shortcut) changes no id."""
    tok = trained(pattern)
    plain = BPETokenizer(tok.vocab, tok.merges, tok.pattern, tok.special_tokens)
    assert tok.ignore_merges and not plain.ignore_merges
    assert all(plain.encode_chunk(t) == [i] for i, t in tok.vocab.items())
    text = real_text()
    assert plain.encode(text) == tok.encode(text)
    raw = text.encode()[:3000] + b"\xff\xe2\x82"
    assert plain.encode_bytes(raw) == tok.encode_bytes(raw)


@pytest.mark.parametrize("ignore_merges,expected", [(False, ["a", "bc"]), (True, ["abc"])])
def test_ignore_merges_matches_hf_where_it_matters(ignore_merges, expected):
    """A token the merges cannot reach from its bytes (bc first, so ab + c never happens):
    plain BPE gives [a, bc], the whole-chunk lookup [abc]; tokenizers agrees either way."""
    tokenizers = pytest.importorskip("tokenizers")
    vocab = [bytes([b]) for b in range(256)] + [b"bc", b"ab", b"abc"]
    a, b, c = b"abc"
    merges = [(b, c, 256), (a, b, 257), (257, c, 258)]
    tok = BPETokenizer(vocab, merges, ignore_merges=ignore_merges)
    ids = tok.encode("abc")
    assert [tok.vocab[i].decode() for i in ids] == expected
    hf = tokenizers.Tokenizer.from_str(json.dumps(to_hf_dict(tok)))
    assert hf.encode("abc").ids == ids
