"""LoRA in PyTorch. Mirrors scratchlab.lora.mlx file for file."""
