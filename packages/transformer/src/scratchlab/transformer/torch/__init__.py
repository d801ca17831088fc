"""The transformer in PyTorch. Mirrors scratchlab.transformer.mlx file for file, name for name."""
