"""Induction scores, half losses and the attention pictures."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.core.testing import BACKENDS
from scratchlab.interp import induction as ind
from scratchlab.interp import viz


def test_repeated_tokens_repeat():
    x = ind.repeated_tokens(4, 5, 20, np.random.default_rng(0))
    assert x.shape == (4, 11) and (x[:, 0] == ind.BOS).all()
    assert (x[:, 1:6] == x[:, 6:]).all() and (x[:, 1:] > 0).all()
    y = ind.repeated_tokens(200, 8, 1000, np.random.default_rng(0), min_half_len=3)
    lengths = set()
    for row in y[:, 1:]:
        n = next(n for n in range(3, 9) if (row[:n] == row[n:2 * n]).all())
        lengths.add(n)
    assert lengths == set(range(3, 9))  # the distance between the copies varies


def test_scores_of_ideal_heads():
    L = 6
    T = 2 * L + 1
    induction = np.zeros((T, T))
    prev = np.zeros((T, T))
    for t in range(T):
        prev[t, max(t - 1, 0)] = 1.0
        induction[t, t - L + 1 if t > L else 0] = 1.0
    uniform = np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]
    pattern = np.stack([induction, prev, uniform])[None]  # (1, 3 heads, T, T)
    scores = ind.induction_scores(pattern, L)
    assert scores[0] == 1.0 and scores[1] == 0.0 and 0 < scores[2] < 0.2
    assert ind.prev_token_scores(pattern)[1] == 1.0


def test_half_losses_pick_the_right_positions():
    L = 4
    losses = np.zeros((2, 2 * L))
    losses[:, 1:L] = 3.0  # predicting r_2..r_L of the first copy
    losses[:, L] = 7.0  # predicting r_1 of the repeat: unpredictable, left out of both
    losses[:, L + 1:] = 0.5
    assert ind.half_losses(losses, L) == (3.0, 0.5)


def test_attention_pictures(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.random((2, 5, 5))
    viz.attention_png({0: p, 1: p}, list("abcde"), tmp_path / "a.png")
    viz.attention_html({0: p}, ["<x>", "b", "c", "d", "e"], tmp_path / "a.html")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "a.html").read_text()
    assert '"L0H1"' in page and "&lt;x&gt;" not in page and '"<x>"' in page


def test_feature_page_lists_top_contexts(tmp_path):
    acts = np.zeros((2, 6, 3))
    acts[1, 4, 2] = 5.0
    acts[0, 2, 2] = 1.0
    tokens = np.arange(12).reshape(2, 6)
    feats = viz.top_contexts(acts, tokens, lambda ids: f"t{ids[0]}", [2, 0], window=3)
    assert feats[0]["examples"][0]["tokens"] == ["t8", "t9", "t10"]
    assert len(feats[0]["examples"]) == 2 and feats[1]["examples"] == []
    viz.feature_page(feats, tmp_path / "f.html")
    assert "latent 2" in (tmp_path / "f.html").read_text()


def test_warmup_and_bad_settings():
    from scratchlab.core.config import ConfigError, build_config

    cfg = build_config(ind.InductionConfig, {"warmup": 4})
    assert [cfg.lr_scale(s) for s in (1, 2, 4, 5, 1000)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert build_config(ind.InductionConfig, {"warmup": 0}).lr_scale(1) == 1.0
    assert cfg.model.config.positional.name == "alibi"  # the default: no positional shortcut
    for bad in ({"warmup": -1}, {"min_half_len": 40}, {"vocab_size": 2}):
        with pytest.raises((ValueError, ConfigError)):
            build_config(ind.InductionConfig, bad)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_induction_resume_is_exact_inside_the_warmup(backend, tmp_path):
    """Stopped at the step-4 checkpoint, still in the 6-step warmup, and run again = never
    stopped: same weights and metrics (the warmup's base rate survives the resume)."""
    from scratchlab.core import checkpoint
    from scratchlab.core.config import build_config
    from scratchlab.core.context import read_metrics
    from scratchlab.core.results import TIMING_METRICS
    from scratchlab.core.runner import run_one
    from scratchlab.core.spec import Run

    cfg = build_config(ind.InductionConfig, {
        "model": {"name": "gpt", "n_layers": 2, "n_heads": 2, "d_model": 16, "ffn": "none",
                  "positional": "alibi", "attention": {"name": "causal", "fused": False}},
        "vocab_size": 8, "half_len": 4, "steps": 8, "batch_size": 4, "warmup": 6,
        "eval_every": 2, "eval_batch": 4, "checkpoint_every": 4})

    def go(folder, on_progress=None):
        return run_one("induction", Run("r", "base", 0, backend, cfg), folder,
                       on_progress=on_progress)

    def stop(step, total, info):
        if step == 4:
            raise KeyboardInterrupt

    whole = go(tmp_path / "whole")
    assert whole.status == "ok", whole.error
    with pytest.raises(KeyboardInterrupt):
        go(tmp_path / "cut", stop)
    resumed = go(tmp_path / "cut")
    assert resumed.status == "ok", resumed.error
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "whole")
    a, b = (checkpoint.split(checkpoint.load(p / "checkpoint.safetensors")[0], "model")
            for p in (tmp_path / "whole", tmp_path / "cut"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    drop = set(TIMING_METRICS)
    assert ({k: v for k, v in resumed.metrics.items() if k not in drop}
            == {k: v for k, v in whole.metrics.items() if k not in drop})
