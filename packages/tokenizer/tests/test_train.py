"""Training: the fast trainer equals the reference trainer and Hugging Face's BpeTrainer."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core.data import stdlib_docs
from scratchlab.core.errors import ScratchlabError
from scratchlab.tokenizer import GPT2_PATTERN, GPT4_PATTERN, train_bpe
from scratchlab.tokenizer.bytelevel import BYTE_RANK, BYTE_TO_CHAR, from_unicode, to_unicode
from scratchlab.tokenizer.patterns import count_chunks, split
from scratchlab.tokenizer.reference import train_reference
from scratchlab.tokenizer.trainer import train_fast

tokenizers = pytest.importorskip("tokenizers")


def hf_train(text: str, vocab_size: int, pattern: str, specials=(), min_frequency=0):
    """tokenizers' BpeTrainer set up like ours: the same split regex, byte-level, no prefix
    space, all 256 bytes in the alphabet; fed the text as one sequence."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  min_frequency=min_frequency, special_tokens=list(specials),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text], trainer)
    model = json.loads(tok.to_str())["model"]
    return [tuple(m) for m in model["merges"]], model["vocab"]


def our_merges(tok):
    return [(to_unicode(tok.vocab[a]), to_unicode(tok.vocab[b])) for a, b, _ in tok.merges]


DOCS = "".join(stdlib_docs())


@pytest.mark.parametrize("pattern,size,specials,min_frequency", [
    (GPT2_PATTERN, 700, (), 0),
    (GPT4_PATTERN, 600, ("<|endoftext|>", "<pad>"), 0),
    (GPT2_PATTERN, 5000, (), 40),  # stops on min_frequency before the vocabulary is full
])
def test_merges_equal_hf_bpe_trainer_on_real_text(pattern, size, specials, min_frequency):
    text = DOCS[:150_000]
    tok = train_bpe(text, size, pattern=pattern, special_tokens=specials,
                    min_frequency=min_frequency, processes=1)
    hf, hf_vocab = hf_train(text, size, pattern, specials, min_frequency)
    assert our_merges(tok) == hf
    assert len(tok.merges) > 100
    # same tokens; HF numbers specials first, then bytes by character, then merges
    assert {to_unicode(t) for t in tok.vocab.values()} | set(specials) == set(hf_vocab)
    if min_frequency:
        assert tok.vocab_size < size


def test_tie_rule_is_hf_id_order_not_byte_order():
    """Every pair occurs equally often; HF takes the pair with the smallest ids, where ids
    follow GPT-2's byte characters: printable bytes first, control bytes and space after."""
    text = "\x01\x02 ab"  # (\x01,\x02) has the smaller byte values, (a,b) the smaller HF ids
    chunks = split(text, GPT2_PATTERN)
    assert chunks == ["\x01\x02", " ab"]
    tok = train_bpe(text, 257, processes=1)
    assert tok.merges[0][:2] == (ord("a"), ord("b"))
    assert BYTE_RANK[ord("a")] < BYTE_RANK[1] and BYTE_RANK[ord("!")] == 0
    hf, _ = hf_train(text, 257, GPT2_PATTERN)
    assert our_merges(tok) == hf == [("a", "b")]
    # all 4 merges of a corpus made of ties, in HF's order
    hf, _ = hf_train(text, 260, GPT2_PATTERN)
    assert our_merges(train_bpe(text, 260, processes=1)) == hf


def test_byte_level_alphabet_round_trips():
    assert len(set(BYTE_TO_CHAR.values())) == 256
    every = bytes(range(256))
    assert from_unicode(to_unicode(every)) == every


small_texts = st.lists(st.text(alphabet="ab c\n\x01é.1", min_size=0, max_size=12),
                       min_size=1, max_size=12).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(small_texts, st.integers(256, 300), st.integers(0, 3), st.sampled_from(["gpt2", "gpt4"]))
def test_fast_trainer_equals_reference(text, size, min_frequency, pattern):
    counts = count_chunks([text], GPT2_PATTERN if pattern == "gpt2" else GPT4_PATTERN, 1)
    assert train_fast(counts, size, min_frequency) == train_reference(counts, size,
                                                                      min_frequency)


def _first_duplicate(merges) -> int:
    """Index of the first merge that re-made an existing token (ab+c after a+bc)."""
    made = set()
    for k, (_, _, new) in enumerate(merges):
        if new in made:
            return k
        made.add(new)
    return len(merges)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abcd é", min_size=1, max_size=8), min_size=2, max_size=10),
       st.lists(st.integers(0, 9), min_size=5, max_size=60), st.integers(257, 320))
def test_ties_and_counts_equal_hf_on_random_corpora(words, picks, size):
    """Random small corpora are full of ties. Equal to HF up to the first merge that re-makes
    an existing token, where HF's heap keeps stale positions (docs/bpe.md)."""
    text = " ".join(words[i % len(words)] for i in picks)
    tok = train_bpe(text, size, processes=1)
    hf, _ = hf_train(text, size, GPT2_PATTERN)
    k = _first_duplicate(tok.merges)
    assert our_merges(tok)[:k] == hf[:k]
    if k == len(tok.merges):
        assert our_merges(tok) == hf


