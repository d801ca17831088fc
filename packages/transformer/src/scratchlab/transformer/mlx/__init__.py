"""The transformer in MLX. Mirrors scratchlab.transformer.torch file for file, name for name."""
