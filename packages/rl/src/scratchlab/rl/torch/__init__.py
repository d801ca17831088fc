"""scratchlab-rl in PyTorch (mirrors scratchlab.rl.mlx file for file)."""
