"""scratchlab-lora: LoRA adapters: injection, merge, adapter-only checkpoints.

The framework-free parts live here; ``scratchlab.lora.torch.adapter`` and
``scratchlab.lora.mlx.adapter`` hold ``apply_lora`` (the ``adapter`` component ``lora``),
``merge``/``unmerge``/``unload`` and ``save_adapter``/``load_adapter``.
"""

from scratchlab.lora.adapter import LoRAReport, fingerprint
from scratchlab.lora.config import LoRAConfig, lora_param_count, lora_scale

__all__ = ["LoRAConfig", "LoRAReport", "fingerprint", "lora_param_count", "lora_scale"]
