"""LoRA in MLX. Mirrors scratchlab.lora.torch file for file."""
