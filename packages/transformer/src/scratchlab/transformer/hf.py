"""Hugging Face interop: ``from_hf`` builds our GPT from a transformers GPT-2 or Llama model,
``to_hf`` goes back. Weights travel as NumPy arrays under our parameter names, so either
backend works on our side.

GPT-2 stores its projections as Conv1D (in, out) with q, k, v fused in ``c_attn``: we transpose
and split. Llama's q/k weights already use the half-split ("neox") RoPE layout that HF applies
with ``rotate_half``, which is our default layout: no permutation is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchlab.core.errors import ScratchlabError
from scratchlab.transformer.config import GPTConfig

HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu",
                  "relu": "relu"}


def _backend(name: str) -> Any:
    if name not in ("torch", "mlx"):
        raise ScratchlabError(f"unknown backend '{name}'; use 'torch' or 'mlx'.")
    from scratchlab.core.backends import get_backend

    return get_backend(name)


def _model_class(backend: str) -> Any:
    if backend == "torch":
        from scratchlab.transformer.torch.model import GPT
    else:
        from scratchlab.transformer.mlx.model import GPT  # type: ignore[assignment]
    return GPT


def _numpy_state(hf_model: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().float().numpy() for k, v in hf_model.state_dict().items()}


# --- HF -> ours ------------------------------------------------------------------------------

def from_hf(hf_model: Any, backend: str = "torch") -> Any:
    """Our GPT (torch or MLX) with the architecture and weights of a transformers
    ``GPT2LMHeadModel`` or ``LlamaForCausalLM`` (GQA included)."""
    model_type = getattr(hf_model.config, "model_type", None)
    if model_type == "gpt2":
        config, vocab, max_len, weights = _from_gpt2(hf_model)
    elif model_type == "llama":
        config, vocab, max_len, weights = _from_llama(hf_model)
    else:
        raise ScratchlabError(f"from_hf supports GPT-2 and Llama models, got model_type "
                              f"'{model_type}'.")
    model = _model_class(backend)(config, vocab, max_len)
    _backend(backend).load_state_dict(model, weights)
    model.eval()
    return model


def _from_gpt2(hf_model: Any) -> tuple[GPTConfig, int, int, dict[str, np.ndarray]]:
    c = hf_model.config
    act = HF_ACTIVATIONS.get(c.activation_function)
    if act is None:
        raise ScratchlabError(f"GPT-2 activation '{c.activation_function}' is not supported.")
    if getattr(c, "scale_attn_by_inverse_layer_idx", False) or not getattr(c, "scale_attn_weights", True):
        raise ScratchlabError("GPT-2 variants with non-standard attention scaling are not supported.")
    tied = bool(getattr(c, "tie_word_embeddings", True))
    config = GPTConfig(d_model=c.n_embd, n_layers=c.n_layer, n_heads=c.n_head,
                       positional="learned", norm={"name": "layernorm", "eps": c.layer_norm_epsilon},
                       ffn={"name": "mlp", "hidden": c.n_inner or 4 * c.n_embd, "activation": act},
                       attention={"name": "causal"}, dropout=0.0, bias=True, tie_weights=tied)
    sd = _numpy_state(hf_model)
    d = c.n_embd
    out = {"wte.weight": sd["transformer.wte.weight"], "wpe.weight": sd["transformer.wpe.weight"],
           "ln_f.weight": sd["transformer.ln_f.weight"], "ln_f.bias": sd["transformer.ln_f.bias"]}
    for i in range(c.n_layer):
        h, b = f"transformer.h.{i}.", f"blocks.{i}."
        for ln in ("ln_1", "ln_2"):
            out[b + ln + ".weight"], out[b + ln + ".bias"] = sd[h + ln + ".weight"], sd[h + ln + ".bias"]
        w, bias = sd[h + "attn.c_attn.weight"], sd[h + "attn.c_attn.bias"]  # Conv1D: (in, 3d)
        for j, name in enumerate("qkv"):
            out[b + f"attn.{name}.weight"] = w[:, j * d:(j + 1) * d].T.copy()
            out[b + f"attn.{name}.bias"] = bias[j * d:(j + 1) * d].copy()
        for hf_name, ours in (("attn.c_proj", "attn.o"), ("mlp.c_fc", "mlp.fc"), ("mlp.c_proj", "mlp.proj")):
            out[b + ours + ".weight"] = sd[h + hf_name + ".weight"].T.copy()
            out[b + ours + ".bias"] = sd[h + hf_name + ".bias"]
    if not tied:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return config, c.vocab_size, c.n_positions, out


def _rope_from_hf(c: Any) -> dict[str, Any]:
    params = dict(getattr(c, "rope_parameters", None) or getattr(c, "rope_scaling", None) or {})
    theta = params.get("rope_theta", getattr(c, "rope_theta", 10000.0))
    rope: dict[str, Any] = {"name": "rope", "theta": float(theta), "layout": "neox"}
    kind = params.get("rope_type", params.get("type", "default"))
    if kind == "linear":
        rope.update(scaling="linear", factor=float(params["factor"]))
    elif kind == "yarn":
        if params.get("attention_factor") is not None or params.get("mscale") or \
                params.get("truncate") is False:
            raise ScratchlabError("YaRN with attention_factor, mscale or truncate=false is not "
                                  "supported.")
        rope.update(scaling="yarn", factor=float(params["factor"]),
                    original_max_len=int(params.get("original_max_position_embeddings")
                                         or c.max_position_embeddings),
                    beta_fast=float(params.get("beta_fast") or 32),
                    beta_slow=float(params.get("beta_slow") or 1))
    elif kind != "default":
        raise ScratchlabError(f"RoPE scaling '{kind}' is not supported (use default, linear or "
                              "yarn).")
    return rope


def _from_llama(hf_model: Any) -> tuple[GPTConfig, int, int, dict[str, np.ndarray]]:
    c = hf_model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    if head_dim * c.num_attention_heads != c.hidden_size:
        raise ScratchlabError("Llama models whose head_dim * n_heads != hidden_size are not "
                              "supported.")
    if c.hidden_act != "silu":
        raise ScratchlabError(f"Llama activation '{c.hidden_act}' is not supported (silu only).")
    if bool(getattr(c, "attention_bias", False)) != bool(getattr(c, "mlp_bias", False)):
        raise ScratchlabError("Llama models with attention_bias != mlp_bias are not supported.")
    bias = bool(getattr(c, "attention_bias", False))
    tied = bool(getattr(c, "tie_word_embeddings", False))
    config = GPTConfig(d_model=c.hidden_size, n_layers=c.num_hidden_layers,
                       n_heads=c.num_attention_heads, n_kv_heads=c.num_key_value_heads,
                       positional=_rope_from_hf(c), norm={"name": "rmsnorm", "eps": c.rms_norm_eps},
                       ffn={"name": "swiglu", "hidden": c.intermediate_size},
                       attention={"name": "causal"}, dropout=0.0, bias=bias, tie_weights=tied)
    sd = _numpy_state(hf_model)
    out = {"wte.weight": sd["model.embed_tokens.weight"], "ln_f.weight": sd["model.norm.weight"]}
    for i in range(c.num_hidden_layers):
        h, b = f"model.layers.{i}.", f"blocks.{i}."
        out[b + "ln_1.weight"] = sd[h + "input_layernorm.weight"]
        out[b + "ln_2.weight"] = sd[h + "post_attention_layernorm.weight"]
        names = [("self_attn.q_proj", "attn.q"), ("self_attn.k_proj", "attn.k"),
                 ("self_attn.v_proj", "attn.v"), ("self_attn.o_proj", "attn.o"),
                 ("mlp.gate_proj", "mlp.gate"), ("mlp.up_proj", "mlp.up"),
                 ("mlp.down_proj", "mlp.down")]
        for hf_name, ours in names:
            out[b + ours + ".weight"] = sd[h + hf_name + ".weight"]
            if bias:
                out[b + ours + ".bias"] = sd[h + hf_name + ".bias"]
    if not tied:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return config, c.vocab_size, c.max_position_embeddings, out


# --- ours -> HF ------------------------------------------------------------------------------

def _our_state(model: Any) -> dict[str, np.ndarray]:
    backend = "torch" if type(model).__module__.startswith("scratchlab.transformer.torch") else "mlx"
    return _backend(backend).state_dict(model)


def to_hf(model: Any) -> Any:
    """A transformers model with the same weights: ``GPT2LMHeadModel`` for learned positions +
    LayerNorm + GELU MLP with biases, ``LlamaForCausalLM`` for RoPE + RMSNorm + SwiGLU."""
    c: GPTConfig = model.config
    pos, norm, ffn = c.positional.name, c.norm.name, c.ffn.name
    if c.attention.config.window is not None:
        raise ScratchlabError("to_hf: sliding-window attention has no GPT-2/Llama equivalent.")
    if (pos, norm, ffn) == ("learned", "layernorm", "mlp") and c.bias:
        return _to_gpt2(model)
    if (pos, norm, ffn) == ("rope", "rmsnorm", "swiglu"):
        return _to_llama(model)
    raise ScratchlabError(
        f"to_hf maps learned+layernorm+mlp (with bias) to GPT-2 and rope+rmsnorm+swiglu to "
        f"Llama; this model has {pos}+{norm}+{ffn}.")


def _load(hf_model: Any, sd: dict[str, np.ndarray]) -> Any:
    import torch

    own = hf_model.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("lm_head.weight")]
    if missing:
        raise ScratchlabError(f"to_hf: no weights for {missing[:3]}.")
    hf_model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()},
                             strict=False)
    if getattr(hf_model.config, "tie_word_embeddings", False):
        hf_model.tie_weights()
    return hf_model.eval()


def _to_gpt2(model: Any) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    c: GPTConfig = model.config
    act = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}[c.ffn.config.activation]
    hidden = c.ffn.config.hidden or 4 * c.d_model
    if c.n_kv_heads not in (None, c.n_heads):
        raise ScratchlabError("to_hf: GPT-2 has no grouped-query attention (n_kv_heads).")
    hf_config = GPT2Config(vocab_size=model.vocab_size, n_positions=model.max_seq_len,
                           n_embd=c.d_model, n_layer=c.n_layers, n_head=c.n_heads, n_inner=hidden,
                           activation_function=act, layer_norm_epsilon=c.norm.config.eps,
                           resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                           tie_word_embeddings=c.tie_weights, bos_token_id=None, eos_token_id=None)
    hf = GPT2LMHeadModel(hf_config)
    ours = _our_state(model)
    sd = {"transformer.wte.weight": ours["wte.weight"], "transformer.wpe.weight": ours["wpe.weight"],
          "transformer.ln_f.weight": ours["ln_f.weight"], "transformer.ln_f.bias": ours["ln_f.bias"]}
    for i in range(c.n_layers):
        h, b = f"transformer.h.{i}.", f"blocks.{i}."
        for ln in ("ln_1", "ln_2"):
            sd[h + ln + ".weight"], sd[h + ln + ".bias"] = ours[b + ln + ".weight"], ours[b + ln + ".bias"]
        sd[h + "attn.c_attn.weight"] = np.concatenate([ours[b + f"attn.{n}.weight"] for n in "qkv"], 0).T
        sd[h + "attn.c_attn.bias"] = np.concatenate([ours[b + f"attn.{n}.bias"] for n in "qkv"])
        for hf_name, name in (("attn.c_proj", "attn.o"), ("mlp.c_fc", "mlp.fc"), ("mlp.c_proj", "mlp.proj")):
            sd[h + hf_name + ".weight"] = ours[b + name + ".weight"].T
            sd[h + hf_name + ".bias"] = ours[b + name + ".bias"]
    sd["lm_head.weight"] = ours["wte.weight"] if c.tie_weights else ours["lm_head.weight"]
    return _load(hf, sd)


def _to_llama(model: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    c: GPTConfig = model.config
    rope = c.positional.config
    if rope.layout != "neox":
        raise ScratchlabError("to_hf: HF Llama uses the neox RoPE layout, this model is interleaved.")
    params: dict[str, Any] = {"rope_type": "default", "rope_theta": rope.theta}
    if rope.scaling == "linear":
        params = {"rope_type": "linear", "rope_theta": rope.theta, "factor": rope.factor}
    elif rope.scaling == "yarn":
        params = {"rope_type": "yarn", "rope_theta": rope.theta, "factor": rope.factor,
                  "original_max_position_embeddings": rope.original_max_len,
                  "beta_fast": rope.beta_fast, "beta_slow": rope.beta_slow}
    elif rope.scaling != "none":
        raise ScratchlabError(f"to_hf: RoPE scaling '{rope.scaling}' has no HF Llama equivalent.")
    hf_config = LlamaConfig(vocab_size=model.vocab_size, hidden_size=c.d_model,
                            intermediate_size=c.ffn.config.hidden_size(c.d_model),
                            num_hidden_layers=c.n_layers, num_attention_heads=c.n_heads,
                            num_key_value_heads=c.kv_heads, max_position_embeddings=model.max_seq_len,
                            rms_norm_eps=c.norm.config.eps, rope_parameters=params,
                            attention_bias=c.bias, mlp_bias=c.bias, tie_word_embeddings=c.tie_weights,
                            bos_token_id=None, eos_token_id=None, pad_token_id=None)
    hf = LlamaForCausalLM(hf_config)
    ours = _our_state(model)
    sd = {"model.embed_tokens.weight": ours["wte.weight"], "model.norm.weight": ours["ln_f.weight"]}
    for i in range(c.n_layers):
        h, b = f"model.layers.{i}.", f"blocks.{i}."
        sd[h + "input_layernorm.weight"] = ours[b + "ln_1.weight"]
        sd[h + "post_attention_layernorm.weight"] = ours[b + "ln_2.weight"]
        for hf_name, name in (("self_attn.q_proj", "attn.q"), ("self_attn.k_proj", "attn.k"),
                              ("self_attn.v_proj", "attn.v"), ("self_attn.o_proj", "attn.o"),
                              ("mlp.gate_proj", "mlp.gate"), ("mlp.up_proj", "mlp.up"),
                              ("mlp.down_proj", "mlp.down")):
            sd[h + hf_name + ".weight"] = ours[b + name + ".weight"]
            if c.bias:
                sd[h + hf_name + ".bias"] = ours[b + name + ".bias"]
    sd["lm_head.weight"] = ours["wte.weight"] if c.tie_weights else ours["lm_head.weight"]
    return _load(hf, sd)
