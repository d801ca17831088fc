"""Which linear layers get an adapter: fnmatch patterns on dotted module names.

A pattern is tried against a layer's full name (``blocks.3.attn.q``, ``lm_head``) and against
its name relative to the innermost numbered block (``attn.q``), so ``[attn.q, attn.v, "mlp.*"]``
targets those layers in every block and ``lm_head`` the head.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

from scratchlab.core.errors import ScratchlabError, did_you_mean

_INDEX = re.compile(r"(?:^|\.)\d+\.")


def relative_name(name: str) -> str:
    """``blocks.3.attn.q`` -> ``attn.q``: the part after the last numeric path component."""
    matches = list(_INDEX.finditer(name))
    return name[matches[-1].end():] if matches else name


def matches(name: str, pattern: str) -> bool:
    return fnmatchcase(name, pattern) or fnmatchcase(relative_name(name), pattern)


def select_targets(linear_names: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The names of ``linear_names`` matched by any pattern, in model order.

    Every pattern must match at least one linear layer: a typo should not silently train
    nothing."""
    names = list(linear_names)
    patterns = list(patterns)
    for pattern in patterns:
        if not any(matches(n, pattern) for n in names):
            choices = sorted({relative_name(n) for n in names} | set(names))
            shown = sorted({relative_name(n) for n in names})
            tied = (" (a model with tied weights computes its output layer with the token "
                    "embedding, so it has no lm_head: set tie_weights: false to adapt it)"
                    if "lm_head" in pattern else "")
            raise ScratchlabError(
                f"LoRA target_modules pattern '{pattern}' matches no linear layer of the model"
                f"{did_you_mean(pattern, choices)}{tied}; its linear layers are (relative to "
                f"each block): {', '.join(shown) or 'none'}.")
    return [n for n in names if any(matches(n, p) for p in patterns)]
