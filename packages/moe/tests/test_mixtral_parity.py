"""Our MoE block against Hugging Face's Mixtral sparse MoE block, same weights, no capacity."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.testing import BACKENDS, OP_TOL, assert_close
from scratchlab.moe.config import MoEConfig

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


def hf_block(d_model: int = 16, hidden: int = 24, n_experts: int = 4, top_k: int = 2):
    from transformers.models.mixtral.configuration_mixtral import MixtralConfig
    from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock

    config = MixtralConfig(hidden_size=d_model, intermediate_size=hidden,
                           num_local_experts=n_experts, num_experts_per_tok=top_k,
                           router_jitter_noise=0.0, hidden_act="silu")
    torch.manual_seed(0)
    block = MixtralSparseMoeBlock(config).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0.0, 0.3)
    return block


def mixtral_to_ours(block) -> dict[str, np.ndarray]:
    """Mixtral keeps gate and up stacked as (E, 2h, d) and down as (E, d, h); we keep (in, out)."""
    gate_up = block.experts.gate_up_proj.detach().numpy()
    h = gate_up.shape[1] // 2
    return {
        "router.weight": block.gate.weight.detach().numpy(),
        "experts.w1": gate_up[:, :h, :].transpose(0, 2, 1).copy(),
        "experts.w3": gate_up[:, h:, :].transpose(0, 2, 1).copy(),
        "experts.w2": block.experts.down_proj.detach().numpy().transpose(0, 2, 1).copy(),
    }


def build(backend: str, config: MoEConfig, d_model: int, weights: dict[str, np.ndarray]):
    if backend == "torch":
        from scratchlab.core.backends import torch as bk
        from scratchlab.moe.torch.moe import MoE
    else:
        from scratchlab.core.backends import mlx as bk
        from scratchlab.moe.mlx.moe import MoE
    model = MoE(config, d_model)
    bk.load_state_dict(model, weights)
    model.eval()
    return model, bk


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("top_k", [1, 2])
def test_matches_mixtral_sparse_moe_block(backend: str, top_k: int) -> None:
    block = hf_block(top_k=top_k)
    x = np.random.default_rng(1).standard_normal((2, 7, 16)).astype(np.float32)
    with torch.no_grad():
        expected = block(torch.from_numpy(x))
    config = MoEConfig(n_experts=4, top_k=top_k, hidden=24, activation="swiglu",
                       capacity_factor=None)
    ours, bk = build(backend, config, 16, mixtral_to_ours(block))
    y, aux = ours(bk.from_numpy(x))
    assert_close(y, expected, **OP_TOL)
    assert_close(aux["dropped_frac"], 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_balance_loss_matches_mixtral(backend: str) -> None:
    """HF counts f_i per token (sum k), we per assignment (sum 1): HF's value is k times ours."""
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    block = hf_block()
    x = np.random.default_rng(2).standard_normal((3, 5, 16)).astype(np.float32)
    logits = torch.from_numpy(x.reshape(-1, 16)) @ block.gate.weight.detach().T
    expected = load_balancing_loss_func((logits,), num_experts=4, top_k=2)
    config = MoEConfig(n_experts=4, top_k=2, hidden=24, activation="swiglu")
    ours, bk = build(backend, config, 16, mixtral_to_ours(block))
    _, aux = ours(bk.from_numpy(x))
    assert_close(2 * np.asarray(bk.to_numpy(aux["balance_loss"])), expected.numpy(), **OP_TOL)
