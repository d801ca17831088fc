"""scratchlab-interp in PyTorch (mirrors scratchlab.interp.mlx file for file)."""
