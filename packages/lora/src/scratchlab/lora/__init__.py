"""scratchlab-lora: LoRA adapters: injection, merge, adapter-only checkpoints."""
