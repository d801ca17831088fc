"""scratchlab-interp: hooks and activation caches, superposition, sparse autoencoders, induction heads."""
