"""scratchlab-transformer: decoder-only language models, attention, positions, KV cache, generation and the lm task.

The torch and MLX implementations live in ``scratchlab.transformer.torch`` and
``scratchlab.transformer.mlx`` (imported on demand); ``from_hf`` / ``to_hf`` convert from and to
Hugging Face GPT-2 and Llama models.
"""

from scratchlab.transformer.hf import from_hf, to_hf

__all__ = ["from_hf", "to_hf"]
