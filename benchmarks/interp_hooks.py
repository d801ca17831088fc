"""What looking inside costs: a GPT forward pass plain, with every activation cached
(run_with_cache) and with one patching hook (run_with_hooks); and an SAE training step
(TopK with AuxK vs ReLU), in torch and MLX.

    python benchmarks/interp_hooks.py                     # the full measurement
    python benchmarks/interp_hooks.py --steps 3 --no-write
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.bench import write_section
from scratchlab.core.memory import keep_freed_memory

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
VOCAB, T, B = 256, 128, 16
D_IN, D_SAE, SAE_BATCH = 128, 1024, 1024




def timed(fn: Any, steps: int) -> float:
    fn()  # warm-up (and MLX's first evaluation)
    tic = time.perf_counter()
    for _ in range(steps):
        fn()
    return 1000 * (time.perf_counter() - tic) / steps


def bench(backend: str, steps: int) -> dict[str, float]:
    from scratchlab.core.config import resolve_choice
    from scratchlab.interp import sae as S

    model = resolve_choice("model", {"name": "gpt", "d_model": 128, "n_layers": 4, "n_heads": 4,
                                     "attention": {"name": "causal", "fused": False}}
                           ).build(backend, VOCAB, T)
    tokens = np.random.default_rng(0).integers(0, VOCAB, (B, T))
    x_sae = np.random.default_rng(1).standard_normal((SAE_BATCH, D_IN)).astype(np.float32)
    if backend == "torch":
        import torch

        from scratchlab.interp.torch import hooks, sae
        x = torch.from_numpy(tokens)
        model.eval()

        def plain() -> Any:
            with torch.no_grad():
                return model(x)
        arr, dead = torch.from_numpy, torch.zeros(D_SAE, dtype=torch.bool)
        dead[: D_SAE // 2] = True

        def opt_for(m: Any) -> Any:
            return torch.optim.Adam(m.parameters(), lr=1e-3)
    else:
        import mlx.core as mx
        import mlx.optimizers as optim

        from scratchlab.interp.mlx import hooks, sae
        x = mx.array(tokens)

        def plain() -> Any:
            out = model(x)
            mx.eval(out)
            return out
        arr, dead = mx.array, mx.array(np.arange(D_SAE) < D_SAE // 2)

        def opt_for(m: Any) -> Any:
            return optim.Adam(learning_rate=1e-3, bias_correction=True)
    out = {"forward_ms": timed(plain, steps),
           "cache_ms": timed(lambda: hooks.run_with_cache(model, x), steps),
           "patch_ms": timed(lambda: hooks.run_with_hooks(
               model, x, [("blocks.1.hook_resid_post", lambda a, n: a * 0.5)]), steps)}
    for name, cfg in (("topk", S.TopKSAEConfig(d_sae=D_SAE, k=32, aux_k=256)),
                      ("relu", S.ReLUSAEConfig(d_sae=D_SAE))):
        m = (sae.topk_sae if name == "topk" else sae.relu_sae)(cfg, D_IN)
        opt = opt_for(m)
        out[f"sae_{name}_ms"] = timed(lambda m=m, opt=opt: sae.train_step(m, opt, arr(x_sae), dead),
                                      steps)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--backends", nargs="+", default=["torch", "mlx"])
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md")
    args = p.parse_args()
    keep_freed_memory()  # as run-exp does for every run (core/memory.py)
    rows = []
    for backend in args.backends:
        r = bench(backend, args.steps)
        rows.append(f"| {backend} | {r['forward_ms']:.1f} | {r['cache_ms']:.1f} | "
                    f"{r['patch_ms']:.1f} | {r['sae_topk_ms']:.1f} | {r['sae_relu_ms']:.1f} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "## Interpretability: hooks and SAE training steps",
        "",
        f"`python benchmarks/interp_hooks.py --steps {args.steps}` on {platform.machine()} "
        f"({platform.system()}); GPT 4 x 128 (explicit attention), batch {B} x {T}; SAE "
        f"{D_IN} -> {D_SAE} latents, batch {SAE_BATCH}, half the latents dead (AuxK active). "
        "Times in ms.",
        "",
        "| backend | forward | run_with_cache (all hooks) | run_with_hooks (1 patch) "
        "| TopK SAE step (k=32, AuxK) | ReLU SAE step |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section("interp_hooks", body, DOC)


if __name__ == "__main__":
    main()
