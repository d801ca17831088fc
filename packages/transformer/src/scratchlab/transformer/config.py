"""Config dataclasses of the transformer, shared by the torch and MLX twins.

``GPTConfig`` is the config of the ``gpt`` model; its ``positional``, ``norm``, ``ffn`` and
``attention`` fields name other components (``positional: rope`` or
``positional: {name: rope, theta: 500000}``) and are resolved to :class:`Choice` objects holding
that component's own config, so the model builds each part through the registry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from scratchlab.core.config import Choice, choice, resolve_choice

# --- attention -------------------------------------------------------------------------------


@dataclass
class AttentionConfig:
    """``causal``: multi-head (GQA/MQA via GPTConfig.n_kv_heads) causal self-attention.

    ``fused`` picks the framework's fused kernel (torch SDPA / mx.fast SDPA); ``fused: false``
    runs the explicit path (scores, mask, softmax, weighted sum) that the ``hook_pattern`` hook
    sees. ``window`` limits each query to the last ``window`` keys (sliding window).
    """

    fused: bool = True
    window: int | None = None

    def __post_init__(self) -> None:
        if self.window is not None and self.window < 1:
            raise ValueError(f"attention window must be at least 1, got {self.window}")


# --- positions -------------------------------------------------------------------------------


@dataclass
class LearnedConfig:
    """``learned``: a trained embedding per absolute position (GPT-2), ``wpe.weight``."""


@dataclass
class SinusoidalConfig:
    """``sinusoidal``: fixed sin/cos table added to the token embeddings (Vaswani et al.).

    ``scale`` multiplies the table. Vaswani et al. multiply the embeddings by sqrt(d), so tokens
    (std about 1) meet the table (RMS 1/sqrt 2) on equal terms. Under GPT-2's embedding init
    (std 0.02) an unscaled table outweighs the tokens 35 to 1, and experiments/positional.yaml
    measured what that costs (val loss 2.77, worse than no positions at 2.24). The default gives
    the table an RMS of 0.02, where a learned table starts.
    """

    base: float = 10000.0
    scale: float = 0.02 * math.sqrt(2)


@dataclass
class RoPEConfig:
    """``rope``: rotary position embedding applied to queries and keys (Su et al.).

    ``layout``: ``neox`` rotates the first half of the head against the second half (GPT-NeoX,
    HF Llama, ``mlx.nn.RoPE(traditional=False)``); ``interleaved`` rotates pairs (0,1), (2,3), ...
    (the original paper, Meta's Llama, ``traditional=True``). ``scaling`` extends the context:
    ``linear`` (position interpolation), ``ntk`` (NTK-aware base change), ``yarn``; ``factor`` is
    the extension ratio and ``original_max_len`` the context the model was trained on.
    """

    theta: float = 10000.0
    layout: Literal["neox", "interleaved"] = "neox"
    scaling: Literal["none", "linear", "ntk", "yarn"] = "none"
    factor: float = 1.0
    original_max_len: int | None = None
    beta_fast: float = 32.0  # YaRN: dimensions with more than beta_fast turns are not interpolated
    beta_slow: float = 1.0  # YaRN: dimensions with fewer than beta_slow turns are fully interpolated

    def __post_init__(self) -> None:
        if not self.theta > 0:
            raise ValueError(f"rope theta must be positive, got {self.theta}")
        if not self.factor >= 1.0:
            raise ValueError(f"rope scaling factor must be at least 1, got {self.factor}")
        if self.scaling == "yarn" and self.original_max_len is None:
            raise ValueError("rope scaling 'yarn' needs original_max_len (the trained context)")


@dataclass
class ALiBiConfig:
    """``alibi``: no embedding; a per-head linear penalty on distance added to the scores."""


@dataclass
class NoPositionsConfig:
    """``none``: no positional information (the causal mask alone leaks some)."""


# --- norms and feed-forward ------------------------------------------------------------------


@dataclass
class NormConfig:
    """``layernorm`` / ``rmsnorm``; the bias of LayerNorm follows GPTConfig.bias."""

    eps: float = 1e-5

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise ValueError(f"norm eps must be positive, got {self.eps}")


@dataclass
class MLPConfig:
    """``mlp``: Linear(d, hidden) -> activation -> Linear(hidden, d); hidden defaults to 4d.

    ``gelu_tanh`` is GPT-2's tanh approximation (HF ``gelu_new``)."""

    hidden: int | None = None
    activation: Literal["gelu", "gelu_tanh", "relu"] = "gelu"

    def __post_init__(self) -> None:
        if self.hidden is not None and self.hidden < 1:
            raise ValueError(f"ffn hidden must be positive, got {self.hidden}")


@dataclass
class SwiGLUConfig:
    """``swiglu``: down(silu(gate(x)) * up(x)) (Shazeer 2020, Llama).

    hidden defaults to 8d/3 rounded up to a multiple of ``multiple_of`` (same parameter count
    as a 4d GELU MLP)."""

    hidden: int | None = None
    multiple_of: int = 64

    def __post_init__(self) -> None:
        if self.hidden is not None and self.hidden < 1:
            raise ValueError(f"ffn hidden must be positive, got {self.hidden}")
        if self.multiple_of < 1:
            raise ValueError(f"multiple_of must be positive, got {self.multiple_of}")

    def hidden_size(self, d_model: int) -> int:
        if self.hidden is not None:
            return self.hidden
        h = int(8 * d_model / 3)
        return -(-h // self.multiple_of) * self.multiple_of


@dataclass
class NoFFNConfig:
    """``none``: no feed-forward sublayer (attention-only models, e.g. induction-head studies)."""


# --- the model -------------------------------------------------------------------------------


@dataclass
class GPTConfig:
    """``gpt``: a decoder-only, pre-norm transformer (GPT-2 / Llama family).

    ``n_kv_heads`` < ``n_heads`` gives grouped-query attention (1: multi-query). ``dropout``
    applies to the embeddings, the attention weights and both residual branches. ``bias``
    toggles the biases of every Linear and LayerNorm. ``tie_weights`` shares ``wte`` with the
    output layer. ``init: gpt2`` draws weights from N(0, 0.02) and scales the residual
    projections (attn.o, mlp.proj / mlp.down) by 1/sqrt(2 n_layers).
    """

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None
    positional: Any = choice("positional", "learned")
    norm: Any = choice("norm", "layernorm")
    ffn: Any = choice("ffn", "mlp")
    attention: Any = choice("attention", "causal")
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    init: Literal["gpt2"] = "gpt2"

    def __post_init__(self) -> None:
        for name, value in (("d_model", self.d_model), ("n_layers", self.n_layers),
                            ("n_heads", self.n_heads)):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads "
                             f"({self.n_heads})")
        if self.n_kv_heads is not None and (self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads):
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads "
                             f"({self.n_kv_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        # a field may hold a name, a mapping or a Choice; resolve them all once, here
        self.positional = resolve_choice("positional", self.positional, "positional")
        self.norm = resolve_choice("norm", self.norm, "norm")
        self.ffn = resolve_choice("ffn", self.ffn, "ffn")
        self.attention = resolve_choice("attention", self.attention, "attention")
        if self.positional is not None and self.positional.name == "rope" and self.head_dim % 2:
            raise ValueError(f"rope needs an even head dimension, got {self.head_dim} "
                             f"(d_model {self.d_model} / n_heads {self.n_heads})")
        if self.positional is not None and self.positional.name == "sinusoidal" \
                and self.d_model % 2:
            raise ValueError(f"sinusoidal positions need an even d_model, got {self.d_model}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads


def choice_config(value: Choice | None, default: type) -> Any:
    """The settings held by a resolved Choice (or the defaults of ``default``)."""
    if value is None or value.config is None:
        return default()
    return value.config
