"""Parity with Hugging Face transformers: GPT2LMHeadModel and LlamaForCausalLM (GQA), random
init from small configs (no download), converted both ways, in both backends."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.errors import ScratchlabError
from scratchlab.core.testing import BACKENDS, MODEL_TOL, assert_close, needs_torch

pytestmark = needs_torch
transformers = pytest.importorskip("transformers")


def _perturb(hf_model, seed: int = 0):
    """Random init has N(0, 0.02) weights and unit norms; make every weight matter."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in hf_model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return hf_model.eval()


def gpt2(tied: bool = True):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=24, vocab_size=61,
                     bos_token_id=None, eos_token_id=None, tie_word_embeddings=tied,
                     attn_implementation="eager")
    return _perturb(GPT2LMHeadModel(cfg))


def llama(rope_parameters: dict | None = None, tied: bool = False):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, vocab_size=61,
                      max_position_embeddings=24, rms_norm_eps=1e-6, tie_word_embeddings=tied,
                      rope_parameters=rope_parameters or {"rope_type": "default", "rope_theta": 1000.0},
                      bos_token_id=None, eos_token_id=None, pad_token_id=None,
                      attn_implementation="eager")
    return _perturb(LlamaForCausalLM(cfg))


def _ours(model, idx: np.ndarray, backend: str) -> np.ndarray:
    if backend == "torch":
        import torch

        with torch.no_grad():
            return model(torch.from_numpy(idx)).numpy()
    import mlx.core as mx

    return np.array(model(mx.array(idx)))


def _hf(hf_model, idx: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return hf_model(torch.from_numpy(idx)).logits.numpy()


HF_MODELS = {
    "gpt2": lambda: gpt2(),
    "gpt2-untied": lambda: gpt2(tied=False),
    "llama-gqa": lambda: llama(),
    "llama-tied": lambda: llama(tied=True),
    "llama-linear": lambda: llama({"rope_type": "linear", "rope_theta": 1000.0, "factor": 2.0}),
    "llama-yarn": lambda: llama({"rope_type": "yarn", "rope_theta": 1000.0, "factor": 4.0,
                                 "original_max_position_embeddings": 8}),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", list(HF_MODELS))
def test_from_hf_logits_match(which: str, backend: str) -> None:
    from scratchlab.transformer import from_hf

    hf_model = HF_MODELS[which]()
    idx = np.random.default_rng(0).integers(0, 61, (2, 20)).astype(np.int64)
    ref = _hf(hf_model, idx)
    assert np.abs(ref).max() > 0.5  # the comparison is not between two near-zero tensors
    model = from_hf(hf_model, backend=backend)
    assert_close(_ours(model, idx, backend), ref, **MODEL_TOL)
    if which.startswith("llama"):
        assert model.config.kv_heads == 2 and model.config.n_heads == 4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", ["gpt2", "llama-gqa", "llama-yarn"])
def test_to_hf_round_trip(which: str, backend: str) -> None:
    from scratchlab.transformer import from_hf, to_hf

    hf_model = HF_MODELS[which]()
    idx = np.random.default_rng(1).integers(0, 61, (1, 16)).astype(np.int64)
    back = to_hf(from_hf(hf_model, backend=backend))
    assert type(back) is type(hf_model)
    assert_close(_hf(back, idx), _hf(hf_model, idx), **MODEL_TOL)


def test_to_hf_from_our_own_model_and_refusals() -> None:
    import torch

    from scratchlab.transformer import from_hf, to_hf
    from scratchlab.transformer.config import GPTConfig
    from scratchlab.transformer.torch.model import GPT

    ours = GPT(GPTConfig(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, positional="rope",
                         norm="rmsnorm", ffn="swiglu", bias=False), 50, 16).eval()
    idx = torch.randint(0, 50, (1, 10))
    hf_model = to_hf(ours)
    with torch.no_grad():
        assert_close(hf_model(idx).logits, ours(idx), **MODEL_TOL)
    assert_close(from_hf(hf_model)(idx), ours(idx), **MODEL_TOL)
    with pytest.raises(ScratchlabError, match="alibi"):
        to_hf(GPT(GPTConfig(d_model=32, n_heads=4, positional="alibi"), 50, 16))
    with pytest.raises(ScratchlabError, match="model_type"):
        from_hf(type("Fake", (), {"config": type("C", (), {"model_type": "bert"})()})())
