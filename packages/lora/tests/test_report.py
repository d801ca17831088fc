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
    assert cells[8] == "0.003986"  # 4 B x (1000 + 3 x 15) in MB
    assert "target **met**" in md
    assert (tmp_path / "lora_tradeoff.png").exists()


def test_no_section_without_lora(tmp_path: Path) -> None:
    rows = [result("full", 0, None, val_loss=2.0, params_trainable=1000.0)]
    assert lora_report("lm", sweep(tmp_path, rows), tmp_path) is None
    assert lora_report("classify", sweep(tmp_path, rows), tmp_path) is None
