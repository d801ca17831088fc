"""The KV cache in PyTorch: keys and values preallocated per layer, filled in place.

Prefill writes the prompt's keys/values at positions 0..T-1; each decode step writes one more
at ``offset`` and attention reads ``[:offset+1]``. Memory: 2 * n_layers * B * n_kv_heads *
max_len * head_dim numbers (GQA divides it by n_heads / n_kv_heads).
"""

from __future__ import annotations

import torch

from scratchlab.core.errors import ScratchlabError


class LayerCache:
    def __init__(self, batch_size: int, n_kv_heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device) -> None:
        self.k = torch.zeros(batch_size, n_kv_heads, max_len, head_dim, dtype=dtype, device=device)
        self.v = torch.zeros_like(self.k)

    def update(self, k: torch.Tensor, v: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        T = k.shape[2]
        self.k[:, :, offset:offset + T] = k
        self.v[:, :, offset:offset + T] = v
        return self.k[:, :, :offset + T], self.v[:, :, :offset + T]


class KVCache:
    """Per-layer caches plus ``offset``: how many positions are filled (the next position)."""

    def __init__(self, n_layers: int, batch_size: int, n_kv_heads: int, max_len: int,
                 head_dim: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> None:
        self.max_len, self.offset = max_len, 0
        self.layers = [LayerCache(batch_size, n_kv_heads, max_len, head_dim, dtype,
                                  torch.device(device)) for _ in range(n_layers)]

    def check(self, T: int) -> None:
        if self.offset + T > self.max_len:
            raise ScratchlabError(f"the KV cache holds {self.max_len} positions; {self.offset} are "
                                  f"used and {T} more do not fit (make a larger cache).")

    def reset(self) -> None:
        self.offset = 0