def test_progress_bar_runs(capsys):
    tok = train_bpe(DOCS[:20_000], 400, processes=1, progress=True)
    assert len(tok.merges) == 144


def test_parallel_pretokenisation_equals_serial():
    text = DOCS[:300_000]
    serial = count_chunks([text], GPT4_PATTERN, processes=1)
    parallel = count_chunks([text, text[:1000]], GPT4_PATTERN, processes=2, piece_chars=50_000)
    expected = serial.copy()
    expected.update(count_chunks([text[:1000]], GPT4_PATTERN, 1))
    assert parallel == expected
    from collections import Counter

    assert serial == Counter(split(text, GPT4_PATTERN))  # the line cut changes nothing


def test_custom_pattern_keeps_unmatched_text():
    assert split("ab, cd!", r"[a-z]+") == ["ab", ", ", "cd", "!"]
    tok = train_bpe("ab, cd! " * 20, 270, pattern=r"[a-z]+", processes=1)
    text = "xy, ab!? cd"
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("kwargs,message", [
    (dict(texts="", vocab_size=300), "empty"),
    (dict(texts=["", ""], vocab_size=300), "empty"),
    (dict(texts="abc", vocab_size=255), "at least 256"),
    (dict(texts="abc", vocab_size=257, special_tokens=["<a>", "<b>"]), "at least 258"),
    (dict(texts="abc", vocab_size=300, pattern="(unclosed"), "not a valid regular expression"),
    (dict(texts="abc", vocab_size=300, pattern="x*"), "empty string"),
    (dict(texts="abc", vocab_size=300, min_frequency=-1), "min_frequency"),
    (dict(texts="abc", vocab_size=300, special_tokens=["<a>", "<a>"]), "twice"),
])
def test_bad_training_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ScratchlabError, match=message):
        train_bpe(**kwargs)


def test_vocab_stops_when_no_pair_is_left():
    tok = train_bpe("ab", 1000, processes=1)
    assert [tok.vocab[m[2]] for m in tok.merges] == [b"ab"]
    assert tok.vocab_size == 257
    assert set(string.ascii_letters) <= {chr(b) for b in range(256)}


@pytest.mark.parametrize("pattern", [GPT2_PATTERN, GPT4_PATTERN, r"[a-z]+|\d"])
def test_streamed_files_count_like_the_texts(tmp_path, pattern):
    """Byte ranges cut at safe newlines, read and counted by workers, give the counts of the
    whole texts (non-ASCII, \\r\\n and blank lines included)."""
    from collections import Counter

    from scratchlab.tokenizer.patterns import count_chunks_files, file_ranges

    texts = [DOCS[:60_000] + "naïve café\r\n\n  日本語 🎉\nx\ny", DOCS[60_000:90_000]]
    paths = []
    for k, text in enumerate(texts):
        paths.append(tmp_path / f"{k}.txt")
        paths[-1].write_bytes(text.encode("utf-8"))
    expected: Counter[str] = Counter()
    for text in texts:
        expected.update(count_chunks([text], pattern, processes=1))
    for processes in (1, 2):
        assert count_chunks_files(paths, pattern, processes, block_bytes=3_000) == expected
    ranges = file_ranges(paths[0], pattern, 3_000)
    assert ranges[0][1] == 0 and ranges[-1][2] == len(texts[0].encode())
    assert all(r[2] == s[1] for r, s in zip(ranges, ranges[1:]))
    assert len(ranges) > (10 if pattern != r"[a-z]+|\d" else 0)


def test_train_bpe_files_equals_train_bpe(tmp_path):
    from scratchlab.tokenizer import train_bpe_files

    path = tmp_path / "a.txt"
    path.write_text(DOCS[:80_000], encoding="utf-8")
    from_files = train_bpe_files([path], 500, processes=2)
    assert from_files.merges == train_bpe(DOCS[:80_000], 500, processes=1).merges
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n" * 10 + b"caf\xe9\n")
    with pytest.raises(ScratchlabError, match=r"not valid UTF-8 .* at byte 33"):
        train_bpe_files([bad], 300, processes=2)
    assert train_bpe_files([bad], 300, errors="replace", processes=1).merges
    with pytest.raises(ScratchlabError, match="no input files"):
        train_bpe_files([], 300)


# letters, digits, spaces and punctuation, ASCII and not (Latin, CJK, Arabic digits, no-break
# and ideographic spaces, an emoji), newlines, \r, apostrophes and contraction letters
_MIXED = st.text(st.sampled_from(list("ab sdtlmvre09'.,:()\n\n\r\t-_") +
                                 ["é", "日", "١", "\u00a0", "\u3000", "🎉", "ſ", "K", "²"]),
                 max_size=60)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_MIXED, max_size=8))
def test_fast_split_equals_the_regex_module(lines):
    """The ASCII twins on ASCII pieces, `regex` on the rest, cut just before safe newlines:
    exactly the chunks of the `regex` module on the whole text, for both built-in patterns."""
    from scratchlab.tokenizer.patterns import split_unicode

    text = "\n".join(lines)
    for pattern in (GPT2_PATTERN, GPT4_PATTERN):
        assert split(text, pattern) == split_unicode(text, pattern)
