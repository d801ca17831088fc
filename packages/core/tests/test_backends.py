"""Backends: the same services in torch and MLX; checkpoints that cross frameworks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scratchlab.core import checkpoint
from scratchlab.core.classify import MLPConfig
from scratchlab.core.errors import CheckpointError
from scratchlab.core.testing import BACKENDS, assert_close, needs_both


def make_mlp(backend: str):
    if backend == "torch":
        from scratchlab.core.classify.torch import MLP
    else:
        from scratchlab.core.classify.mlx import MLP
    return MLP(MLPConfig(hidden=8, depth=2), 2, 3)


def get(name: str):
    from scratchlab.core.backends import get_backend

    return get_backend(name)


@needs_both
def test_state_dicts_have_identical_names_and_shapes() -> None:
    t = get("torch").state_dict(make_mlp("torch"))
    m = get("mlx").state_dict(make_mlp("mlx"))
    assert {k: v.shape for k, v in t.items()} == {k: v.shape for k, v in m.items()}


@needs_both
def test_torch_checkpoint_loads_into_mlx_and_gives_same_outputs(tmp_path: Path) -> None:
    import mlx.core as mx
    import torch

    tm, mm = make_mlp("torch"), make_mlp("mlx")
    checkpoint.save(tmp_path / "c.safetensors", checkpoint.join("model", get("torch").state_dict(tm)))
    tensors, _ = checkpoint.load(tmp_path / "c.safetensors")
    get("mlx").load_state_dict(mm, checkpoint.split(tensors, "model"))
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    assert_close(mm(mx.array(x)), tm(torch.from_numpy(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_params(backend: str) -> None:
    assert get(backend).count_params(make_mlp(backend)) == (2 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_load_state_dict_rejects_mismatch(backend: str) -> None:
    b = get(backend)
    sd = b.state_dict(make_mlp(backend))
    sd["layers.0.weight"] = np.zeros((4, 4), np.float32)
    with pytest.raises(CheckpointError, match="shape"):
        b.load_state_dict(make_mlp(backend), sd)
    del sd["layers.0.weight"]
    with pytest.raises(CheckpointError, match="missing"):
        b.load_state_dict(make_mlp(backend), sd)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rng_state_round_trip(backend: str) -> None:
    b = get(backend)
    b.seed(7)
    state = b.rng_state()
    first = _draw(backend)
    b.set_rng_state(state)
    assert np.array_equal(first, _draw(backend))


def _draw(backend: str) -> np.ndarray:
    if backend == "torch":
        import torch

        return torch.rand(4).numpy()
    import mlx.core as mx

    return np.array(mx.random.uniform(shape=(4,)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_step_clips_and_updates(backend: str) -> None:
    b = get(backend)
    model = make_mlp(backend)
    x = np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32)
    y = np.arange(16) % 3
    if backend == "torch":
        import torch

        from scratchlab.core.classify.torch import loss_fn
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        batch = (torch.from_numpy(x), torch.from_numpy(y))
    else:
        import mlx.core as mx
        import mlx.optimizers as optim

        from scratchlab.core.classify.mlx import loss_fn
        opt = optim.SGD(learning_rate=0.1)
        batch = (mx.array(x), mx.array(y))
    before = b.state_dict(model)
    loss, aux = b.TrainStep(model, loss_fn, opt, clip_norm=1e-3)(*batch)
    after = b.state_dict(model)
    assert float(aux["grad_norm"]) > 1e-3  # reported before clipping
    moved = np.sqrt(sum(((after[k] - before[k]) ** 2).sum() for k in before))
    assert moved == pytest.approx(0.1 * 1e-3, rel=1e-3)  # SGD step of a clipped gradient


def test_corrupt_and_missing_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoint.load(tmp_path / "none.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        checkpoint.load(bad)
    good = tmp_path / "good.safetensors"
    checkpoint.save(good, {"a": np.ones(3, np.float32)}, {"step": 3})
    good.write_bytes(good.read_bytes()[:-4])  # truncated by a crash
    with pytest.raises(CheckpointError):
        checkpoint.load(good)


def test_checkpoint_round_trip_keeps_state(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    checkpoint.save(path, {"model.w": np.arange(6, dtype=np.float32).reshape(2, 3)},
                    {"step": 12, "rng": {"a": [1, 2]}})
    tensors, state = checkpoint.load(path)
    assert state == {"step": 12, "rng": {"a": [1, 2]}}
    assert np.array_equal(tensors["model.w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_framework_gives_install_command(monkeypatch) -> None:
    from scratchlab.core import backends
    from scratchlab.core.errors import ScratchlabError

    monkeypatch.setattr(backends, "available", lambda name: False)
    with pytest.raises(ScratchlabError, match="pip install"):
        backends.require("mlx")


def test_compiled_mlx_step_resumes_from_a_restored_optimizer_state() -> None:
    """A checkpoint restored after the TrainStep was built replaces the optimizer's state: the
    compiled step must still run, and continue exactly like an uncompiled one."""
    pytest.importorskip("mlx.core")
    import mlx.core as mx
    import mlx.optimizers as optim

    from scratchlab.core.classify.mlx import loss_fn

    b = get("mlx")
    x = mx.array(np.random.default_rng(0).standard_normal((16, 2)).astype(np.float32))
    y = mx.array(np.arange(16) % 3)
    source, source_opt = make_mlp("mlx"), optim.Adam(learning_rate=0.01)
    b.TrainStep(source, loss_fn, source_opt)(x, y)  # one step: Adam has moments to save
    weights = b.state_dict(source)
    tensors, meta = b.optimizer_state(source_opt, source)
    results = []
    for compile in (False, True):
        model, opt = make_mlp("mlx"), optim.Adam(learning_rate=0.01)
        b.load_state_dict(model, weights)
        step = b.TrainStep(model, loss_fn, opt, compile=compile)
        opt.init(model.trainable_parameters())
        b.load_optimizer_state(opt, model, tensors, meta)  # as a resume does, after building
        for _ in range(3):
            step(x, y)
        results.append(b.state_dict(model))
    for k in results[0]:
        assert_close(results[1][k], results[0][k], atol=1e-6, rtol=1e-5)
