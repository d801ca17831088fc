"""The reference BPE trainer: the clearest statement of the algorithm, and the tests' oracle.

Start from the 256 bytes. Repeat: count every adjacent pair of symbols over all chunks
(weighted by how often the chunk occurs), take the most frequent pair, add the concatenation
of its two tokens to the vocabulary, and replace the pair by the new token everywhere, left
to right. Ties go to the pair whose ids come first in Hugging Face's numbering (docs/bpe.md).
It recounts everything at every step: O(merges x corpus). The fast trainer
(:mod:`scratchlab.tokenizer.trainer`) computes exactly the same merges.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import pairwise

from scratchlab.tokenizer.bytelevel import BYTE_RANK

Merge = tuple[int, int, int]  # (left id, right id, id of the merged token)


def hf_rank(token_id: int) -> int:
    """Position of a token in Hugging Face's numbering: bytes in GPT-2's character order,
    then merged tokens in the order they were made (special tokens, numbered first by HF,
    never appear in pairs)."""
    return BYTE_RANK[token_id] if token_id < 256 else token_id


def merge_word(word: list[int], a: int, b: int, new: int) -> list[int]:
    """Replace each (a, b) in ``word`` by ``new``, scanning left to right (so aaa -> [aa, a])."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def train_reference(chunk_counts: Mapping[str, int], n_tokens: int,
                    min_frequency: int = 0) -> tuple[list[bytes], list[Merge]]:
    """Merges until the vocabulary has ``n_tokens`` tokens (or no pair is left / frequent
    enough). Returns the vocabulary (id -> bytes) and the merges in order."""
    vocab = [bytes([b]) for b in range(256)]
    index = {token: i for i, token in enumerate(vocab)}
    words = [(list(chunk.encode("utf-8")), n) for chunk, n in chunk_counts.items()]
    merges: list[Merge] = []
    while len(vocab) < n_tokens:
        pairs: Counter[tuple[int, int]] = Counter()
        for word, n in words:
            for pair in pairwise(word):
                pairs[pair] += n
        if not pairs:
            break
        a, b = max(pairs, key=lambda p: (pairs[p], -hf_rank(p[0]), -hf_rank(p[1])))
        if pairs[a, b] < max(1, min_frequency):
            break
        token = vocab[a] + vocab[b]
        new = index.get(token)
        if new is None:  # the same bytes can come from two merges (a+bc, ab+c): one token
            new = index[token] = len(vocab)
            vocab.append(token)
        merges.append((a, b, new))
        words = [(merge_word(word, a, b, new), n) for word, n in words]
    return vocab, merges
