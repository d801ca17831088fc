"""scratchlab-transformer: decoder-only language models, attention, positions, KV cache, generation and the lm task."""
