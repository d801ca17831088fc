"""Toy models of superposition (Elhage et al., 2022), the framework-free half.

n sparse features x_i ~ U[0, 1] (present with probability p = 1 - S, else 0) are squeezed into
m < n hidden dimensions, h = W x, and read back through x' = ReLU(W^T h + b). Many sparsities
train at once as independent *instances* (a leading batch axis on every weight), exactly as in
the paper's notebook. Here: the config, the feature probabilities and importances, the data
(drawn in NumPy for both backends) and the geometry metrics computed in NumPy from the trained W.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SuperpositionConfig:
    n_features: int = 5
    n_hidden: int = 2
    # one instance per feature probability p = 1 - S; empty -> n_instances values log-spaced
    # from p_max down to p_min (the paper's 20 ** -linspace(0, 1, n)).
    feature_probs: list[float] = field(default_factory=list)
    n_instances: int = 8
    p_max: float = 1.0
    p_min: float = 0.01
    importance_decay: float = 1.0  # importance_i = decay ** i (the paper uses 0.9 for n=5)
    steps: int = 10_000
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.01  # torch.optim.AdamW's default, as in the paper's notebook
    eval_every: int = 500
    checkpoint_every: int = 2000

    def __post_init__(self) -> None:
        if self.n_features < 1 or self.n_hidden < 1:
            raise ValueError("n_features and n_hidden must be positive")
        if any(not 0 < p <= 1 for p in self.feature_probs):
            raise ValueError(f"feature_probs must lie in (0, 1], got {self.feature_probs}")
        if not self.feature_probs and not 0 < self.p_min <= self.p_max <= 1:
            raise ValueError(f"need 0 < p_min <= p_max <= 1, got p_min={self.p_min}, "
                             f"p_max={self.p_max}")
        if self.n_instances < 1 or self.steps < 1 or self.batch_size < 1:
            raise ValueError("n_instances, steps and batch_size must be positive")
        if not 0 < self.importance_decay <= 1:
            raise ValueError(f"importance_decay must lie in (0, 1], got {self.importance_decay}")


def feature_probs(cfg: SuperpositionConfig) -> np.ndarray:
    """(n_instances,) probability that a feature is present, one per instance."""
    if cfg.feature_probs:
        return np.asarray(cfg.feature_probs, dtype=np.float32)
    t = np.linspace(0.0, 1.0, cfg.n_instances)
    return (cfg.p_max * (cfg.p_min / cfg.p_max) ** t).astype(np.float32)


def importance(cfg: SuperpositionConfig) -> np.ndarray:
    """(n_features,) weight of each feature in the loss."""
    return (cfg.importance_decay ** np.arange(cfg.n_features)).astype(np.float32)


def generate_batch(rng: np.random.Generator, batch_size: int, probs: np.ndarray,
                   n_features: int) -> np.ndarray:
    """Features U[0, 1], each present with its instance's probability p: (instances, batch,
    features). One uniform draw u serves both: present iff u < p, and then u / p is again
    U[0, 1) (half the random numbers). Drawn in NumPy for both backends: MLX's CPU generator
    was the slowest part of its step, and the run's checkpointed ``rng`` then resumes the
    exact data stream; instances lead so that W x is a plain batched matmul."""
    p = probs[:, None, None]
    u = rng.random((len(probs), batch_size, n_features), dtype=np.float32)
    return np.where(u < p, u / p, np.float32(0.0))


def init_weights(cfg: SuperpositionConfig, n_instances: int, seed: int) -> dict[str, np.ndarray]:
    """Xavier-normal W (instances, features, hidden) and zero bias, from NumPy so that both
    backends start from the same point for a given seed."""
    rng = np.random.default_rng(seed)
    std = np.sqrt(2.0 / (cfg.n_features + cfg.n_hidden))
    W = rng.normal(0.0, std, (n_instances, cfg.n_features, cfg.n_hidden)).astype(np.float32)
    return {"W": W, "b_final": np.zeros((n_instances, cfg.n_features), np.float32)}


# --- geometry ------------------------------------------------------------------------------

def dims_per_feature(W: np.ndarray) -> np.ndarray:
    """m / ||W||_F^2 per instance: how many hidden dimensions each *embedded* feature gets
    (1 when features are orthogonal and unit norm; 1/2 for antipodal pairs; m/n at full
    superposition). W: (instances, n, m)."""
    return W.shape[-1] / np.maximum((W**2).sum((-1, -2)), 1e-12)


def feature_dimensionality(W: np.ndarray) -> np.ndarray:
    """D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2: the fraction of a dimension feature i owns.
    1 for a feature alone in its direction, 1/2 in an antipodal pair, 2/5 in a pentagon,
    0 for a feature that is not represented. W: (..., n, m) -> (..., n)."""
    norms2 = (W**2).sum(-1)
    W_hat = W / np.maximum(np.sqrt(norms2), 1e-6)[..., None]
    interference = np.einsum("...im,...jm->...ij", W_hat, W) ** 2
    return norms2 / np.maximum(interference.sum(-1), 1e-12)


def represented(W: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Which features the model embeds (||W_i|| above ``threshold``). (..., n) bool."""
    return np.sqrt((W**2).sum(-1)) > threshold


def summarize(W: np.ndarray, probs: np.ndarray, losses: np.ndarray) -> list[dict[str, float]]:
    """One row per instance: p, 1/(1-S), loss, m/||W||_F^2, features represented, mean D_i."""
    D = feature_dimensionality(W)
    rep = represented(W)
    dpf = dims_per_feature(W)
    rows = []
    for k, p in enumerate(probs):
        rows.append({"p": float(p), "inv_density": float(1.0 / p), "loss": float(losses[k]),
                     "dims_per_feature": float(dpf[k]), "n_represented": int(rep[k].sum()),
                     "mean_D_represented": float(D[k][rep[k]].mean()) if rep[k].any() else 0.0})
    return rows


def metrics(W: np.ndarray, probs: np.ndarray, losses: np.ndarray) -> dict[str, float]:
    """Final metrics of a run: the mean loss and, per instance, the count of represented
    features and m/||W||_F^2 (named with the instance's feature probability)."""
    out: dict[str, float] = {"loss": float(np.sum(losses))}
    for row in summarize(W, probs, losses):
        tag = f"p={row['p']:.3g}"
        out[f"n_represented@{tag}"] = row["n_represented"]
        out[f"dims_per_feature@{tag}"] = row["dims_per_feature"]
    return out


FRACTIONS = [(1, 1), (3, 4), (2, 3), (1, 2), (2, 5), (3, 8), (1, 3)]
"""The dimensionalities that tegum products of small uniform polytopes give (paper, fig. 'Feature
dimensionality'): digon 1/2, triangle 1/3 (in 2-d: 2/3), pentagon 2/5, square antiprism 3/8, ..."""


def fraction_counts(W: np.ndarray, tol: float = 0.01) -> np.ndarray:
    """(instances, len(FRACTIONS)): how many represented features of each instance have D_i
    within ``tol`` of each fraction. 2/5 and 3/8 lie 0.025 apart, so tol must stay below
    0.0125 to tell them apart. Counts, not a verdict: the text says what they show."""
    D = feature_dimensionality(W)
    rep = represented(W)
    targets = np.array([a / b for a, b in FRACTIONS])
    near = np.abs(D[..., None] - targets) <= tol
    return (near & rep[..., None]).sum(-2)
