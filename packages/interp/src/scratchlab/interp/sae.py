"""Sparse autoencoders, the framework-free half: configs, initialisation, the geometric median,
toy activations with known ground-truth features, and the evaluation metrics.

An SAE writes an activation x (d_in) as a sparse, non-negative combination of d_sae learned
directions: f = act(W_enc^T (x - b_dec) + b_enc), x_hat = W_dec^T f + b_dec. ``relu`` makes f
sparse with an L1 penalty weighted by each decoder row's norm (Anthropic, April 2024 update);
``topk`` keeps the k largest pre-activations (Gao et al. 2024) and revives dead latents with the
auxiliary-k loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from scratchlab.core.config import choice


@dataclass
class ReLUSAEConfig:
    d_sae: int = 256
    l1_coeff: float = 1e-2  # on sum_i f_i ||W_dec_i||, against the summed squared error
    normalize_decoder: bool = False  # unit-norm rows (then the L1 weight is plain L1)
    dec_init_norm: float = 0.1  # Anthropic's update: decoder rows start at norm 0.1

    def __post_init__(self) -> None:
        if self.d_sae < 1:
            raise ValueError(f"d_sae must be positive, got {self.d_sae}")
        if self.l1_coeff < 0:
            raise ValueError(f"l1_coeff must be non-negative, got {self.l1_coeff}")


@dataclass
class TopKSAEConfig:
    d_sae: int = 256
    k: int = 4
    aux_k: int = 32  # dead latents the auxiliary loss may use per sample
    aux_coeff: float = 1 / 32  # Gao et al.'s alpha
    dead_steps: int = 100  # a latent silent for this many training steps counts as dead
    normalize_decoder: bool = True  # unit-norm rows, gradient projected onto the tangent space
    dec_init_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.d_sae < 1:
            raise ValueError(f"d_sae must be positive, got {self.d_sae}")
        if not 1 <= self.k <= self.d_sae:
            raise ValueError(f"k must lie in [1, d_sae={self.d_sae}], got {self.k}")
        if self.aux_k < 0 or self.dead_steps < 1:
            raise ValueError("aux_k must be non-negative and dead_steps positive")


def init_sae(d_in: int, d_sae: int, dec_init_norm: float, seed: int) -> dict[str, np.ndarray]:
    """Decoder rows in random directions at norm ``dec_init_norm``, encoder = decoder
    transposed (both Anthropic and OpenAI do this), zero biases. NumPy, so both backends agree."""
    rng = np.random.default_rng(seed)
    W_dec = rng.standard_normal((d_sae, d_in)).astype(np.float32)
    W_dec *= dec_init_norm / np.linalg.norm(W_dec, axis=1, keepdims=True)
    return {"W_enc": np.ascontiguousarray(W_dec.T), "b_enc": np.zeros(d_sae, np.float32),
            "W_dec": W_dec, "b_dec": np.zeros(d_in, np.float32)}


def geometric_median(X: np.ndarray, max_iter: int = 100, tol: float = 1e-6) -> np.ndarray:
    """argmin_y sum_n ||x_n - y|| by Weiszfeld's iteration: y <- sum w_n x_n / sum w_n with
    w_n = 1 / ||x_n - y||. A robust centre for b_dec (Bricken et al. 2023)."""
    X = np.asarray(X, dtype=np.float64)
    y = X.mean(0)
    for _ in range(max_iter):
        dist = np.asarray(np.linalg.norm(X - y, axis=1), dtype=np.float64)
        w = 1.0 / np.maximum(dist, 1e-8)
        y_new = (w[:, None] * X).sum(0) / w.sum()
        if float(np.linalg.norm(y_new - y)) <= tol * max(1.0, float(np.linalg.norm(y))):
            return y_new.astype(np.float32)
        y = y_new
    return y.astype(np.float32)


# --- toy activations ----------------------------------------------------------------------

@dataclass
class ToyActivationsConfig:
    """x = sum_i c_i g_i over ground-truth unit directions g_i; each c_i ~ U[0, 1] is present
    with probability avg_active / n_features (about avg_active features at once)."""

    d_in: int = 64
    n_features: int = 128
    avg_active: float = 3.0
    data_seed: int = 0  # the ground-truth directions stay fixed across run seeds

    def __post_init__(self) -> None:
        if self.d_in < 1 or self.n_features < 1:
            raise ValueError("d_in and n_features must be positive")
        if not 0 < self.avg_active <= self.n_features:
            raise ValueError(f"avg_active must lie in (0, n_features], got {self.avg_active}")


class ToyActivations:
    def __init__(self, cfg: ToyActivationsConfig) -> None:
        self.cfg = cfg
        g = np.random.default_rng(cfg.data_seed).standard_normal((cfg.n_features, cfg.d_in))
        self.features = (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float32)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        c = self.cfg
        present = rng.random((n, c.n_features)) < c.avg_active / c.n_features
        coeff = rng.random((n, c.n_features)).astype(np.float32) * present
        return coeff @ self.features


class ToySource:
    """The ``sae`` task's data when ``source: toy``: fresh samples every step, a fixed
    evaluation set, and the ground truth that MMCS is measured against."""

    def __init__(self, cfg: ToyActivationsConfig) -> None:
        self.cfg = cfg
        self.toy = ToyActivations(cfg)
        self.ground_truth = self.toy.features

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.toy.sample(n, rng)

    def eval_set(self, n: int) -> np.ndarray:
        return self.toy.sample(n, np.random.default_rng(self.cfg.data_seed + 1))

    def finish(self, sae: Any, ctx: Any) -> dict[str, float]:
        return {}


def init_b_dec(how: str, x: np.ndarray) -> np.ndarray:
    """Where the decoder bias starts: the geometric median of a sample (default), its mean,
    or zero."""
    if how == "geometric_median":
        return geometric_median(x)
    if how == "mean":
        return x.mean(0).astype(np.float32)
    return np.zeros(x.shape[-1], np.float32)


# --- metrics -------------------------------------------------------------------------------

def mmcs(ground_truth: np.ndarray, W_dec: np.ndarray) -> float:
    """Mean max cosine similarity: for each true direction, its best match among the decoder
    rows, averaged (Sharkey et al. 2022). 1 when every feature was recovered."""
    g = ground_truth / np.linalg.norm(ground_truth, axis=1, keepdims=True)
    d = W_dec / np.maximum(np.linalg.norm(W_dec, axis=1, keepdims=True), 1e-12)
    return float((g @ d.T).max(1).mean())


def reconstruction_metrics(x: np.ndarray, x_hat: np.ndarray, f: np.ndarray) -> dict[str, float]:
    """L0 (active latents per sample), MSE (per element), fraction of variance explained
    1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2, and latents that never fired."""
    x, x_hat = x.reshape(-1, x.shape[-1]), x_hat.reshape(-1, x.shape[-1])
    f = f.reshape(-1, f.shape[-1])
    sse = float(((x - x_hat) ** 2).sum())
    sst = float(((x - x.mean(0)) ** 2).sum())
    fired = (f > 0).any(0)
    return {"l0": float((f > 0).sum(-1).mean()), "mse": sse / x.size,
            "fve": 1.0 - sse / max(sst, 1e-12), "dead_frac": float(1.0 - fired.mean()),
            "dead": float((~fired).sum())}


def evaluate(source: Any, x: np.ndarray, x_hat: np.ndarray, f: np.ndarray,
             W_dec: np.ndarray) -> dict[str, float]:
    """Reconstruction metrics, plus MMCS where the source knows its ground-truth features."""
    out = reconstruction_metrics(x, x_hat, f)
    truth = getattr(source, "ground_truth", None)
    if truth is not None:
        out["mmcs"] = mmcs(truth, W_dec)
    return out


def loss_recovered(ce_clean: float, ce_sae: float, ce_zero: float) -> float:
    """(CE_zero_ablation - CE_with_SAE) / (CE_zero_ablation - CE_clean): 1 when splicing the
    SAE in costs nothing, 0 when it is as bad as zeroing the activation (SAELens)."""
    return (ce_zero - ce_sae) / max(ce_zero - ce_clean, 1e-12)


# --- the task's config ------------------------------------------------------------------------

@dataclass
class LMSourceConfig:
    """Activations of a language model at ``hook``: either the task trains a small ``model``
    first (``steps`` of AdamW on the dataset), so it needs nothing but this spec, or ``run``
    names the folder of a finished ``lm`` run (``results/<name>/runs/<id>``), whose weights,
    dataset and tokenizer are used as they are."""

    model: Any = choice("model", None)
    run: str | None = None
    dataset: Any = choice("dataset", "default")
    tokenizer: Any = choice("tokenizer", "char")
    hook: str = "blocks.0.hook_resid_post"
    block_size: int = 64
    steps: int = 500
    batch_size: int = 32
    lr: float = 3e-3
    buffer_tokens: int = 65536  # activations kept for SAE training, resampled every step
    eval_batches: int = 8  # validation batches for the loss-recovered numbers
    n_feature_page: int = 16  # latents shown on features.html

    def __post_init__(self) -> None:
        if self.run is not None and self.model is not None:
            raise ValueError("lm.model and lm.run both give the language model; set only one")
        if self.run == "":
            raise ValueError("lm.run is empty; give the folder of an lm run")
        if self.block_size < 2 or self.steps < 0 or self.batch_size < 1 or self.buffer_tokens < 1:
            raise ValueError("block_size must be at least 2, steps non-negative, batch_size "
                             "and buffer_tokens positive")


@dataclass
class SAETaskConfig:
    sae: Any = choice("sae", "topk")
    source: Literal["toy", "lm"] = "toy"
    toy: ToyActivationsConfig = field(default_factory=ToyActivationsConfig)
    lm: LMSourceConfig = field(default_factory=LMSourceConfig)
    b_dec_init: Literal["geometric_median", "mean", "zeros"] = "geometric_median"
    steps: int = 3000
    batch_size: int = 1024
    lr: float = 1e-3
    eval_every: int = 250
    eval_samples: int = 8192
    checkpoint_every: int = 1000
    feature_page: bool = True  # lm source: write the top-activating contexts as HTML

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.eval_samples < 1:
            raise ValueError("steps, batch_size and eval_samples must be positive")
        if self.source == "lm" and self.lm.model is None and self.lm.run is None:
            raise ValueError("source 'lm' needs lm.model (e.g. {name: gpt, n_layers: 2}) or "
                             "lm.run (the folder of an lm run)")


def scale_factor(x: np.ndarray) -> float:
    """The constant that makes E||x||^2 = d_in, so SAE hyperparameters carry over between
    models and layers (Anthropic, April 2024 update)."""
    return float(np.sqrt(x.shape[-1] / max(float((x**2).sum(-1).mean()), 1e-12)))


def feature_latents(f: np.ndarray, n: int) -> list[int]:
    """``n`` live latents for the feature page, spread evenly over firing frequency."""
    freq = (f.reshape(-1, f.shape[-1]) > 0).mean(0)
    alive = np.flatnonzero(freq > 0)
    ordered = alive[np.argsort(freq[alive])[::-1]]
    if len(ordered) <= n:
        return [int(i) for i in ordered]
    return [int(ordered[i]) for i in np.linspace(0, len(ordered) - 1, n).astype(int)]
