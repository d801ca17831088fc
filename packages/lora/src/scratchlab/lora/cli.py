"""``scratchlab lora``: adapter files from the command line (framework-free, NumPy only).

    scratchlab lora export RUN_DIR [-o adapter.safetensors]    # adapter-only file of an lm run
    scratchlab lora info adapter.safetensors                    # its config, size and base
    scratchlab lora merge --base BASE --adapter A -o merged.safetensors

``BASE`` is the base run folder (or its checkpoint file, or a pretrain cache folder); the merged
file holds plain weights (W + scale B A) that the ``lm`` task loads with ``init_from``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from scratchlab.core import checkpoint
from scratchlab.core.config import build_config
from scratchlab.core.errors import ScratchlabError
from scratchlab.lora.adapter import (
    adapter_state,
    check_base,
    fingerprint,
    merge_weights,
    read_adapter,
    write_adapter,
)
from scratchlab.lora.config import LoRAConfig

RUN_WEIGHTS = ("checkpoint.safetensors", "model.safetensors")  # a run's, a pretrain cache's


def model_weights(path: Path) -> dict[str, Any]:
    """The model's weights from a run folder or a checkpoint file (``model.*`` or plain names)."""
    if path.is_dir():
        found = [path / n for n in RUN_WEIGHTS if (path / n).exists()]
        if not found:
            raise ScratchlabError(f"{path} holds no {' or '.join(RUN_WEIGHTS)}")
        path = found[0]
    tensors, _ = checkpoint.load(path)
    return checkpoint.split(tensors, "model") or tensors


def run_adapter_config(run_dir: Path) -> LoRAConfig:
    try:
        blob = json.loads((run_dir / "config.json").read_text())
        spec = blob["config"]["adapter"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        raise ScratchlabError(f"{run_dir} is not a finished lm run folder (no config.json with "
                              "an 'adapter')") from None
    if not spec or spec.get("name") != "lora":
        raise ScratchlabError(f"the run {run_dir} was not trained with a LoRA adapter")
    config: LoRAConfig = build_config(LoRAConfig, {k: v for k, v in spec.items() if k != "name"})
    return config


def cmd_export(args: argparse.Namespace) -> int:
    run_dir: Path = args.run
    config = run_adapter_config(run_dir)
    weights = model_weights(run_dir)
    out = args.output or run_dir / "adapter.safetensors"
    write_adapter(out, adapter_state(weights), config, fingerprint(weights))
    print(f"wrote {out}: {len(adapter_state(weights)) // 2} adapted layers")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    tensors, config, base = read_adapter(args.adapter)
    n = sum(v.size for v in tensors.values())
    print(f"{args.adapter}: LoRA r={config.r} alpha={config.alpha:g} scale={config.scale:g} "
          f"rslora={config.rslora} on {', '.join(config.target_modules)}")
    print(f"{len(tensors) // 2} layers, {n:,} parameters; base fingerprint {base}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    tensors, config, expected = read_adapter(args.adapter)
    base = {k: v for k, v in model_weights(args.base).items() if not k.endswith(("lora_A", "lora_B"))}
    check_base(args.adapter, expected, fingerprint(base))
    checkpoint.save(args.output, merge_weights(base, tensors, config), {"stage": "lora-merged"})
    print(f"wrote {args.output}: base + LoRA merged ({len(tensors) // 2} layers)")
    return 0


def add_lora_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("lora", help="LoRA adapter files: export, info, merge",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="lora_command", required=True)
    e = sub.add_parser("export", help="write the adapter-only file of a finished lm run")
    e.add_argument("run", type=Path, help="the run folder (results/<spec>/runs/<id>)")
    e.add_argument("-o", "--output", type=Path, default=None,
                   help="default: RUN/adapter.safetensors")
    e.set_defaults(func=cmd_export)
    i = sub.add_parser("info", help="describe an adapter file")
    i.add_argument("adapter", type=Path)
    i.set_defaults(func=cmd_info)
    m = sub.add_parser("merge", help="fold an adapter into its base: a plain checkpoint")
    m.add_argument("--base", required=True, type=Path, help="base run folder or checkpoint")
    m.add_argument("--adapter", required=True, type=Path)
    m.add_argument("-o", "--output", required=True, type=Path)
    m.set_defaults(func=cmd_merge)
