"""scratchlab-rl in MLX (mirrors scratchlab.rl.torch file for file)."""
