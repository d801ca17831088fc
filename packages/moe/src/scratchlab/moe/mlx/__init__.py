"""The MLX implementation of scratchlab-moe (mirrors scratchlab.moe.torch file for file)."""
