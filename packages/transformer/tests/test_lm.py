"""The lm task through the real runner: metrics, artifacts, exact resume, starting points
(init_from, pretrain, adapter), cross-backend evaluation, and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scratchlab.core import checkpoint
from scratchlab.core.config import ConfigError, build_config
from scratchlab.core.context import read_metrics
from scratchlab.core.data import DefaultDatasetConfig, default_dataset
from scratchlab.core.registry import get_registry
from scratchlab.core.results import TIMING_METRICS
from scratchlab.core.runner import run_one
from scratchlab.core.spec import Run
from scratchlab.core.testing import BACKENDS, needs_both
from scratchlab.transformer.lm.config import LMConfig

TIMING = TIMING_METRICS  # machine-dependent: never compared between runs


def tiny(**over: Any) -> dict[str, Any]:
    """A model and data small enough for a test step to take milliseconds."""
    raw: dict[str, Any] = {
        "data": {"dataset": {"name": "default", "part": "docs", "max_bytes": 30000},
                 "tokenizer": "byte", "block_size": 16},
        "model": {"name": "gpt", "d_model": 32, "n_layers": 2, "n_heads": 2},
        "optimizer": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.1},
        "schedule": {"name": "cosine", "warmup": 2},
        "train": {"steps": 12, "batch_size": 4, "eval_every": 4, "eval_batches": 2,
                  "checkpoint_every": 4},
        "eval": {"sample_tokens": 8},
    }
    for key, value in over.items():
        node = raw
        *path, last = key.split(".")
        for k in path:
            node = node.setdefault(k, {})
        node[last] = value
    return raw


def run(raw: dict[str, Any], backend: str, folder: Path, seed: int = 0,
        on_progress: Any = None) -> Any:
    cfg = build_config(LMConfig, raw)
    return run_one("lm", Run("r", "base", seed, backend, cfg), folder, on_progress=on_progress)


def weights(folder: Path) -> dict[str, np.ndarray]:
    tensors, _ = checkpoint.load(folder / "checkpoint.safetensors")
    return checkpoint.split(tensors, "model")


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_lm_trains_and_reports(backend: str, tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "a"
    result = run(tiny(**{"eval.lengths": [32], "train.steps": 16}), backend, folder)
    assert result.status == "ok", result.error
    m = result.metrics
    for key in ("val_loss", "val_bpb", "params_total", "params_active", "params_trainable",
                "tokens_per_s", "wall_s", "val_loss_at_32", "val_loss_init", "peak_mem_mb"):
        assert key in m and math.isfinite(m[key]), key
    assert m["params_active"] == m["params_total"] == m["params_trainable"]  # dense, no adapter
    # byte tokenizer: one token per byte, so bits per byte = nats per token / ln 2
    assert m["val_bpb"] == pytest.approx(m["val_loss"] / math.log(2), rel=1e-9)
    history = read_metrics(folder)
    assert [h["step"] for h in history] == [0, 4, 8, 12, 16]  # step 0: before any update
    assert history[0]["val_loss"] == pytest.approx(m["val_loss_init"])
    assert {"train_loss", "val_loss", "val_bpb", "lr", "grad_norm"} <= set(history[1])
    assert history[-1]["val_loss"] < history[1]["val_loss"] < history[0]["val_loss"]
    assert history[0]["val_loss"] < math.log(256) + 0.5
    assert history[-1]["val_loss"] == pytest.approx(m["val_loss"])
    # the sample continues the default prompt: the first 32 characters of the val split
    corpus = default_dataset(DefaultDatasetConfig(part="docs", max_bytes=30000))
    text = (folder / "sample.txt").read_text()
    assert text.startswith(corpus.val[:32]) and len(text) > 32
    assert json.loads((folder / "tokenizer.json").read_text())["type"] == "byte"


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_resume_is_exact(backend: str, tmp_path: Path) -> None:
    """Stopped after the checkpoint at step 8 and run again = never stopped: same weights,
    same metrics (dropout on, so the framework RNG is restored too)."""
    raw = tiny(**{"model.dropout": 0.1})
    whole = run(raw, backend, tmp_path / "whole")
    assert whole.status == "ok", whole.error

    def stop(step: int, total: int, info: dict[str, float]) -> None:
        if step == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(raw, backend, tmp_path / "cut", on_progress=stop)
    assert [h["step"] for h in read_metrics(tmp_path / "cut")] == [0, 4, 8]
    resumed = run(raw, backend, tmp_path / "cut")
    assert resumed.status == "ok", resumed.error
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "whole")
    a, b = weights(tmp_path / "whole"), weights(tmp_path / "cut")
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    drop = set(TIMING)
    assert ({k: v for k, v in resumed.metrics.items() if k not in drop}
            == {k: v for k, v in whole.metrics.items() if k not in drop})


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_init_from_loads_the_weights(backend: str, tmp_path: Path) -> None:
    source = tmp_path / "runs" / "source"
    assert run(tiny(), backend, source).status == "ok"
    # one step at a vanishing learning rate: the weights must still be the source's
    raw = tiny(**{"init_from": str(source), "train.steps": 1, "optimizer.lr": 1e-12,
                  "optimizer.weight_decay": 0.0})
    target = tmp_path / "runs" / "target"
    result = run(raw, backend, target)
    assert result.status == "ok", result.error
    a, b = weights(source), weights(target)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-6, err_msg=k)
    # the checkpoint file works as well as the folder, and gives the same starting loss
    raw["init_from"] = str(source / "checkpoint.safetensors")
    again = run(raw, backend, tmp_path / "runs" / "again")
    assert again.metrics["val_loss"] == pytest.approx(result.metrics["val_loss"], rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_from_mismatch_is_a_clear_error(backend: str, tmp_path: Path) -> None:
    source = tmp_path / "source"
    assert run(tiny(**{"train.steps": 1}), backend, source).status == "ok"
    result = run(tiny(**{"init_from": str(source), "model.d_model": 64}), backend,
                 tmp_path / "target")
    assert result.status == "failed"
    assert "init_from" in result.error and "shape" in result.error
    missing = run(tiny(**{"init_from": str(tmp_path / "nowhere")}), backend, tmp_path / "t2")
    assert missing.status == "failed" and "does not exist" in missing.error


def test_config_checks() -> None:
    cfg = build_config(LMConfig, tiny(**{"eval.lengths": [64, 8]}))
    assert cfg.max_seq_len == 64
    with pytest.raises(ConfigError, match="set only one"):
        build_config(LMConfig, tiny(init_from="x", pretrain={"steps": 2}))
    with pytest.raises(ConfigError, match="unknown key 'stepz'"):
        build_config(LMConfig, tiny(**{"train.stepz": 3}))
    with pytest.raises(ConfigError, match="eval lengths must be positive"):
        build_config(LMConfig, tiny(**{"eval.lengths": [0]}))


def test_mlx_refuses_bf16(tmp_path: Path) -> None:
    pytest.importorskip("mlx")
    result = run(tiny(**{"train.dtype": "bfloat16"}), "mlx", tmp_path / "r")
    assert result.status == "failed" and "bfloat16" in result.error


@pytest.mark.slow
def test_torch_bf16_autocast_trains(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    result = run(tiny(**{"train.dtype": "bfloat16"}), "torch", tmp_path / "r")
    assert result.status == "ok", result.error
    h = read_metrics(tmp_path / "r")
    assert h[-1]["val_loss"] < h[0]["val_loss"]


def test_nan_loss_is_diverged(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    result = run(tiny(**{"optimizer.lr": 1e30, "train.clip_norm": None}), "torch",
                 tmp_path / "r")
    assert result.status == "diverged", (result.status, result.error)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_pretrain_is_cached_and_reports_forgetting(backend: str, tmp_path: Path) -> None:
    """Two fine-tuning runs sharing model + pretrain + seed train the first stage once."""
    raw = tiny(pretrain={"dataset": {"name": "default", "part": "docs", "max_bytes": 30000},
                         "steps": 6, "batch_size": 4},
               **{"data.dataset": {"name": "default", "part": "source", "max_bytes": 30000},
                  "train.steps": 4})
    first = run(raw, backend, tmp_path / "runs" / "a")
    assert first.status == "ok", first.error
    caches = list((tmp_path / "pretrain").iterdir())
    assert len(caches) == 1 and (caches[0] / "model.safetensors").exists()
    assert [h["step"] for h in read_metrics(caches[0])] == [0, 4, 6]
    assert math.isfinite(first.metrics["val_loss_pretrain"])
    raw["optimizer"]["lr"] = 1e-3  # another variant: same pretraining
    second = run(raw, backend, tmp_path / "runs" / "b")
    assert second.status == "ok", second.error
    assert list((tmp_path / "pretrain").iterdir()) == caches
    assert (caches[0] / "log.txt").read_text().count("pretraining") == 1
    # the cached weights are what a from-scratch stage gives: train it again elsewhere
    other = run(raw, backend, tmp_path / "elsewhere" / "runs" / "b")
    assert other.metrics["val_loss"] == pytest.approx(second.metrics["val_loss"], rel=1e-6)


@pytest.mark.slow
def test_adapter_freezes_the_base(tmp_path: Path) -> None:
    """With an adapter (LoRA, where scratchlab-lora is installed) only its weights train."""
    pytest.importorskip("torch")
    if "lora" not in get_registry().names("adapter"):
        pytest.skip("no adapter component installed (scratchlab-lora)")
    source = tmp_path / "runs" / "source"
    assert run(tiny(), "torch", source).status == "ok"
    result = run(tiny(init_from=str(source), adapter={"name": "lora"}), "torch",
                 tmp_path / "runs" / "lora")
    assert result.status == "ok", result.error
    m = result.metrics
    assert 0 < m["params_trainable"] < m["params_total"]
    a, b = weights(source), weights(tmp_path / "runs" / "lora")
    for k in a:  # the base weights (same names) are untouched
        if k in b:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@needs_both
def test_evaluate_agrees_across_backends() -> None:
    """Same weights (through NumPy), same validation windows -> the same loss."""
    import mlx.core as mx

    from scratchlab.core.backends import mlx as bm
    from scratchlab.core.backends import torch as bt
    from scratchlab.transformer.lm import mlx as lm_mlx
    from scratchlab.transformer.lm import torch as lm_torch

    cfg = build_config(LMConfig, tiny())
    ids = np.random.default_rng(0).integers(0, 256, 400).astype(np.int32)
    tm = cfg.model.build("torch", 256, 16)
    mm = cfg.model.build("mlx", 256, 16)
    bm.load_state_dict(mm, bt.state_dict(tm))
    mx.eval(mm.parameters())
    a = lm_torch.evaluate(tm, ids, 16, 4, 3, "cpu")
    b = lm_mlx.evaluate(mm, ids, 16, 4, 3)
    assert a == pytest.approx(b, rel=1e-5)


@pytest.mark.slow
def test_mx_compile_matches_eager(tmp_path: Path) -> None:
    """mx.compile traces the whole step (model, optimizer and RNG state): same training."""
    pytest.importorskip("mlx")
    eager = run(tiny(), "mlx", tmp_path / "eager")
    compiled = run(tiny(**{"train.compile": True}), "mlx", tmp_path / "compiled")
    assert eager.status == compiled.status == "ok", compiled.error
    for a, b in zip(read_metrics(tmp_path / "eager"), read_metrics(tmp_path / "compiled")):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
        assert a.get("train_loss", 0.0) == pytest.approx(b.get("train_loss", 0.0), rel=1e-4)
