"""Text datasets, the byte and character tokenizers, and batch sampling. Framework-free.

The default dataset needs no download: it is text that ships with every CPython, the
documentation topics behind ``help()`` (``pydoc_data.topics``, about 0.47 MB on 3.11) and the
source of the standard library's top-level modules (about 4.7 MB on 3.11). Each document is
split at the line nearest 90% of its length: the head goes to training, the tail to validation,
so both splits see every kind of text. The exact bytes depend on the Python version.
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from scratchlab.core.errors import ScratchlabError

# --- corpora ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """A dataset's two splits, as text."""

    train: str
    val: str
    name: str = ""

    def fingerprint(self) -> str:
        return hashlib.sha256((self.train + "\0" + self.val).encode()).hexdigest()[:16]


def split_document(text: str, frac: float = 0.9) -> tuple[str, str]:
    """Split at the line boundary nearest ``frac`` of the length."""
    cut = text.rfind("\n", 0, int(len(text) * frac)) + 1 or int(len(text) * frac)
    return text[:cut], text[cut:]


def split_documents(docs: Sequence[str], frac: float = 0.9) -> tuple[str, str]:
    parts = [split_document(d, frac) for d in docs]
    return "".join(p[0] for p in parts), "".join(p[1] for p in parts)


def stdlib_docs() -> list[str]:
    """The documentation topics of ``help()``, in sorted order."""
    from pydoc_data.topics import topics

    return [f"{key}\n{'=' * len(key)}\n{topics[key].strip()}\n\n" for key in sorted(topics)]


def stdlib_source() -> list[str]:
    """The source of the standard library's top-level modules, in sorted order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return [f"# {f.name}\n{f.read_text(encoding='utf-8', errors='replace')}\n"
            for f in sorted(root.glob("*.py"))]


@dataclass
class DefaultDatasetConfig:
    part: Literal["all", "docs", "source"] = "all"
    max_bytes: int | None = None  # keep only the first documents up to about this many bytes
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")


def default_dataset(config: DefaultDatasetConfig) -> Corpus:
    docs = {"docs": stdlib_docs, "source": stdlib_source,
            "all": lambda: stdlib_docs() + stdlib_source()}[config.part]()
    if config.max_bytes:
        kept, size = [], 0
        for d in docs:
            if size >= config.max_bytes:
                break
            kept.append(d[: config.max_bytes - size])
            size += len(kept[-1])
        docs = kept
    train, val = split_documents(docs, 1 - config.val_fraction)
    return Corpus(train, val, f"default:{config.part}")


@dataclass
class TextFileConfig:
    path: str  # required: the file to read
    val_fraction: float = 0.1
    encoding: str = "utf-8"
    errors: Literal["strict", "replace"] = "strict"  # what to do with bytes that are not UTF-8

    def __post_init__(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


def text_file_dataset(config: TextFileConfig) -> Corpus:
    """A plain text file: the first (1 - val_fraction) for training, the rest for validation."""
    path = Path(config.path).expanduser()
    try:
        text = path.read_text(encoding=config.encoding, errors=config.errors)
    except FileNotFoundError:
        raise ScratchlabError(f"the text dataset file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ScratchlabError(f"{path} is not valid {config.encoding} ({exc.reason} at byte "
                              f"{exc.start}); set errors: replace to read it anyway") from None
    except OSError as exc:
        raise ScratchlabError(f"cannot read {path}: {exc}") from None
    if not text:
        raise ScratchlabError(f"the text dataset file {path} is empty")
    train, val = split_document(text, 1 - config.val_fraction)
    return Corpus(train, val, f"text:{path.name}")


@dataclass
class HFDatasetConfig:
    path: str = ""
    name: str | None = None
    column: str = "text"
    train_split: str = "train"
    val_split: str = "validation"
    max_rows: int | None = None


def hf_dataset(config: HFDatasetConfig) -> Corpus:
    """A Hugging Face dataset (needs ``pip install datasets`` and its files or network)."""
    try:
        import datasets
    except ImportError:
        raise ScratchlabError("the hf dataset needs the 'datasets' package: pip install "
                              "datasets") from None

    def split(name: str) -> str:
        ds = datasets.load_dataset(config.path, config.name, split=name)
        if config.max_rows:
            ds = ds.select(range(min(config.max_rows, len(ds))))
        return "\n".join(ds[config.column])

    return Corpus(split(config.train_split), split(config.val_split), f"hf:{config.path}")


# --- tokenizers ------------------------------------------------------------------------------


class Tokenizer(Protocol):
    """What the ``lm`` task needs from any tokenizer component."""

    vocab_size: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def save(self, path: str | Path) -> None: ...


@dataclass
class ByteTokenizerConfig:
    pass


class ByteTokenizer:
    """UTF-8 bytes as tokens: vocabulary 256, nothing to learn."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_array(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"type": "byte"}))


