"""Positional maths in NumPy, shared by both backends (derivations in docs/positional.md).

Everything here is a small table computed once (and grown on demand): the RoPE inverse
frequencies with their context-extension variants, the cos/sin of the rotation angles, the
ALiBi slopes and the sinusoidal embedding table. The torch and MLX modules only apply them.
"""

from __future__ import annotations

import math

import numpy as np

from scratchlab.transformer.config import RoPEConfig


def rope_inv_freq(head_dim: int, cfg: RoPEConfig) -> tuple[np.ndarray, float]:
    """Inverse frequencies theta_i = base^(-2i/d), i < d/2, and the attention (cos/sin) scale.

    - ``none``:   theta_i = base^(-2i/d)
    - ``linear``: position interpolation, theta_i / factor (positions squeezed into the trained range)
    - ``ntk``:    NTK-aware: base' = base * factor^(d/(d-2)); high frequencies stay, the lowest
                  is interpolated by exactly ``factor``
    - ``yarn``:   per dimension, blend interpolation and extrapolation by how many turns the
                  dimension makes over the original context (ramp between beta_slow and
                  beta_fast turns), and scale cos/sin by 0.1 ln(factor) + 1 (matches HF).
    """
    d = head_dim
    exponents = np.arange(0, d, 2, dtype=np.float64) / d
    base = float(cfg.theta)
    if cfg.scaling == "ntk":
        base = base * cfg.factor ** (d / (d - 2)) if d > 2 else base
    inv_freq = 1.0 / base ** exponents
    scale = 1.0
    if cfg.scaling == "linear":
        inv_freq = inv_freq / cfg.factor
    elif cfg.scaling == "yarn":
        inv_freq, scale = _yarn(d, base, cfg)
    return inv_freq.astype(np.float32), scale


def _yarn(d: int, base: float, cfg: RoPEConfig) -> tuple[np.ndarray, float]:
    assert cfg.original_max_len is not None
    original: int = cfg.original_max_len
    pos_freqs = base ** (np.arange(0, d, 2, dtype=np.float64) / d)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (cfg.factor * pos_freqs)

    def correction_dim(turns: float) -> float:
        # the dimension index whose wavelength fits ``turns`` times into the original context
        return d * math.log(original / (turns * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(correction_dim(cfg.beta_fast)), 0)
    high: float = min(math.ceil(correction_dim(cfg.beta_slow)), d - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(d // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    keep = 1.0 - ramp  # 1: extrapolate (fast dims), 0: interpolate (slow dims)
    inv_freq = interpolation * (1 - keep) + extrapolation * keep
    scale = 0.1 * math.log(cfg.factor) + 1.0 if cfg.factor > 1 else 1.0
    return inv_freq, scale


def rope_cos_sin(inv_freq: np.ndarray, length: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of the angles m * theta_i for positions m < length: two (length, d/2) arrays."""
    angles = np.outer(np.arange(length, dtype=np.float32), inv_freq.astype(np.float32))
    return (np.cos(angles) * scale).astype(np.float32), (np.sin(angles) * scale).astype(np.float32)


def alibi_slopes(n_heads: int) -> np.ndarray:
    """Head slopes of ALiBi: the geometric sequence 2^(-8/n), 2^(-16/n), ... for n a power of
    two; otherwise the closest power of two's slopes plus every other slope of the next one
    (Press et al., as in their reference code)."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        slopes = power_of_two(n_heads)
    else:
        closest = 2 ** math.floor(math.log2(n_heads))
        slopes = power_of_two(closest) + power_of_two(2 * closest)[0::2][: n_heads - closest]
    return np.asarray(slopes, dtype=np.float32)


def alibi_bias(slopes: np.ndarray, q_pos: np.ndarray, k_pos: np.ndarray) -> np.ndarray:
    """(H, Tq, Tk) bias -slope_h * (i - j); positive distances only matter under the causal mask."""
    dist = (q_pos[:, None] - k_pos[None, :]).astype(np.float32)
    return -slopes[:, None, None] * dist[None]


def sinusoidal_table(length: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """PE[m, 2i] = sin(m / base^(2i/d)), PE[m, 2i+1] = cos(m / base^(2i/d)): (length, d)."""
    inv = 1.0 / base ** (np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    angles = np.outer(np.arange(length, dtype=np.float64), inv)
    table = np.zeros((length, d_model), dtype=np.float64)
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
    return table.astype(np.float32)


def grow(length: int, have: int) -> int:
    """Tables grow in powers of two so that long evaluations do not rebuild them every call."""
    return max(length, 2 ** math.ceil(math.log2(max(length, 1))), have)
