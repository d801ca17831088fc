"""The PyTorch implementation of scratchlab-moe (mirrors scratchlab.moe.mlx file for file)."""