@dataclass
class CharTokenizerConfig:
    pass


class CharTokenizer:
    """One token per distinct character of the corpus (both splits), in sorted order."""

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.vocab_size = len(self.chars)

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as exc:
            raise ScratchlabError(f"character {exc.args[0]!r} is not in this char tokenizer's "
                                  "vocabulary") from None

    def encode_array(self, text: str) -> np.ndarray:
        return np.array(self.encode(text), dtype=np.int32)

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"type": "char", "chars": self.chars}))


def byte_tokenizer(config: ByteTokenizerConfig | None = None, corpus: Corpus | None = None,
                   **_: Any) -> ByteTokenizer:
    return ByteTokenizer()


def char_tokenizer(config: CharTokenizerConfig | None = None, corpus: Corpus | None = None,
                   *, path: str | Path | None = None, **_: Any) -> CharTokenizer:
    """Fit on ``corpus`` (train + val text), or reload from a file written by ``save``."""
    if path is not None:
        return CharTokenizer(json.loads(Path(path).read_text())["chars"])
    if corpus is None:
        raise ValueError("the char tokenizer needs a corpus to fit or a path to load")
    return CharTokenizer.fit(corpus.train + corpus.val)


def encode_array(tokenizer: Any, text: str) -> np.ndarray:
    """Token ids as an int32 array, using the tokenizer's fast path where it has one."""
    if hasattr(tokenizer, "encode_array"):
        return np.asarray(tokenizer.encode_array(text), dtype=np.int32)
    return np.asarray(tokenizer.encode(text), dtype=np.int32)


# --- batches ---------------------------------------------------------------------------------


def random_batch(ids: np.ndarray, block_size: int, batch_size: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` random windows: inputs ``x`` and next-token targets ``y`` (nanoGPT style)."""
    if len(ids) <= block_size:
        raise ScratchlabError(f"the data has {len(ids)} tokens, fewer than block_size + 1 = "
                              f"{block_size + 1}; use a smaller block_size or more data")
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    x = np.stack([ids[s: s + block_size] for s in starts])
    y = np.stack([ids[s + 1: s + 1 + block_size] for s in starts])
    return x.astype(np.int64), y.astype(np.int64)


def eval_batches(ids: np.ndarray, block_size: int, batch_size: int,
                 max_batches: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Deterministic, evenly spaced windows, so every run is scored on the same tokens."""
    n_windows = min(max_batches * batch_size, max(1, (len(ids) - 1) // block_size))
    if len(ids) <= block_size:
        raise ScratchlabError(f"the validation split has {len(ids)} tokens, fewer than "
                              f"block_size + 1 = {block_size + 1}")
    starts = np.linspace(0, len(ids) - block_size - 1, n_windows).astype(np.int64)
    for i in range(0, n_windows, batch_size):
        s = starts[i: i + batch_size]
        x = np.stack([ids[j: j + block_size] for j in s])
        y = np.stack([ids[j + 1: j + 1 + block_size] for j in s])
        yield x.astype(np.int64), y.astype(np.int64)
