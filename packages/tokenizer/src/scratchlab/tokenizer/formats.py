"""Files: our own versioned JSON, Hugging Face ``tokenizer.json``, and tiktoken ranks.

Our format (``"format": "scratchlab-bpe", "version": 1``) stores every token's bytes (hex, by
id), the merges as id triples in learned order, the split pattern, the special tokens,
``ignore_merges`` (absent in older files: false) and free ``meta`` (training settings and
time). Loading checks it fully: every merge must concatenate its two tokens into the third, so a damaged file fails with a clear message instead of
encoding wrongly.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from scratchlab.core.errors import ScratchlabError
from scratchlab.tokenizer import patterns
from scratchlab.tokenizer.bytelevel import from_unicode, to_unicode
from scratchlab.tokenizer.tokenizer import BPETokenizer

FORMAT, VERSION = "scratchlab-bpe", 1


def atomic_write(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


# --- our own format --------------------------------------------------------------------------

def to_dict(tok: BPETokenizer) -> dict[str, Any]:
    size = max(tok.vocab) + 1
    return {"format": FORMAT, "version": VERSION, "pattern": tok.pattern,
            "pattern_name": patterns.pattern_name(tok.pattern),
            "special_tokens": tok.special_tokens,
            "vocab": [tok.vocab[i].hex() if i in tok.vocab else None for i in range(size)],
            "merges": [list(m) for m in tok.merges], "ignore_merges": tok.ignore_merges,
            "meta": tok.meta}


def from_dict(data: Any, source: str = "<dict>") -> BPETokenizer:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        hint = (" (it looks like a Hugging Face tokenizer.json: use import_hf)"
                if isinstance(data, dict) and "model" in data else "")
        raise ScratchlabError(f"{source} is not a scratchlab BPE tokenizer file{hint}")
    if data.get("version") != VERSION:
        raise ScratchlabError(f"{source} has format version {data.get('version')!r}; this "
                              f"scratchlab-tokenizer reads version {VERSION}")
    try:
        vocab = {i: bytes.fromhex(h) for i, h in enumerate(data["vocab"]) if h is not None}
        merges = [(int(a), int(b), int(c)) for a, b, c in data["merges"]]
        specials = {str(k): int(v) for k, v in data.get("special_tokens", {}).items()}
        pattern = str(data["pattern"])
        ignore_merges = bool(data.get("ignore_merges", False))
    except (KeyError, TypeError, ValueError) as exc:
        raise ScratchlabError(f"{source} is corrupt: {type(exc).__name__} {exc}") from None
    try:
        return BPETokenizer(vocab, merges, pattern, specials, meta=data.get("meta") or {},
                            ignore_merges=ignore_merges)
    except ScratchlabError as exc:
        raise ScratchlabError(f"{source} is corrupt: {exc}") from None


def _read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScratchlabError(f"the tokenizer file {path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScratchlabError(f"{path} is not a tokenizer file (not valid JSON: {exc})") from None
    except OSError as exc:
        raise ScratchlabError(f"cannot read {path}: {exc.strerror or exc}") from None


def save(tok: BPETokenizer, path: str | Path) -> None:
    atomic_write(path, json.dumps(to_dict(tok), ensure_ascii=False))


def load(path: str | Path) -> BPETokenizer:
    """Our format, or (recognised by its content) a Hugging Face tokenizer.json."""
    data = _read_json(path)
    if isinstance(data, dict) and "model" in data and "format" not in data:
        return from_hf_dict(data, str(path))
    return from_dict(data, str(path))


# --- Hugging Face tokenizer.json -------------------------------------------------------------

def to_hf_dict(tok: BPETokenizer) -> dict[str, Any]:
    """A ``tokenizer.json`` that ``tokenizers.Tokenizer`` loads and encodes identically:
    Split(pattern, isolated) then ByteLevel without its own regex, a BPE model with our merges."""
    vocab = {to_unicode(t): i for i, t in sorted(tok.vocab.items())}
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}
             for s, i in sorted(tok.special_tokens.items(), key=lambda kv: kv[1])]
    vocab.update({s: i for s, i in tok.special_tokens.items()})
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": tok.pattern}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                    "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": tok.ignore_merges,
                  "vocab": vocab,
                  "merges": [[to_unicode(tok.vocab[a]), to_unicode(tok.vocab[b])]
                             for a, b, _ in tok.merges]},
    }


def export_hf(tok: BPETokenizer, path: str | Path) -> None:
    atomic_write(path, json.dumps(to_hf_dict(tok), ensure_ascii=False, indent=1))


def _hf_pattern(pre: Any, source: str) -> str:
    """The split regex of a byte-level pre-tokenizer (ByteLevel's own is GPT-2's)."""
    if not isinstance(pre, dict):
        raise ScratchlabError(f"{source}: a byte-level BPE needs a pre_tokenizer")
    if pre.get("type") == "Sequence":
        found = [p for p in pre.get("pretokenizers", []) if p.get("type") in ("Split",
                                                                           "ByteLevel")]
        for p in found:
            if p.get("type") == "Split" and "Regex" in p.get("pattern", {}):
                return str(p["pattern"]["Regex"])
        for p in found:
            if p.get("type") == "ByteLevel" and p.get("use_regex", True):
                return patterns.GPT2_PATTERN
    elif pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
        if pre.get("add_prefix_space"):
            raise ScratchlabError(f"{source}: add_prefix_space=true is not supported")
        return patterns.GPT2_PATTERN
    raise ScratchlabError(f"{source}: unsupported pre_tokenizer {pre.get('type')!r}; expected "
                          "ByteLevel, or Split(Regex) followed by ByteLevel")


def from_hf_dict(data: dict[str, Any], source: str = "<tokenizer.json>") -> BPETokenizer:
    model = data.get("model") or {}
    if model.get("type") != "BPE":
        raise ScratchlabError(f"{source}: only BPE models can be imported, got "
                              f"{model.get('type')!r}")
    if data.get("normalizer"):
        raise ScratchlabError(f"{source}: a normalizer ({data['normalizer'].get('type')}) is "
                              "not supported by byte-level BPE import")
    pattern = _hf_pattern(data.get("pre_tokenizer"), source)
    specials = {t["content"]: int(t["id"]) for t in data.get("added_tokens", [])}
    try:
        vocab = {int(i): from_unicode(s) for s, i in model["vocab"].items() if s not in specials}
        ids = {s: int(i) for s, i in model["vocab"].items()}
        merges = []
        for m in model["merges"]:
            left, right = m.split(" ") if isinstance(m, str) else m
            merges.append((ids[left], ids[right], ids[left + right]))
    except KeyError as exc:
        raise ScratchlabError(f"{source}: {exc.args[0]!r} is not a byte-level token of its "
                              "vocabulary") from None
    except (TypeError, ValueError) as exc:
        raise ScratchlabError(f"{source} is corrupt: {exc}") from None
    return BPETokenizer(vocab, merges, pattern, specials, meta={"imported_from": "hf"},
                        ignore_merges=bool(model.get("ignore_merges", False)))


def import_hf(path: str | Path) -> BPETokenizer:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ScratchlabError(f"{path} is not a Hugging Face tokenizer.json")
    return from_hf_dict(data, str(path))


# --- tiktoken --------------------------------------------------------------------------------

def to_tiktoken_ranks(tok: BPETokenizer) -> dict[bytes, int]:
    """tiktoken's ``mergeable_ranks``: token bytes -> id (ids are in merge order)."""
    return {t: i for i, t in tok.vocab.items()}


