"""Text for the interp tasks that look inside a language model: the corpus and tokenizer a
spec names, as token ids (framework-free)."""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchlab.core.data import encode_array


def load_tokens(dataset: Any, tokenizer: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """(tokenizer, train ids, val ids) from resolved ``dataset`` and ``tokenizer`` choices."""
    corpus = dataset.build(None)
    tok = tokenizer.build(None, corpus)
    return tok, encode_array(tok, corpus.train), encode_array(tok, corpus.val)
