"""scratchlab-tokenizer: byte-level BPE: fast trainer, encoder, Hugging Face and tiktoken interop."""
