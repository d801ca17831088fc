"""RoPE, ALiBi and sinusoidal tables against the references: mlx.nn.RoPE, HF's rotary code."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.testing import OP_TOL, assert_close, needs_both, needs_mlx, needs_torch
from scratchlab.transformer import positions as P
from scratchlab.transformer.config import GPTConfig, RoPEConfig


def _rope(backend: str, cfg: dict, head_dim: int = 16, max_len: int = 8):
    c = GPTConfig(d_model=head_dim * 2, n_heads=2, positional={"name": "rope", **cfg})
    if backend == "torch":
        from scratchlab.transformer.torch.positional import RoPE
    else:
        from scratchlab.transformer.mlx.positional import RoPE  # type: ignore[assignment]
    return RoPE(c.positional.config, c, max_seq_len=max_len)


def _apply(backend: str, rope, x: np.ndarray, offset: int) -> np.ndarray:
    if backend == "torch":
        import torch

        return rope.rotate(torch.from_numpy(x), offset).numpy()
    import mlx.core as mx

    return np.array(rope.rotate(mx.array(x), offset))


@needs_mlx
@pytest.mark.parametrize("layout, traditional", [("neox", False), ("interleaved", True)])
@pytest.mark.parametrize("backend", ["torch", "mlx"])
def test_rope_matches_mlx_nn_rope(backend: str, layout: str, traditional: bool) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    import mlx.core as mx
    import mlx.nn as nn

    x = np.random.default_rng(0).standard_normal((2, 3, 5, 16)).astype(np.float32)
    for offset in (0, 7):
        # our tables are built for 8 positions: offset 7 also exercises growing them
        ours = _apply(backend, _rope(backend, {"layout": layout, "theta": 500.0}), x, offset)
        ref = nn.RoPE(16, traditional=traditional, base=500.0)(mx.array(x), offset=offset)
        assert_close(ours, ref, **OP_TOL)
    # linear scaling == mlx's scale = 1/factor on positions
    ours = _apply(backend, _rope(backend, {"layout": layout, "scaling": "linear", "factor": 4.0}), x, 3)
    ref = nn.RoPE(16, traditional=traditional, scale=0.25)(mx.array(x), offset=3)
    assert_close(ours, ref, **OP_TOL)


@needs_torch
@pytest.mark.parametrize("params", [
    {"rope_type": "default", "rope_theta": 10000.0},
    {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0},
    {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 8.0, "original_max_position_embeddings": 64},
])
def test_rope_matches_hf_rotary(params: dict) -> None:
    import torch
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    hf_cfg = LlamaConfig(hidden_size=64, num_attention_heads=4, max_position_embeddings=512,
                         rope_parameters=params)
    rot = LlamaRotaryEmbedding(hf_cfg)
    q = torch.randn(1, 4, 10, 16)
    k = torch.randn(1, 4, 10, 16)
    offset = 300
    pos_ids = torch.arange(offset, offset + 10)[None]
    cos, sin = rot(q, pos_ids)
    q_ref, k_ref = apply_rotary_pos_emb(q, k, cos, sin)
    ours_cfg: dict = {"theta": params["rope_theta"]}
    if params["rope_type"] == "linear":
        ours_cfg.update(scaling="linear", factor=params["factor"])
    if params["rope_type"] == "yarn":
        ours_cfg.update(scaling="yarn", factor=params["factor"],
                        original_max_len=params["original_max_position_embeddings"])
    rope = _rope("torch", ours_cfg, head_dim=16, max_len=64)
    # HF derives YaRN's frequencies in fp32, we in fp64; at m ~ 300 an fp32 angle's ulp is
    # ~3e-5 rad, so the blended frequencies may differ by that much
    tol = OP_TOL if params["rope_type"] != "yarn" else dict(rtol=1e-4, atol=1e-4)
    assert_close(rope.rotate(q, offset), q_ref, **tol)
    assert_close(rope.rotate(k, offset), k_ref, **tol)


def test_rope_relative_property() -> None:
    """<R_m q, R_n k> depends only on m - n: the reason RoPE encodes relative position."""
    cfg = RoPEConfig()
    inv, _ = P.rope_inv_freq(8, cfg)
    cos, sin = P.rope_cos_sin(inv, 64)
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal(8), rng.standard_normal(8)

    def rot(x: np.ndarray, m: int) -> np.ndarray:  # neox layout in NumPy
        x1, x2 = x[:4], x[4:]
        return np.concatenate([x1 * cos[m] - x2 * sin[m], x2 * cos[m] + x1 * sin[m]])

    a = rot(q, 10) @ rot(k, 7)
    b = rot(q, 40) @ rot(k, 37)
    assert abs(a - b) < 1e-5


def test_ntk_keeps_highest_frequency_and_interpolates_lowest() -> None:
    base, _ = P.rope_inv_freq(16, RoPEConfig())
    ntk, _ = P.rope_inv_freq(16, RoPEConfig(scaling="ntk", factor=4.0))
    assert ntk[0] == pytest.approx(base[0])
    # base' = base * s^(d/(d-2)) makes the lowest frequency exactly base's / s
    lowest = 1.0 / (10000.0 * 4.0 ** (16 / 14)) ** (14 / 16)
    assert ntk[-1] == pytest.approx(lowest, rel=1e-5)
    assert ntk[-1] == pytest.approx(base[-1] / 4.0, rel=1e-5)


def test_alibi_slopes() -> None:
    assert_close(P.alibi_slopes(8), [2.0 ** -(i + 1) for i in range(8)], **OP_TOL)
    s6 = P.alibi_slopes(6)  # 4 from n=4 (2^-2, 2^-4, ...), then every other one of n=8
    assert_close(s6, [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3], **OP_TOL)


def test_sinusoidal_table() -> None:
    t = P.sinusoidal_table(50, 8)
    m, i = 17, 2
    assert t[m, 2 * i] == pytest.approx(np.sin(m / 10000 ** (2 * i / 8)), abs=1e-6)
    assert t[m, 2 * i + 1] == pytest.approx(np.cos(m / 10000 ** (2 * i / 8)), abs=1e-6)


@needs_both
@pytest.mark.parametrize("name", ["sinusoidal", "alibi"])
def test_tables_match_across_backends(name: str) -> None:
    import mlx.core as mx
    import torch

    from scratchlab.transformer.mlx import positional as MP
    from scratchlab.transformer.torch import positional as TP

    c = GPTConfig(d_model=16, n_heads=4, positional=name)
    cls = {"sinusoidal": "SinusoidalPositions", "alibi": "ALiBi"}[name]
    t = getattr(TP, cls)(c.positional.config, c, max_seq_len=4)
    m = getattr(MP, cls)(c.positional.config, c, max_seq_len=4)
    if name == "sinusoidal":
        x = np.zeros((1, 6, 16), np.float32)
        assert_close(t.embed(torch.from_numpy(x), 3), m.embed(mx.array(x), 3), **OP_TOL)
    else:
        assert_close(t.bias(3, 2, 5), m.bias(3, 2, 5), **OP_TOL)


@needs_both
def test_sinusoidal_table_starts_at_the_token_embeddings_scale() -> None:
    """Unscaled, the table (RMS 1/sqrt 2) would drown GPT-2-initialised embeddings (std 0.02)."""
    import torch

    from scratchlab.transformer.torch import positional as TP

    c = GPTConfig(d_model=64, n_heads=4, positional="sinusoidal")
    table = TP.SinusoidalPositions(c.positional.config, c, max_seq_len=256).table.numpy()
    assert np.sqrt(np.mean(table**2)) == pytest.approx(0.02, rel=1e-3)
    x = torch.zeros(1, 300, 64)  # past max_seq_len: the regrown table keeps the scale
    grown = TP.SinusoidalPositions(c.positional.config, c, max_seq_len=256).embed(x, 0)
    np.testing.assert_allclose(grown[0, :256].numpy(), table, atol=1e-7)
