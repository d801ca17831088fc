"""Schedules: the multipliers at the points that define them, and bounds for any length."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchlab.optim import schedules as S


def values(f, n: int) -> list[float]:
    return [f(i) for i in range(n)]


def test_constant_and_warmup() -> None:
    assert values(S.constant(S.ConstantConfig(), 5), 5) == [1.0] * 5
    assert values(S.warmup(S.WarmupConfig(warmup=3), 10), 5) == [0.25, 0.5, 0.75, 1.0, 1.0]


def test_cosine_runs_from_one_to_min_ratio() -> None:
    f = S.cosine(S.CosineConfig(warmup=4, min_lr_ratio=0.1), 24)
    assert values(f, 5) == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert f(23) == pytest.approx(0.1)
    assert f(14) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 10 / 19)))
    assert f(100) == pytest.approx(0.1)  # past the end it stays at the floor
    v = values(f, 24)
    assert all(a >= b for a, b in zip(v[4:], v[5:]))


def test_wsd_plateau_then_decay() -> None:
    f = S.wsd(S.WSDConfig(warmup=2, decay_fraction=0.25, min_lr_ratio=0.0), 20)
    assert f(0) == pytest.approx(1 / 3)
    assert values(f, 16)[2:] == [1.0] * 14  # decay starts at 20 - 5 = 15
    assert f(19) == pytest.approx(0.0)
    assert f(17) == pytest.approx(0.5)
    g = S.wsd(S.WSDConfig(decay_fraction=0.25, decay="sqrt"), 20)
    assert g(17) == pytest.approx(1 - math.sqrt(0.5))


def test_inverse_sqrt() -> None:
    f = S.inverse_sqrt(S.InverseSqrtConfig(warmup=4), 100)
    assert f(3) == 0.8 and f(4) == 1.0
    assert f(16) == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(total=st.integers(1, 300), warmup=st.integers(0, 50), ratio=st.floats(0, 1),
       name=st.sampled_from(["constant", "warmup", "cosine", "wsd", "inverse_sqrt"]))
def test_every_schedule_is_a_multiplier_in_0_1(total: int, warmup: int, ratio: float, name: str) -> None:
    cfg = {"constant": S.ConstantConfig(warmup), "warmup": S.WarmupConfig(warmup),
           "cosine": S.CosineConfig(warmup, ratio), "wsd": S.WSDConfig(warmup, 0.3, ratio),
           "inverse_sqrt": S.InverseSqrtConfig(warmup)}[name]
    f = getattr(S, name)(cfg, total)
    v = values(f, total + 2)
    assert all(0.0 <= x <= 1.0 for x in v)
    assert v[0] > 0 or (name == "wsd" and total == 1)
    if name in ("cosine", "wsd") and total > warmup + 1:
        assert v[total - 1] == pytest.approx(ratio)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="warmup"):
        S.CosineConfig(warmup=-1)
    with pytest.raises(ValueError, match="min_lr_ratio"):
        S.CosineConfig(min_lr_ratio=2.0)
    with pytest.raises(ValueError, match="decay_fraction"):
        S.WSDConfig(decay_fraction=1.5)
