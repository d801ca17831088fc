"""The settings of the ``lm`` task (framework-free): data, model, optimizer, schedule, training,
evaluation, and the three ways to start from existing weights (``init_from``, ``pretrain``,
``adapter``). A spec's top-level keys are the fields of :class:`LMConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from scratchlab.core.config import choice


@dataclass
class DataConfig:
    """Which text, how it becomes tokens, and how long a training window is."""

    dataset: Any = choice("dataset", "default")
    tokenizer: Any = choice("tokenizer", "byte")
    block_size: int = 128  # tokens of context the model is trained on

    def __post_init__(self) -> None:
        if self.block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {self.block_size}")


@dataclass
class TrainConfig:
    steps: int = 500
    batch_size: int = 32
    eval_every: int = 100  # evaluate (and log) every this many steps, and at the last one
    eval_batches: int = 20  # validation batches per evaluation (deterministic windows)
    clip_norm: float | None = 1.0
    checkpoint_every: int = 100
    dtype: Literal["float32", "bfloat16"] = "float32"  # bfloat16: torch autocast (torch only)
    compile: bool = False  # torch.compile the forward pass / mx.compile the whole step

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.eval_batches < 1:
            raise ValueError(f"eval_batches must be at least 1, got {self.eval_batches}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be positive or null, got {self.clip_norm}")


@dataclass
class EvalConfig:
    """Extra evaluation at the end: validation loss at other context lengths (e.g. twice the
    training context, to measure length extrapolation), and a text sample."""

    lengths: list[int] = field(default_factory=list)
    sample_tokens: int = 200  # tokens generated into sample.txt (0: no sample)
    sample_prompt: str | None = None  # default: the first 32 characters of the val split
    temperature: float = 0.8
    top_k: int | None = 50

    def __post_init__(self) -> None:
        bad = [n for n in self.lengths if n < 1]
        if bad:
            raise ValueError(f"eval lengths must be positive, got {bad[0]}")
        if self.sample_tokens < 0:
            raise ValueError(f"sample_tokens must be >= 0, got {self.sample_tokens}")


@dataclass
class PretrainConfig:
    """A first stage, trained from scratch on another dataset before the run's own training.

    Its weights are cached under ``<results>/<spec>/pretrain/<hash>/``, the hash covering the
    model, this block, the tokenizer, the block size, the dtype, the seed and the backend (not
    the run's own optimizer or steps), so every variant sharing them trains it once. The
    tokenizer is fitted on the pretraining corpus (the base model's vocabulary) and reused for
    fine-tuning. Evaluation and checkpoint intervals follow ``train``.
    """

    dataset: Any = choice("dataset", "default")
    steps: int = 500
    batch_size: int = 32
    optimizer: Any = choice("optimizer", {"name": "adamw", "lr": 3e-3, "weight_decay": 0.1})
    schedule: Any = choice("schedule", {"name": "cosine", "warmup": 50})
    clip_norm: float | None = 1.0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"pretrain steps must be at least 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"pretrain batch_size must be at least 1, got {self.batch_size}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"pretrain clip_norm must be positive or null, got {self.clip_norm}")


@dataclass
class LMConfig:
    """Train a decoder-only language model and report loss, bits per byte and speed.

    Starting points, applied in this order: the model is built from ``model``; ``pretrain``
    (a cached first stage) or ``init_from`` (a run folder or checkpoint file) loads weights
    into it; ``adapter`` (e.g. LoRA) then wraps it and freezes the base.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: Any = choice("model", "gpt")
    optimizer: Any = choice("optimizer", {"name": "adamw", "lr": 3e-3, "weight_decay": 0.1})
    schedule: Any = choice("schedule", {"name": "cosine", "warmup": 50})
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    init_from: str | None = None
    pretrain: PretrainConfig | None = None
    adapter: Any = choice("adapter", None)

    def __post_init__(self) -> None:
        if self.init_from is not None and self.pretrain is not None:
            raise ValueError("init_from and pretrain both give the starting weights; set only "
                             "one of them")
        if self.init_from == "":
            raise ValueError("init_from is empty; give a run folder or a checkpoint file")

    @property
    def max_seq_len(self) -> int:
        """The longest sequence the model must accept: training and every eval length."""
        return max([self.data.block_size, *self.eval.lengths])
