"""experiments/lora_vs_full.yaml through the real runner, shrunk by --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchlab.core.runner import run_sweep
from scratchlab.core.spec import load_spec
from scratchlab.core.testing import needs_torch

pytest.importorskip("scratchlab.transformer.lm.config")

SPEC = Path(__file__).resolve().parents[3] / "experiments" / "lora_vs_full.yaml"
TINY = ["seeds=[0]", "train.steps=2", "pretrain.steps=2", "train.eval_every=2",
        "train.eval_batches=1", "train.batch_size=2", "pretrain.batch_size=2",
        "model.n_layers=1", "model.d_model=16", "model.n_heads=2", "model.ffn.hidden=32",
        "data.block_size=16", "data.dataset.max_bytes=4000", "pretrain.dataset.max_bytes=4000"]


@needs_torch
@pytest.mark.slow
def test_lora_vs_full_smoke(tmp_path: Path) -> None:
    spec = load_spec(SPEC, overrides=TINY, backends=["torch"])
    sweep = run_sweep(spec, tmp_path)
    assert [r.status for r in sweep.results] == ["ok"] * len(spec.variants)
    md = (tmp_path / "lora_vs_full" / "results.md").read_text()
    assert "## LoRA vs full fine-tuning" in md and "lora_r8_qv_lr1e-2" in md
    by_variant = {r.run.variant: r.metrics for r in sweep.results}
    full, qv = by_variant["full_lr1e-3"], by_variant["lora_r8_qv_lr1e-2"]
    assert full["params_trainable"] == full["params_total"]
    assert 0 < qv["params_trainable"] < qv["params_total"]
    assert "val_loss_pretrain" in qv
    assert (tmp_path / "lora_vs_full" / "lora_tradeoff.png").exists()


@needs_torch
@pytest.mark.slow
def test_adapter_of_an_lm_run_round_trips_through_the_cli(tmp_path: Path, capsys) -> None:
    """export the adapter of a LoRA run, merge it into the cached pretrained base, and get the
    same logits as the run's own adapted model; a wrong base is refused with exit status 2."""
    import numpy as np
    import torch

    from scratchlab.core.cli import main
    from scratchlab.lora.cli import model_weights
    from scratchlab.transformer.lm import data as lmdata
    from scratchlab.transformer.lm.torch import load_model

    spec = load_spec(SPEC, overrides=TINY + ["train.steps=3", "optimizer.lr=0.05"],
                     backends=["torch"])
    spec.variants = {k: v for k, v in spec.variants.items()
                     if k in ("lora_r8_qv_lr1e-2", "full_lr1e-3")}
    sweep = run_sweep(spec, tmp_path)
    assert all(r.status == "ok" for r in sweep.results)
    run = {r.run.variant: r for r in sweep.results}
    lora_dir, full_dir = run["lora_r8_qv_lr1e-2"].dir, run["full_lr1e-3"].dir
    base_dir = next((tmp_path / "lora_vs_full" / "pretrain").iterdir())
    assert main(["lora", "export", str(lora_dir)]) == 0
    assert main(["lora", "info", str(lora_dir / "adapter.safetensors")]) == 0
    assert "r=8" in capsys.readouterr().out
    from scratchlab.lora.adapter import read_adapter

    trained, _, _ = read_adapter(lora_dir / "adapter.safetensors")
    assert max(abs(v).max() for k, v in trained.items() if k.endswith("lora_B")) > 1e-4
    merged = tmp_path / "merged.safetensors"
    assert main(["lora", "merge", "--base", str(base_dir), "--adapter",
                 str(lora_dir / "adapter.safetensors"), "-o", str(merged)]) == 0
    assert main(["lora", "merge", "--base", str(full_dir), "--adapter",
                 str(lora_dir / "adapter.safetensors"), "-o", str(tmp_path / "x")]) == 2
    assert "trained on another base model" in capsys.readouterr().err

    cfg, _ = lmdata.load_run_config(lora_dir)
    tok = lmdata.load_tokenizer(lora_dir)
    adapted = load_model(cfg, tok.vocab_size, model_weights(lora_dir))
    plain_cfg, _ = lmdata.load_run_config(full_dir)
    plain = load_model(plain_cfg, tok.vocab_size, model_weights(merged))
    idx = torch.from_numpy(np.random.default_rng(0).integers(0, tok.vocab_size, (2, 16)))
    with torch.no_grad():
        np.testing.assert_allclose(plain(idx).numpy(), adapted(idx).numpy(), rtol=1e-5, atol=1e-5)


@needs_torch
@pytest.mark.slow
def test_init_from_then_lora_keeps_the_base_frozen(tmp_path: Path) -> None:
    """lm with init_from (a pretrained folder) + adapter: the run's base weights stay exactly
    the starting ones (same fingerprint); only lora_A / lora_B moved."""
    from scratchlab.lora import fingerprint
    from scratchlab.lora.cli import model_weights

    first = load_spec(SPEC, overrides=TINY, backends=["torch"])
    first.variants = {"full_lr1e-3": first.variants["full_lr1e-3"]}
    run_sweep(first, tmp_path / "a")
    base_dir = next((tmp_path / "a" / "lora_vs_full" / "pretrain").iterdir())
    spec = load_spec(SPEC, overrides=[*TINY, "pretrain=null", f"init_from={base_dir}",
                                      "optimizer.lr=0.05"], backends=["torch"])
    spec.variants = {"lora_r8_attn_mlp": spec.variants["lora_r8_attn_mlp"]}
    (result,) = run_sweep(spec, tmp_path / "b").results
    assert result.status == "ok", result.error
    after, before = model_weights(result.dir), model_weights(base_dir)
    assert fingerprint(after) == fingerprint(before)
    assert any(abs(v).max() > 0 for k, v in after.items() if k.endswith("lora_B"))
