"""The results.md section for LoRA sweeps: recovered improvement and forgetting, per seed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from scratchlab.core.config import Choice
from scratchlab.core.results import RunResult, SweepResults
from scratchlab.core.spec import Run, Spec
from scratchlab.lora import LoRAConfig
from scratchlab.lora.report import lora_report


def result(variant: str, seed: int, adapter: LoRAConfig | None, **metrics: float) -> RunResult:
    cfg = SimpleNamespace(adapter=Choice("adapter", "lora", adapter) if adapter else None)
    return RunResult(Run(f"{variant}{seed}", variant, seed, "torch", cfg), "ok",
                     {"params_total": 1000.0, **metrics})


def sweep(tmp_path: Path, rows: list[RunResult]) -> SweepResults:
    spec = Spec("t", "lm", {}, {}, {}, [0, 1], ["torch"], {})
    return SweepResults(spec, rows, tmp_path)


def test_recovered_and_forgetting(tmp_path: Path) -> None:
    qv8 = LoRAConfig(r=8, target_modules=["attn.q", "attn.v"])
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.1)):
        rows += [
            result("base", seed, LoRAConfig(r=1), val_loss=3.0 + shift, val_loss_pretrain=2.0,
                   params_trainable=10.0),
            result("full", seed, None, val_loss=2.0 + shift, val_loss_pretrain=2.5,
                   params_trainable=1000.0),
            result("lora", seed, qv8, val_loss=2.05 + shift, val_loss_pretrain=2.1,
                   params_trainable=15.0),
        ]
    md = lora_report("lm", sweep(tmp_path, rows), tmp_path)
    assert md is not None
    line = next(x for x in md.splitlines() if x.startswith("| lora |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == "1.5"  # trainable %
    assert cells[5].startswith("95")  # (3 - 2.05) / (3 - 2) per seed
    assert cells[7] == "0.1"  # 2.1 - 2.0
    assert cells[8].startswith("0.105")  # 0.1 nats forgotten per 0.95 gained
    assert cells[9] == "0.003986"  # 4 B x (1000 + 3 x 15) in MB
    assert "target **met**" in md
    assert (tmp_path / "lora_tradeoff.png").exists()


def test_the_best_full_fine_tuning_is_the_reference(tmp_path: Path) -> None:
    """Of a learning-rate grid of full fine-tuning, the lowest val_loss is what LoRA must
    recover; without a base variant, each run's val_loss_init is the pretrained model's loss."""
    qv8 = LoRAConfig(r=8, target_modules=["attn.q", "attn.v"])
    rows = []
    for seed in (0, 1):
        rows += [
            result("full_lr_small", seed, None, val_loss=2.5, val_loss_init=3.0,
                   params_trainable=1000.0),
            result("full_lr_big", seed, None, val_loss=2.0, val_loss_init=3.0,
                   params_trainable=1000.0),
            result("lora", seed, qv8, val_loss=2.5, val_loss_init=3.0, params_trainable=15.0),
        ]
    md = lora_report("lm", sweep(tmp_path, rows), tmp_path)
    assert md is not None
    assert "`full_lr_big` (torch)" in md
    line = next(x for x in md.splitlines() if x.startswith("| lora |"))
    assert [c.strip() for c in line.strip("|").split("|")][5] == "50"  # 0.5 of 1.0
    assert "full fine-tuning (reference)" in next(
        x for x in md.splitlines() if x.startswith("| full_lr_big |"))
    assert "target **not met**" in md


def test_no_section_without_lora(tmp_path: Path) -> None:
    rows = [result("full", 0, None, val_loss=2.0, params_trainable=1000.0)]
    assert lora_report("lm", sweep(tmp_path, rows), tmp_path) is None
    assert lora_report("classify", sweep(tmp_path, rows), tmp_path) is None
