"""Text for the interp tasks that look inside a language model: the corpus and tokenizer a
spec names, as token ids (framework-free)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.data import encode_array
from scratchlab.core.errors import ScratchlabError


def load_tokens(dataset: Any, tokenizer: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """(tokenizer, train ids, val ids) from resolved ``dataset`` and ``tokenizer`` choices."""
    corpus = dataset.build(None)
    tok = tokenizer.build(None, corpus)
    return tok, encode_array(tok, corpus.train), encode_array(tok, corpus.val)


@dataclass
class LMRun:
    """A finished ``lm`` run, read back from its folder: what the model was (config), its
    weights, and the tokenizer and token ids of the text it was trained on."""

    config: Any  # scratchlab.transformer.lm.config.LMConfig
    tensors: dict[str, np.ndarray]
    tokenizer: Any
    train_ids: np.ndarray
    val_ids: np.ndarray


def load_lm_run(folder: str, block_size: int) -> LMRun:
    """Read an lm run folder (config.json, checkpoint, tokenizer.json) written by either
    backend: weights are NumPy with the same names in both, so an SAE in MLX can look inside
    a model trained in torch. ``block_size`` (the SAE's context) must fit the model."""
    from scratchlab.transformer.lm import data as lm

    run_dir = Path(folder).expanduser()
    cfg, _ = lm.load_run_config(run_dir)
    weights, _ = lm.resolve_weights(str(run_dir))
    corpus = cfg.data.dataset.build(None)
    tok = lm.load_tokenizer(run_dir) or cfg.data.tokenizer.build(None, corpus)
    if block_size > cfg.max_seq_len:
        raise ScratchlabError(f"lm.block_size {block_size} is longer than the {cfg.max_seq_len} "
                              f"tokens the model of {run_dir} takes")
    return LMRun(cfg, lm.model_tensors(weights), tok, encode_array(tok, corpus.train),
                 encode_array(tok, corpus.val))
