"""scratchlab-interp in MLX (mirrors scratchlab.interp.torch file for file)."""
