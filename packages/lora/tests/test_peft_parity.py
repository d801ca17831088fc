"""Our torch LoRA against Hugging Face peft on a random-init GPT-2 (no download).

GPT-2's projections are ``Conv1D`` layers storing W as (in, out) (peft's ``fan_in_fan_out``);
both libraries keep A as (r, in) and B as (out, r), so the same A and B can be copied across."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from scratchlab.core.errors import ScratchlabError
from scratchlab.core.testing import HAS_TORCH, OP_TOL, assert_close
from scratchlab.lora import LoRAConfig

pytestmark = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

import torch  # noqa: E402

from scratchlab.lora.torch.adapter import apply_lora, lora_layers, merge, unload  # noqa: E402


def tiny_gpt2() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=61, n_positions=16, n_embd=32, n_layer=2, n_head=4,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(cfg).eval()


def pair(ours_targets: list[str], peft_targets: list[str], r: int, alpha: float,
         rslora: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(our adapted GPT-2, peft's) with the same nonzero A and B."""
    hf = tiny_gpt2()
    ours = apply_lora(LoRAConfig(r=r, alpha=alpha, rslora=rslora, target_modules=ours_targets),
                      copy.deepcopy(hf))
    theirs = peft.get_peft_model(copy.deepcopy(hf), peft.LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=peft_targets,
        fan_in_fan_out=True, use_rslora=rslora, init_lora_weights=True))
    gen = torch.Generator().manual_seed(1)
    theirs_params = dict(theirs.named_parameters())
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            layer.lora_B.copy_(0.2 * torch.randn(layer.lora_B.shape, generator=gen))
            for p in ("lora_A", "lora_B"):
                theirs_params[f"base_model.model.{name}.{p}.default.weight"].copy_(getattr(layer, p))
    return ours.eval(), theirs.eval()


CASES = [  # (ours, peft's, r, alpha, rslora)
    (["attn.c_attn"], ["c_attn"], 4, 8.0, False),
    (["attn.*", "mlp.*"], ["c_attn", "c_proj", "c_fc"], 2, 16.0, False),
    (["attn.c_attn", "mlp.c_fc"], ["c_attn", "c_fc"], 8, 4.0, True),
]


@pytest.mark.parametrize("ours_t,peft_t,r,alpha,rslora", CASES)
def test_outputs_match_peft_before_and_after_merge(ours_t, peft_t, r, alpha, rslora) -> None:
    ours, theirs = pair(ours_t, peft_t, r, alpha, rslora)
    idx = torch.randint(0, 61, (2, 12), generator=torch.Generator().manual_seed(2))
    base = tiny_gpt2()(idx).logits
    with torch.no_grad():
        out, want = ours(idx).logits, theirs(idx).logits
    assert_close(out, want, **OP_TOL)
    assert not torch.allclose(out, base, atol=1e-3)  # the adapters do something
    merge(ours)
    merged_theirs = theirs.merge_and_unload()
    with torch.no_grad():
        assert_close(ours(idx).logits, merged_theirs(idx).logits, **OP_TOL)
    sd_ours, sd_theirs = ours.state_dict(), merged_theirs.state_dict()
    for name in lora_layers(ours):
        assert_close(sd_ours[f"{name}.weight"], sd_theirs[f"{name}.weight"], **OP_TOL, msg=name)
    unload(ours)
    assert sorted(ours.state_dict()) == sorted(sd_theirs)
    with torch.no_grad():
        assert_close(ours(idx).logits, merged_theirs(idx).logits, **OP_TOL)


def test_gradients_and_trainable_count_match_peft() -> None:
    ours, theirs = pair(["attn.*", "mlp.*"], ["c_attn", "c_proj", "c_fc"], 4, 8.0, False)
    idx = torch.randint(0, 61, (2, 10), generator=torch.Generator().manual_seed(3))
    ours(idx, labels=idx).loss.backward()
    theirs(idx, labels=idx).loss.backward()
    grads = {n: p.grad for n, p in ours.named_parameters() if p.requires_grad}
    theirs_grads = {n.replace("base_model.model.", "").replace(".default.weight", ""): p.grad
                    for n, p in theirs.named_parameters() if p.requires_grad}
    assert sorted(grads) == sorted(theirs_grads)
    for k in grads:
        assert_close(grads[k], theirs_grads[k], **OP_TOL, msg=k)
    trainable, total = theirs.get_nb_trainable_parameters()
    assert (ours.lora_report.trainable, ours.lora_report.total) == (trainable, total)


def test_tied_lm_head_is_refused() -> None:
    with pytest.raises(ScratchlabError, match="tied weights"):
        apply_lora(LoRAConfig(target_modules=["lm_head"]), tiny_gpt2())


def test_merge_is_exact_in_float64() -> None:
    """In float64 the merged model equals the adapted one to 1e-12: merging loses nothing."""
    ours, _ = pair(["attn.*", "mlp.*"], ["c_attn", "c_proj", "c_fc"], 4, 8.0, False)
    ours = ours.double()
    idx = torch.randint(0, 61, (2, 12), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        before = ours(idx).logits.numpy()
        merge(ours)
        np.testing.assert_allclose(ours(idx).logits.numpy(), before, rtol=1e-12, atol=1e-12)