def to_tiktoken(tok: BPETokenizer, name: str = "scratchlab-bpe") -> Any:
    """A ``tiktoken.Encoding`` with our ranks, pattern and special tokens."""
    import tiktoken

    return tiktoken.Encoding(name, pat_str=tok.pattern, mergeable_ranks=to_tiktoken_ranks(tok),
                             special_tokens=dict(tok.special_tokens))


def export_tiktoken(tok: BPETokenizer, path: str | Path) -> None:
    """The ``.tiktoken`` file format: one ``base64(token) rank`` line per token."""
    atomic_write(path, "".join(f"{base64.b64encode(t).decode()} {i}\n"
                               for t, i in sorted(to_tiktoken_ranks(tok).items(),
                                                  key=lambda kv: kv[1])))


def read_tiktoken(path: str | Path) -> dict[bytes, int]:
    ranks = {}
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise ScratchlabError(f"the tiktoken file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScratchlabError(f"cannot read {path} as a tiktoken file: {exc}") from None
    for lineno, line in enumerate(lines, 1):
        try:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError:
            raise ScratchlabError(f"{path} line {lineno} is not 'base64-token rank'") from None
    return ranks


def _split_by_ranks(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """tiktoken's merge loop on ``token`` using only ranks below ``max_rank``."""
    parts = [bytes([b]) for b in token]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            return parts
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def from_tiktoken(ranks: dict[bytes, int], pattern: str = patterns.GPT2_PATTERN,
                  special_tokens: dict[str, int] | None = None) -> BPETokenizer:
    """Recover the merges from mergeable ranks: a token of rank r is the merge of the two
    pieces tiktoken's own loop reaches on its bytes with the ranks below r."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = _split_by_ranks(ranks, token, rank)
        if len(parts) != 2:
            raise ScratchlabError(f"token {token!r} (rank {rank}) cannot be made by merging two "
                                  "tokens of lower rank: not a BPE ranking")
        merges.append((ranks[parts[0]], ranks[parts[1]], rank))
    return BPETokenizer({i: t for t, i in ranks.items()}, merges,
                        patterns.resolve_pattern(pattern), special_tokens,
                        meta={"imported_from": "tiktoken"},
                        ignore_merges=True)  # tiktoken looks a whole chunk up first


def from_tiktoken_encoding(enc: Any) -> BPETokenizer:
    return from_tiktoken(enc._mergeable_ranks, enc._pat_str, enc._special_tokens)
