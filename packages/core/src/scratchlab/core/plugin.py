"""scratchlab-core's own plugin: backends, datasets, byte/char tokenizers, the classify task."""

from __future__ import annotations

from scratchlab.core import data
from scratchlab.core.backends import get_backend
from scratchlab.core.classify import ClassifyConfig
from scratchlab.core.hookspecs import hookimpl
from scratchlab.core.registry import Component, lazy


@hookimpl
def scratchlab_components() -> list[Component]:
    return [
        Component("backend", "torch", lambda: get_backend("torch"), backend="torch",
                  summary="PyTorch: cpu, cuda or mps"),
        Component("backend", "mlx", lambda: get_backend("mlx"), backend="mlx",
                  summary="Apple MLX: cpu, or gpu on Apple silicon"),
        Component("dataset", "default", data.default_dataset, data.DefaultDatasetConfig,
                  summary="Python's own docs and stdlib source; no download"),
        Component("dataset", "text", data.text_file_dataset, data.TextFileConfig,
                  summary="a plain text file, split 90/10"),
        Component("dataset", "hf", data.hf_dataset, data.HFDatasetConfig,
                  summary="a Hugging Face dataset (needs `datasets`)"),
        Component("tokenizer", "byte", data.byte_tokenizer, data.ByteTokenizerConfig,
                  summary="UTF-8 bytes, vocabulary 256"),
        Component("tokenizer", "char", data.char_tokenizer, data.CharTokenizerConfig,
                  summary="one token per character of the corpus"),
        Component("task", "classify", lazy("scratchlab.core.classify.torch:run"),
                  ClassifyConfig, backend="torch", summary="MLP on noisy spirals (quickstart)"),
        Component("task", "classify", lazy("scratchlab.core.classify.mlx:run"),
                  ClassifyConfig, backend="mlx", summary="MLP on noisy spirals (quickstart)"),
    ]
