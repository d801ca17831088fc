"""scratchlab-tokenizer: byte-level BPE: fast trainer, encoder, Hugging Face and tiktoken interop.

    from scratchlab.tokenizer import train_bpe, BPETokenizer
    tok = train_bpe(text, vocab_size=1024, pattern="gpt4", special_tokens=["<|endoftext|>"])
    ids = tok.encode("hello world"); tok.decode(ids); tok.save("tok.json")
"""

from scratchlab.tokenizer.formats import (
                                          export_hf,
                                          export_tiktoken,
                                          from_tiktoken,
                                          from_tiktoken_encoding,
                                          import_hf,
                                          to_tiktoken,
)
from scratchlab.tokenizer.patterns import GPT2_PATTERN, GPT4_PATTERN, PATTERNS
from scratchlab.tokenizer.tokenizer import BPETokenizer
from scratchlab.tokenizer.train import train_bpe, train_bpe_files

load = BPETokenizer.load

__all__ = [
                                          "GPT2_PATTERN",
                                          "GPT4_PATTERN",
                                          "PATTERNS",
                                          "BPETokenizer",
                                          "export_hf",
                                          "export_tiktoken",
                                          "from_tiktoken",
                                          "from_tiktoken_encoding",
                                          "import_hf",
                                          "load",
                                          "to_tiktoken",
                                          "train_bpe",
                                          "train_bpe_files",
]
