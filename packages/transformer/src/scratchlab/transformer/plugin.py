"""scratchlab-transformer's plugin: the components it registers (both backends)."""

from __future__ import annotations

from scratchlab.core import Component, hookimpl, lazy
from scratchlab.transformer import config as C
from scratchlab.transformer.cli import scratchlab_commands  # noqa: F401  (`scratchlab generate`)
from scratchlab.transformer.lm.config import LMConfig

T, M = "scratchlab.transformer.torch", "scratchlab.transformer.mlx"


def _twins(kind: str, name: str, target: str, config: type, summary: str) -> list[Component]:
    """The torch and MLX components of one part: ``target`` is "module:attr" in both subpackages."""
    return [Component(kind, name, lazy(f"{pkg}.{target}"), config, backend=backend, summary=summary)
            for pkg, backend in ((T, "torch"), (M, "mlx"))]


MODEL_COMPONENTS = [
    *_twins("model", "gpt", "model:gpt", C.GPTConfig,
            "decoder-only transformer (GPT-2 / Llama family)"),
    *_twins("attention", "causal", "attention:CausalSelfAttention", C.AttentionConfig,
            "causal multi-head attention, GQA/MQA, sliding window, explicit or fused"),
    *_twins("positional", "learned", "positional:LearnedPositions", C.LearnedConfig,
            "learned absolute positions (GPT-2)"),
    *_twins("positional", "sinusoidal", "positional:SinusoidalPositions", C.SinusoidalConfig,
            "fixed sin/cos absolute positions"),
    *_twins("positional", "rope", "positional:RoPE", C.RoPEConfig,
            "rotary embedding; neox/interleaved; linear, NTK, YaRN scaling"),
    *_twins("positional", "alibi", "positional:ALiBi", C.ALiBiConfig,
            "linear distance bias on attention scores"),
    *_twins("positional", "none", "positional:NoPositions", C.NoPositionsConfig,
            "no positional information"),
    *_twins("norm", "layernorm", "norms:LayerNorm", C.NormConfig, "layer normalisation"),
    *_twins("norm", "rmsnorm", "norms:RMSNorm", C.NormConfig, "root-mean-square normalisation"),
    *_twins("ffn", "mlp", "ffn:MLP", C.MLPConfig, "GELU MLP, hidden 4d"),
    *_twins("ffn", "swiglu", "ffn:SwiGLU", C.SwiGLUConfig, "SwiGLU gated feed-forward (Llama)"),
    *_twins("ffn", "none", "ffn:NoFFN", C.NoFFNConfig, "no feed-forward (attention-only)"),
]

LM_COMPONENTS = [
    Component("task", "lm", lazy(f"scratchlab.transformer.lm.{backend}:run"), LMConfig,
              backend=backend, summary="train a language model: loss, bits per byte, params, "
              "tokens/s, sample")
    for backend in ("torch", "mlx")
]


@hookimpl
def scratchlab_components() -> list[Component]:
    return [*MODEL_COMPONENTS, *LM_COMPONENTS]
