"""LoRALinear and injection, in each backend and across them: no-op start, merge/unmerge,
freezing, the trainable-parameter formula, inits, and same weights -> same outputs/gradients."""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core.backends import get_backend
from scratchlab.core.errors import ScratchlabError
from scratchlab.core.testing import BACKENDS, MODEL_TOL, OP_TOL, assert_close, needs_both
from scratchlab.lora import LoRAConfig, lora_param_count
from scratchlab.lora.adapter import adapter_state, base_state
from scratchlab.lora.testing import toy_model, toy_weights

D, L = 8, 2


def lora(backend: str) -> Any:
    return importlib.import_module(f"scratchlab.lora.{backend}.adapter")


def inputs(backend: str, seed: int = 1, shape: tuple[int, ...] = (3, 4, D)) -> Any:
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return get_backend(backend).from_numpy(x)


def forward(backend: str, model: Any, x: Any) -> np.ndarray:
    if backend == "torch":
        import torch

        with torch.no_grad():
            return model(x).numpy()
    return np.array(model(x))


def randomize_adapters(backend: str, model: Any, seed: int = 2) -> dict[str, np.ndarray]:
    """Give every adapter a nonzero B (the default B = 0 hides bugs in the update path)."""
    be = get_backend(backend)
    rng = np.random.default_rng(seed)
    new = {k: rng.standard_normal(v.shape).astype(np.float32) * 0.05
           for k, v in sorted(adapter_state(be.state_dict(model)).items())}
    be.load_state_dict(model, new, strict=False)
    return new


def loss_and_grads(backend: str, model: Any, x: Any) -> tuple[float, dict[str, np.ndarray]]:
    """Loss sum(out**2)/n and the gradients of the trainable parameters, by name."""
    if backend == "torch":
        model.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        return loss.item(), {n: p.grad.numpy() for n, p in model.named_parameters()
                             if p.requires_grad}
    import mlx.nn as nn
    from mlx.utils import tree_flatten

    loss, grads = nn.value_and_grad(model, lambda m, x: (m(x) ** 2).mean())(model, x)
    return loss.item(), {k: np.array(v) for k, v in tree_flatten(grads)}


# --- one backend at a time --------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=8, deadline=None)
@given(r=st.integers(1, 6), alpha=st.floats(0.5, 64), rslora=st.booleans(),
       init=st.sampled_from(["kaiming", "gaussian"]))
