"""Helpers shared by the tests of every scratchlab package (importable, not in a tests folder)."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_MLX = importlib.util.find_spec("mlx") is not None

needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
needs_mlx = pytest.mark.skipif(not HAS_MLX, reason="mlx is not installed")
needs_both = pytest.mark.skipif(not (HAS_TORCH and HAS_MLX), reason="needs torch and mlx")

# tolerances of the design: fp32 per op, and for a whole model
OP_TOL = dict(rtol=1e-5, atol=1e-5)
MODEL_TOL = dict(rtol=1e-4, atol=1e-4)

BACKENDS = [pytest.param("torch", marks=needs_torch), pytest.param("mlx", marks=needs_mlx)]


def assert_close(actual: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-5,
                 msg: str = "") -> None:
    """Compare arrays from any framework (converted to NumPy float64)."""
    np.testing.assert_allclose(to_np(actual), to_np(expected), rtol=rtol, atol=atol, err_msg=msg)


def to_np(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__
    if mod.startswith("torch"):
        return x.detach().cpu().double().numpy()
    if mod.startswith("mlx"):
        import mlx.core as mx

        return np.array(x.astype(mx.float32)).astype(np.float64)
    return np.asarray(x)


def assert_state_dicts_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray],
                             rtol: float = 1e-5, atol: float = 1e-5) -> None:
    assert sorted(a) == sorted(b), f"different names: {sorted(set(a) ^ set(b))[:10]}"
    for k in a:
        assert_close(a[k], b[k], rtol, atol, msg=k)
