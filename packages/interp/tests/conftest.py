"""Tiny models only: one torch thread keeps these tests quick on a shared 2-core machine."""

import importlib.util

if importlib.util.find_spec("torch") is not None:
    import torch

    torch.set_num_threads(1)
