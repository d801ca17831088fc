"""Sparse autoencoders: metrics, geometric median, TopK/AuxK, decoder constraint, parity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.core.config import build_config
from scratchlab.core.testing import BACKENDS, OP_TOL, assert_close, needs_both, to_np
from scratchlab.interp import sae as S


def sum_dist(X, y):
    return np.linalg.norm(X - y, axis=1).sum()


@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 40), d=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_geometric_median_minimises_the_sum_of_distances(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.1, 5)
    y = S.geometric_median(X, max_iter=500, tol=1e-10).astype(np.float64)
    best = sum_dist(X, y)
    assert best <= sum_dist(X, X.mean(0)) + 1e-4
    for _ in range(20):  # no nearby point does better
        assert best <= sum_dist(X, y + rng.standard_normal(d) * 1e-2) + 1e-4


def test_geometric_median_is_robust_to_outliers():
    X = np.concatenate([np.random.default_rng(0).standard_normal((99, 3)) * 0.1,
                        np.full((1, 3), 1000.0)])
    assert np.linalg.norm(S.geometric_median(X)) < 0.1
    assert np.linalg.norm(X.mean(0)) > 10


def test_metrics_on_known_cases():
    truth = S.ToyActivations(S.ToyActivationsConfig(d_in=8, n_features=5)).features
    assert S.mmcs(truth, 3.0 * truth[::-1]) == pytest.approx(1.0)
    assert S.mmcs(truth, -truth) < 0.5
    x = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
    f = np.zeros((100, 4), np.float32)
    f[:, 0] = 1.0
    m = S.reconstruction_metrics(x, x, f)
    assert m["fve"] == pytest.approx(1.0) and m["mse"] == 0 and m["l0"] == 1
    assert m["dead"] == 3 and m["dead_frac"] == pytest.approx(0.75)
    assert S.reconstruction_metrics(x, np.broadcast_to(x.mean(0), x.shape), f)["fve"] == \
        pytest.approx(0.0, abs=1e-6)
    assert S.loss_recovered(2.0, 2.0, 5.0) == 1.0 and S.loss_recovered(2.0, 5.0, 5.0) == 0.0


def test_toy_activations_have_about_avg_active_features():
    cfg = S.ToyActivationsConfig(d_in=64, n_features=128, avg_active=3.0)
    toy = S.ToyActivations(cfg)
    assert np.allclose(np.linalg.norm(toy.features, axis=1), 1.0, atol=1e-5)
    x = toy.sample(4000, np.random.default_rng(0))
    coeff = x @ np.linalg.pinv(toy.features)  # 128 > 64, so only a sanity check of scale
    assert x.shape == (4000, 64) and np.isfinite(coeff).all()
    n_active = (np.random.default_rng(0).random((4000, 128)) < 3 / 128).sum(1).mean()
    assert 2.8 < n_active < 3.2


def build(backend, name, **settings):
    cfg = S.TopKSAEConfig(**settings) if name == "topk" else S.ReLUSAEConfig(**settings)
    if backend == "torch":
        from scratchlab.interp.torch import sae as mod
    else:
        from scratchlab.interp.mlx import sae as mod
    factory = mod.topk_sae if name == "topk" else mod.relu_sae
    return factory(cfg, 8), mod


@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_keeps_exactly_k_and_decoder_stays_unit_norm(backend):
    sae, mod = build(backend, "topk", d_sae=32, k=3, dead_steps=1)
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    arr, opt = _arr_opt(backend, sae)
    f = to_np(sae.encode(arr(x)))
    assert ((f > 0).sum(-1) <= 3).all() and ((f > 0).sum(-1) >= 1).all()
    pre = to_np(sae.pre_acts(arr(x)))
    top3 = np.sort(pre, -1)[:, -3:]
    assert_close(np.sort(f, -1)[:, -3:], np.maximum(top3, 0), **OP_TOL)
    dead = np.zeros(32, bool)
    dead[10:] = True
    for _ in range(3):
        mod.train_step(sae, opt, arr(x), arr(dead))
    assert_close(np.linalg.norm(to_np(sae.W_dec), axis=1), np.ones(32), **OP_TOL)


def _arr_opt(backend, sae):
    if backend == "torch":
        import torch

        return torch.from_numpy, torch.optim.Adam(sae.parameters(), lr=1e-2)
    import mlx.core as mx
    import mlx.optimizers as optim

    return mx.array, optim.Adam(learning_rate=1e-2, bias_correction=True)


@needs_both
@pytest.mark.parametrize("name", ["relu", "topk"])
def test_sae_parity_forward_loss_and_gradients(name):
    import mlx.core as mx
    import mlx.nn as mnn
    import torch

    from scratchlab.core.backends import mlx as mbe
    from scratchlab.core.backends import torch as tbe

    t_sae, _ = build("torch", name, d_sae=24)
    m_sae, _ = build("mlx", name, d_sae=24)
    w = S.init_sae(8, 24, 0.5, seed=4)
    w["b_enc"] = np.random.default_rng(5).standard_normal(24).astype(np.float32) * 0.1
    w["b_dec"] = np.random.default_rng(6).standard_normal(8).astype(np.float32) * 0.1
    tbe.load_state_dict(t_sae, w)
    mbe.load_state_dict(m_sae, w)
    x = np.random.default_rng(7).standard_normal((16, 8)).astype(np.float32)
    dead = np.arange(24) % 3 == 0  # some dead latents: the AuxK term is live
    (t_hat, t_f), (m_hat, m_f) = t_sae(torch.from_numpy(x)), m_sae(mx.array(x))
    assert_close(t_hat, m_hat, **OP_TOL)
    assert_close(t_f, m_f, **OP_TOL)
    t_loss, t_aux = t_sae.loss(torch.from_numpy(x), torch.from_numpy(dead))
    t_loss.backward()
    (m_loss, m_aux), grads = mnn.value_and_grad(m_sae, type(m_sae).loss)(
        m_sae, mx.array(x), mx.array(dead))
    assert_close(t_loss, m_loss, **OP_TOL)
    if name == "topk":
        assert t_aux["aux_loss"].item() > 0
        assert_close(t_aux["aux_loss"], m_aux["aux_loss"], **OP_TOL)
    for key in ("W_enc", "b_enc", "W_dec", "b_dec"):
        assert_close(getattr(t_sae, key).grad, grads[key], **OP_TOL, msg=key)
    # the projected decoder gradient is tangent to the unit sphere of each row
    t_sae.normalize_decoder()
    t_sae.W_dec.grad = torch.randn_like(t_sae.W_dec)
    t_sae.project_decoder_grad()
    assert_close((t_sae.W_dec.grad * t_sae.W_dec).sum(-1), np.zeros(24), atol=1e-6)


@needs_both
def test_auxk_gives_dead_latents_gradient():
    import torch

    sae, _ = build("torch", "topk", d_sae=16, k=2, aux_k=4)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32))
    dead = torch.zeros(16, dtype=torch.bool)  # 3 samples x k=2: at most 6 of 16 latents fire
    loss, _ = sae.loss(x, dead)
    loss.backward()
    live = (sae.encode(x) > 0).any(0)
    assert (~live).sum() >= 10
    assert torch.all(sae.W_dec.grad[~live] == 0)  # without AuxK, unused latents learn nothing
    sae.zero_grad()
    loss, _ = sae.loss(x, ~live)
    loss.backward()
    assert sae.W_dec.grad[~live].abs().sum() > 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_sae_recovers_toy_features(backend, tmp_path):
    """A short run already finds the true directions (the full spec: sae_toy.yaml)."""
    from scratchlab.core.context import RunContext

    cfg = build_config(S.SAETaskConfig, {
        "sae": {"name": "topk", "d_sae": 128, "k": 3}, "steps": 300, "batch_size": 256,
        "lr": 3e-3, "eval_every": 300, "eval_samples": 2048,
        "toy": {"d_in": 16, "n_features": 32, "avg_active": 2.0}})
    if backend == "torch":
        from scratchlab.interp.torch.sae import run
    else:
        from scratchlab.interp.mlx.sae import run
    metrics = run(RunContext("t", "v", 0, backend, cfg, tmp_path))
    assert metrics["mmcs"] > 0.9 and metrics["fve"] > 0.8, metrics


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sae_resume_is_exact(backend, tmp_path):
    """Stopped after the checkpoint at step 8 and run again = never stopped: same SAE, same
    metrics (TopK with a short dead_steps, so the AuxK loss and its dead-latent counters that
    the checkpoint carries are in play)."""
    from scratchlab.core import checkpoint
    from scratchlab.core.context import read_metrics
    from scratchlab.core.results import TIMING_METRICS
    from scratchlab.core.runner import run_one
    from scratchlab.core.spec import Run

    cfg = build_config(S.SAETaskConfig, {
        "sae": {"name": "topk", "d_sae": 64, "k": 2, "aux_k": 8, "dead_steps": 3},
        "steps": 12, "batch_size": 32, "eval_every": 4, "checkpoint_every": 8,
        "eval_samples": 128, "toy": {"d_in": 8, "n_features": 16, "avg_active": 2.0}})

    def go(folder, on_progress=None):
        return run_one("sae", Run("r", "base", 0, backend, cfg), folder, on_progress=on_progress)

    def stop(step, total, info):
        if step == 8:
            raise KeyboardInterrupt

    whole = go(tmp_path / "whole")
    assert whole.status == "ok", whole.error
    with pytest.raises(KeyboardInterrupt):
        go(tmp_path / "cut", stop)
    assert [h["step"] for h in read_metrics(tmp_path / "cut")] == [4, 8]
    resumed = go(tmp_path / "cut")
    assert resumed.status == "ok", resumed.error
    assert "resumed from step 8" in (tmp_path / "cut" / "log.txt").read_text()
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "whole")
    a, b = (checkpoint.load(p / "checkpoint.safetensors")[0] for p in
            (tmp_path / "whole", tmp_path / "cut"))
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    drop = set(TIMING_METRICS)
    assert ({k: v for k, v in resumed.metrics.items() if k not in drop}
            == {k: v for k, v in whole.metrics.items() if k not in drop})


@pytest.mark.slow
@needs_both
def test_sae_on_a_model_the_lm_task_trained(tmp_path):
    """lm.run loads an lm run's weights, dataset and tokenizer (no training of its own): torch
    and MLX SAEs read the same model (trained in torch), so their clean losses agree, and it is
    the trained model (far below a random one's ln 256)."""
    import math

    from scratchlab.core.runner import run_one
    from scratchlab.core.spec import Run
    from scratchlab.transformer.lm.config import LMConfig

    lm_cfg = build_config(LMConfig, {
        "data": {"dataset": {"name": "default", "part": "docs", "max_bytes": 30000},
                 "tokenizer": "byte", "block_size": 16},
        "model": {"name": "gpt", "d_model": 32, "n_layers": 2, "n_heads": 2},
        "optimizer": {"name": "adamw", "lr": 3e-3},
        "train": {"steps": 60, "batch_size": 16, "eval_every": 60, "eval_batches": 2}})
    trained = run_one("lm", Run("r", "base", 0, "torch", lm_cfg), tmp_path / "lm")
    assert trained.status == "ok", trained.error
    ce = {}
    for backend in ("torch", "mlx"):
        cfg = build_config(S.SAETaskConfig, {
            "source": "lm", "lm": {"run": str(tmp_path / "lm"), "block_size": 16,
                                   "buffer_tokens": 512, "eval_batches": 2, "batch_size": 4,
                                   "n_feature_page": 2},
            "sae": {"name": "topk", "d_sae": 32, "k": 4}, "steps": 10, "batch_size": 64,
            "eval_samples": 128})
        res = run_one("sae", Run("s", "base", 0, backend, cfg), tmp_path / f"sae_{backend}")
        assert res.status == "ok", res.error
        assert "lm_train_loss" not in res.metrics
        assert "loaded the LM of" in (tmp_path / f"sae_{backend}" / "log.txt").read_text()
        ce[backend] = res.metrics["ce_clean"]
    assert ce["torch"] == pytest.approx(ce["mlx"], rel=1e-4)
    assert ce["torch"] < math.log(256) - 1.0


def test_lm_run_and_lm_model_are_exclusive(tmp_path):
    from scratchlab.core.config import ConfigError
    from scratchlab.core.errors import ScratchlabError

    with pytest.raises((ValueError, ConfigError)):
        build_config(S.SAETaskConfig, {"source": "lm", "lm": {"run": str(tmp_path),
                                                              "model": {"name": "gpt"}}})
    with pytest.raises((ValueError, ConfigError)):
        build_config(S.SAETaskConfig, {"source": "lm"})
    with pytest.raises(ScratchlabError, match="no config.json"):
        from scratchlab.interp.lmdata import load_lm_run
        load_lm_run(str(tmp_path), 16)
