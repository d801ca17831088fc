"""GPT-2's byte-level alphabet: every byte as a printable Unicode character.

Hugging Face ``tokenizer.json`` files store tokens as strings, so GPT-2 maps each of the 256
bytes to a visible character: the printable Latin-1 bytes map to themselves, the others (control
characters, space, ...) to ``chr(256 + k)`` in byte order. The same order (sorted by that
character's code point) is the order in which Hugging Face's ``BpeTrainer`` numbers the initial
alphabet, so it is also the order that breaks ties between merges (see docs/bpe.md).
"""

from __future__ import annotations


def bytes_to_unicode() -> dict[int, str]:
    """byte -> printable character, as in GPT-2's encoder.py."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


BYTE_TO_CHAR: dict[int, str] = bytes_to_unicode()
CHAR_TO_BYTE: dict[str, int] = {c: b for b, c in BYTE_TO_CHAR.items()}

# HF's id of byte b in a trained vocabulary (before special tokens): the rank of its character.
BYTE_RANK: list[int] = [0] * 256
for _rank, _b in enumerate(sorted(range(256), key=lambda b: ord(BYTE_TO_CHAR[b]))):
    BYTE_RANK[_b] = _rank
RANK_BYTE: list[int] = sorted(range(256), key=lambda b: BYTE_RANK[b])


def to_unicode(token: bytes) -> str:
    return "".join(BYTE_TO_CHAR[b] for b in token)


def from_unicode(text: str) -> bytes:
    """The inverse of :func:`to_unicode`; KeyError for a character outside the alphabet."""
    return bytes(CHAR_TO_BYTE[c] for c in text)