def test_fresh_adapter_is_a_no_op(backend: str, r: int, alpha: float, rslora: bool, init: str) -> None:
    model = toy_model(backend, D, L)
    x = inputs(backend)
    before = forward(backend, model, x)
    lora(backend).apply_lora(LoRAConfig(r, alpha, target_modules=["attn.*", "mlp.*", "lm_head"],
                                        rslora=rslora, init=init), model)
    assert_close(forward(backend, model, x), before, rtol=0, atol=0)  # B = 0: exactly the base


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_is_w_plus_scale_b_a(backend: str) -> None:
    """The adapted layer computes x (W + scale B A)^T + b, checked in NumPy."""
    model = toy_model(backend, D, L)
    cfg = LoRAConfig(r=3, alpha=5.0, target_modules=["attn.q"])
    lora(backend).apply_lora(cfg, model)
    ad = randomize_adapters(backend, model)
    w = toy_weights(D, L)
    layer = model.blocks[1].attn.q
    x = np.random.default_rng(5).standard_normal((4, D)).astype(np.float32)
    want = x @ (w["blocks.1.attn.q.weight"] + (5.0 / 3) * ad["blocks.1.attn.q.lora_B"]
                @ ad["blocks.1.attn.q.lora_A"]).T + w["blocks.1.attn.q.bias"]
    assert_close(forward(backend, layer, get_backend(backend).from_numpy(x)), want, **OP_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rslora", [False, True])
def test_merge_matches_unmerged_and_unmerge_restores(backend: str, rslora: bool) -> None:
    be = get_backend(backend)
    model = toy_model(backend, D, L)
    ops = lora(backend)
    ops.apply_lora(LoRAConfig(r=4, alpha=8, rslora=rslora, target_modules=["attn.*", "mlp.*"]),
                   model)
    randomize_adapters(backend, model)
    x = inputs(backend)
    adapted = forward(backend, model, x)
    base = base_state(be.state_dict(model))
    ops.merge(model)
    assert all(layer.merged for layer in ops.lora_layers(model).values())
    assert_close(forward(backend, model, x), adapted, **OP_TOL)
    ops.merge(model)  # idempotent: merging twice must not add the update twice
    assert_close(forward(backend, model, x), adapted, **OP_TOL)
    ops.unmerge(model)
    for k, v in base_state(be.state_dict(model)).items():
        assert_close(v, base[k], rtol=0, atol=1e-6, msg=k)  # W + d - d: one rounding
    assert_close(forward(backend, model, x), adapted, **OP_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unload_gives_plain_model_with_merged_weights(backend: str) -> None:
    be = get_backend(backend)
    model = toy_model(backend, D, L)
    ops = lora(backend)
    ops.apply_lora(LoRAConfig(r=2, target_modules=["attn.q", "mlp.fc"]), model)
    randomize_adapters(backend, model)
    x = inputs(backend)
    adapted = forward(backend, model, x)
    ops.unload(model)
    assert not ops.lora_layers(model)
    assert sorted(be.state_dict(model)) == sorted(toy_weights(D, L))
    assert type(model.blocks[0].attn.q).__name__ == "Linear"
    assert_close(forward(backend, model, x), adapted, **OP_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("patterns", [["attn.q", "attn.v"], ["attn.*"], ["attn.*", "mlp.*"],
                                      ["mlp.fc", "lm_head"], ["blocks.1.attn.o"]])
def test_only_adapters_train_and_fraction_formula(backend: str, patterns: list[str]) -> None:
    be = get_backend(backend)
    model = toy_model(backend, D, L)
    n_base = be.count_params(model)
    shapes = {k[: -len(".weight")]: v.shape for k, v in toy_weights(D, L).items()
              if k.endswith(".weight")}
    r = 3
    lora(backend).apply_lora(LoRAConfig(r=r, target_modules=patterns), model)
    report = model.lora_report
    want = lora_param_count([shapes[t] for t in report.targets], r)
    assert report.trainable == want == be.count_params(model, trainable_only=True)
    assert report.total == n_base + want
    assert math.isclose(report.fraction, want / (n_base + want))
    assert report.metrics()["trainable_pct"] == pytest.approx(100 * want / (n_base + want))
    _, grads = loss_and_grads(backend, model, inputs(backend))
    assert sorted(grads) == sorted(f"{t}.{p}" for t in report.targets for p in ("lora_A", "lora_B"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_inits(backend: str) -> None:
    be = get_backend(backend)
    be.seed(0)
    d_in = 256
    layer_cls = importlib.import_module(f"scratchlab.lora.{backend}.layer").LoRALinear
    if backend == "torch":
        import torch.nn as nn

        base: Any = nn.Linear(d_in, 64)
    else:
        import mlx.nn as mnn

        base = mnn.Linear(d_in, 64)
    k = layer_cls(base, r=16, init="kaiming")
    a = be.to_numpy(k.lora_A)
    bound = 1 / math.sqrt(d_in)
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.95 * bound
    assert abs(a.std() - bound / math.sqrt(3)) < 0.05 * bound  # uniform's std
    assert not be.to_numpy(k.lora_B).any()
    g = be.to_numpy(layer_cls(base, r=16, init="gaussian").lora_A)
    assert abs(g.std() - 1 / 16) < 0.005 and abs(g.mean()) < 0.005
    assert layer_cls(base, r=16, alpha=32).scale == 2.0
    assert layer_cls(base, r=16, alpha=32, rslora=True).scale == 8.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_acts_on_the_adapter_input_only(backend: str) -> None:
    model = toy_model(backend, D, L)
    lora(backend).apply_lora(LoRAConfig(r=2, dropout=0.5, target_modules=["attn.q"]), model)
    x = inputs(backend)
    layer = model.blocks[0].attn.q
    base_out = forward(backend, layer, x)  # B = 0: dropout cannot show
    model.train()
    assert_close(forward(backend, layer, x), base_out, rtol=0, atol=0)
    randomize_adapters(backend, model)
    a, b = forward(backend, layer, x), forward(backend, layer, x)
    assert not np.allclose(a, b)  # training mode: a fresh dropout mask each call
    model.eval()
    assert_close(forward(backend, layer, x), forward(backend, layer, x), rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_targets_are_clear_errors(backend: str) -> None:
    ops = lora(backend)
    with pytest.raises(ScratchlabError, match=r"'attn\.qq' matches no linear layer.*did you mean 'attn\.q'"):
        ops.apply_lora(LoRAConfig(target_modules=["attn.qq"]), toy_model(backend, D, L))
    model = ops.apply_lora(LoRAConfig(target_modules=["attn.q"]), toy_model(backend, D, L))
    with pytest.raises(ScratchlabError, match="already has LoRA"):
        ops.apply_lora(LoRAConfig(target_modules=["attn.q"]), model)


# --- across backends --------------------------------------------------------------------------

@needs_both
@pytest.mark.parametrize("rslora", [False, True])
def test_same_weights_same_outputs_and_gradients(rslora: bool) -> None:
    cfg = LoRAConfig(r=4, alpha=8, rslora=rslora, target_modules=["attn.*", "mlp.*", "lm_head"])
    out, grads, losses = {}, {}, {}
    for backend in ("torch", "mlx"):
        model = toy_model(backend, D, L)
        lora(backend).apply_lora(cfg, model)
        randomize_adapters(backend, model)
        x = inputs(backend)
        out[backend] = forward(backend, model, x)
        losses[backend], grads[backend] = loss_and_grads(backend, model, x)
        assert sorted(get_backend(backend).state_dict(model)) == sorted(
            list(toy_weights(D, L)) + list(grads[backend]))
    assert_close(out["mlx"], out["torch"], **MODEL_TOL)
    assert_close(losses["mlx"], losses["torch"], **MODEL_TOL)
    assert sorted(grads["mlx"]) == sorted(grads["torch"])
    for k in grads["torch"]:
        assert_close(grads["mlx"][k], grads["torch"][k], **MODEL_TOL, msg=k)
