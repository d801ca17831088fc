"""The MLX optimizers of scratchlab-optim. Mirrors scratchlab.optim.torch name for name."""
