"""`scratchlab generate`: a finished lm run continues a prompt, greedy decoding equals an
argmax loop over the plain forward pass, the MLX twin gives the same text from the same weights,
and bad input is one clear line with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchlab.core.cli import main
from scratchlab.core.config import build_config
from scratchlab.core.runner import run_one
from scratchlab.core.spec import Run
from scratchlab.core.testing import needs_both, needs_torch
from scratchlab.transformer.lm.config import LMConfig

RAW = {
    "data": {"dataset": {"name": "default", "part": "docs", "max_bytes": 30000},
             "tokenizer": "char", "block_size": 16},
    "model": {"name": "gpt", "d_model": 32, "n_layers": 2, "n_heads": 2, "positional": "rope"},
    "optimizer": {"name": "adamw", "lr": 1e-2},
    "train": {"steps": 8, "batch_size": 4, "eval_every": 8, "eval_batches": 1},
    "eval": {"sample_tokens": 0},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("gen") / "runs" / "a"
    result = run_one("lm", Run("a", "base", 0, "torch", build_config(LMConfig, RAW)), folder)
    assert result.status == "ok", result.error
    return folder


def generate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["generate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def greedy_reference(run_dir: Path, prompt: str, n: int) -> str:
    """Argmax of the full forward pass at every step: no cache, no sampling code."""
    import torch

    from scratchlab.transformer.cli import load_run

    model, tokenizer, _, _ = load_run(run_dir, "torch")
    ids = tokenizer.encode(prompt)
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids[-model.max_seq_len:]]))
            ids.append(int(logits[0, -1].argmax()))
    return tokenizer.decode(ids)


@needs_torch
def test_greedy_matches_argmax_of_the_forward_pass(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = generate(capsys, "--run", str(run_dir), "--prompt", "The ",
                            "--max-new-tokens", "24", "--temperature", "0")
    assert code == 0
    # 24 new tokens on a context of 16: the cache is refilled on the way, as the window slides
    assert out == greedy_reference(run_dir, "The ", 24) + "\n"


@needs_torch
def test_sampling_is_seeded_and_cache_free_path_agrees(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--run", str(run_dir), "--prompt", "if", "--max-new-tokens", "12",
            "--temperature", "0.9", "--top-k", "10", "--top-p", "0.95"]
    a = generate(capsys, *args, "--seed", "3")
    b = generate(capsys, *args, "--seed", "3")
    c = generate(capsys, *args, "--seed", "3", "--no-cache")
    assert a[0] == 0 and a == b == c
    assert a[1].startswith("if") and len(a[1]) == len("if") + 12 + 1


@needs_both
def test_mlx_backend_generates_the_same_text(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--run", str(run_dir), "--prompt", "class ", "--max-new-tokens", "10",
            "--temperature", "0"]
    torch_out = generate(capsys, *args)
    mlx_out = generate(capsys, *args, "--backend", "mlx")
    assert torch_out[0] == mlx_out[0] == 0
    assert torch_out[1] == mlx_out[1]


@needs_torch
@pytest.mark.parametrize(("args", "message"), [
    (["--run", "/nonexistent/run"], "is not a folder"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    (["--prompt", ""], "--prompt is empty"),
    (["--prompt", "\u2603"], "not in this char tokenizer"),
])
def test_bad_input_is_one_clear_line(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                     args: list[str], message: str) -> None:
    base = {"--run": str(run_dir), "--prompt": "a", "--max-new-tokens": "3"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    code, _, err = generate(capsys, *[x for kv in base.items() for x in kv])
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err


@needs_torch
def test_stream_text_holds_back_partial_utf8() -> None:
    from scratchlab.core.data import ByteTokenizer
    from scratchlab.transformer.cli import stream_text

    tok = ByteTokenizer()
    snowman = list("\u2603".encode())  # three bytes, one character
    pieces = list(stream_text(tok, tok.encode("a"), iter([*snowman, ord("b")])))
    assert pieces == ["\u2603", "b"]
    assert "".join(pieces) == "\u2603b"
