"""The ``sae`` task's language-model source in PyTorch: train a small LM (or load one that an
``lm`` run trained), read one hook point's activations, and splice the SAE back in. Mirrors
mlx/sae_lm.py name for name."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from scratchlab.core.backends import torch as backend
from scratchlab.core.data import eval_batches, random_batch
from scratchlab.interp import sae as S
from scratchlab.interp import viz
from scratchlab.interp.lmdata import load_lm_run, load_tokens
from scratchlab.interp.torch.hooks import run_with_cache
from scratchlab.interp.torch.lm import mean_loss, train_lm


class LMActivations:
    def __init__(self, cfg: S.SAETaskConfig, ctx: Any, rng: np.random.Generator) -> None:
        lm = self.lm = cfg.lm
        self.lm_loss: float | None = None
        self.model: Any  # a gpt (with its adapter, if the lm run had one)
        if lm.run is not None:  # a model the lm task trained: its weights, text and tokenizer
            from scratchlab.transformer.lm.torch import load_model

            run = load_lm_run(lm.run, lm.block_size)
            self.tok, train_ids, self.val_ids = run.tokenizer, run.train_ids, run.val_ids
            self.model = load_model(run.config, self.tok.vocab_size, run.tensors)
            ctx.log(f"loaded the LM of {lm.run}")
        else:
            self.tok, train_ids, self.val_ids = load_tokens(lm.dataset, lm.tokenizer)
            self.model = lm.model.build("torch", self.tok.vocab_size, lm.block_size)
            ctx.log(f"training the LM for {lm.steps} steps")
            self.lm_loss = train_lm(self.model, lambda: random_batch(train_ids, lm.block_size,
                                                                     lm.batch_size, rng),
                                    lm.steps, lm.lr)
        self.model.eval()
        n_seq = max(1, lm.buffer_tokens // lm.block_size)
        train_x, _ = random_batch(train_ids, lm.block_size, n_seq, rng)
        self.buffer = self.activations(train_x).reshape(-1, self.d_model)
        self.scale = S.scale_factor(self.buffer)
        self.buffer *= self.scale
        self.val_x = np.concatenate([x for x, _ in eval_batches(self.val_ids, lm.block_size,
                                                                 lm.batch_size, lm.eval_batches)])
        self.val_acts = self.activations(self.val_x) * self.scale

    @property
    def d_model(self) -> int:
        return int(self.model.config.d_model)

    def activations(self, x: np.ndarray, chunk: int = 64) -> np.ndarray:
        outs = []
        for i in range(0, len(x), chunk):
            _, cache = run_with_cache(self.model, torch.from_numpy(x[i:i + chunk]),
                                      names_filter=self.lm.hook)
            outs.append(backend.to_numpy(cache[self.lm.hook]))
        return np.concatenate(outs)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.buffer[rng.integers(0, len(self.buffer), n)]

    def eval_set(self, n: int) -> np.ndarray:
        return self.val_acts.reshape(-1, self.val_acts.shape[-1])[:n]

    def finish(self, sae: Any, ctx: Any) -> dict[str, float]:
        """Loss recovered (clean, SAE spliced in, zero-ablated) and the feature page."""
        def splice(x: torch.Tensor, name: str) -> torch.Tensor:
            return sae(x * self.scale)[0] / self.scale

        def zero(x: torch.Tensor, name: str) -> torch.Tensor:
            return torch.zeros_like(x)

        lm = self.lm
        batches = list(eval_batches(self.val_ids, lm.block_size, lm.batch_size, lm.eval_batches))
        with torch.no_grad():
            ce_clean = mean_loss(self.model, batches)
            ce_sae = mean_loss(self.model, batches, [(lm.hook, splice)])
            ce_zero = mean_loss(self.model, batches, [(lm.hook, zero)])
            f = sae.encode(torch.from_numpy(self.val_acts)).numpy()
        if ctx.config.feature_page:
            feats = viz.top_contexts(f, self.val_x, self.tok.decode,
                                     S.feature_latents(f, lm.n_feature_page))
            viz.feature_page(feats, ctx.path("features.html"),
                             f"SAE features at {lm.hook}")
        out = {"ce_clean": ce_clean, "ce_sae": ce_sae, "ce_zero_ablation": ce_zero,
               "loss_recovered": S.loss_recovered(ce_clean, ce_sae, ce_zero)}
        if self.lm_loss is not None:
            out["lm_train_loss"] = self.lm_loss
        return out
