"""The PyTorch optimizers of scratchlab-optim. Mirrors scratchlab.optim.mlx name for name."""
