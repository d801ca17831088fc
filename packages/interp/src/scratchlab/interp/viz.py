"""Pictures of what a model does: attention patterns per head (PNG and a self-contained HTML
page, in the spirit of CircuitsVis), and an SAE feature page of top-activating contexts.
NumPy in, files out; no framework and no JavaScript library needed."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.core.checkpoint import atomic_write_text
from scratchlab.core.results import save_figure
from scratchlab.interp.report import _plt


def attention_png(patterns: dict[int, np.ndarray], labels: Sequence[str], path: Path,
                  title: str = "") -> None:
    """A grid of heatmaps, one row per layer and one column per head. patterns: layer ->
    (heads, T, T) attention of one sequence (rows: queries, columns: keys)."""
    plt = _plt()
    layers = sorted(patterns)
    n_heads = max(p.shape[0] for p in patterns.values())
    fig, axes = plt.subplots(len(layers), n_heads, figsize=(2.6 * n_heads, 2.6 * len(layers)),
                             squeeze=False)
    for r, layer in enumerate(layers):
        for h in range(n_heads):
            ax = axes[r][h]
            ax.imshow(patterns[layer][h], cmap="Blues", vmin=0, vmax=1)
            ax.set_title(f"L{layer}H{h}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


_ATTN_JS = """
const data = DATA;
const sel = document.getElementById('head'), toks = document.getElementById('tokens');
for (const k of Object.keys(data.patterns)) sel.add(new Option(k, k));
function paint(q) {
  const p = data.patterns[sel.value];
  [...toks.children].forEach((el, j) => {
    const a = q === null ? 0 : (p[q][j] || 0);
    el.style.background = `rgba(33, 102, 172, ${a})`;
    el.style.color = a > 0.5 ? 'white' : 'black';
    el.style.outline = j === q ? '2px solid #d6604d' : 'none';
  });
}
data.labels.forEach((t, i) => {
  const s = document.createElement('span'); s.textContent = t; s.className = 'tok';
  s.onmouseenter = () => paint(i); toks.appendChild(s);
});
sel.onchange = () => paint(null);
"""


def attention_html(patterns: dict[int, np.ndarray], labels: Sequence[str], path: Path,
                   title: str = "attention patterns") -> None:
    """A page where hovering a token colours every earlier token by how much the chosen head
    attends to it."""
    data = {"labels": [str(t) for t in labels],
            "patterns": {f"L{layer}H{h}": np.round(p[h], 3).tolist()
                         for layer, p in sorted(patterns.items()) for h in range(p.shape[0])}}
    page = f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
.tok{{display:inline-block;padding:2px 4px;margin:1px;border-radius:3px;font-family:monospace;
border:1px solid #ddd}}</style>
<h2>{html.escape(title)}</h2>
<p>head <select id="head"></select> — hover a token (query) to see where the head attends.</p>
<div id="tokens"></div>
<script>{_ATTN_JS.replace("DATA", json.dumps(data))}</script>
"""
    atomic_write_text(path, page)


def feature_page(features: Sequence[dict[str, Any]], path: Path,
                 title: str = "SAE features") -> None:
    """One section per latent: how often it fires, and its top-activating contexts with each
    token shaded by the latent's activation. features: dicts with ``latent``, ``frequency``,
    ``max_act`` and ``examples`` (each ``{"tokens": [str], "acts": [float]}``, the last token
    being the maximum)."""
    parts = [f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}
.ctx{{font-family:monospace;white-space:pre;margin:2px 0}} .ctx span{{border-radius:2px}}
h3{{margin-bottom:0.2em}}</style><h2>{html.escape(title)}</h2>"""]
    for feat in features:
        parts.append(f"<h3>latent {feat['latent']}</h3><p>fires on "
                     f"{100 * feat['frequency']:.2f}% of tokens; max activation "
                     f"{feat['max_act']:.3g}</p>")
        for ex in feat["examples"]:
            peak = max(max(ex["acts"]), 1e-9)
            spans = "".join(
                f'<span style="background:rgba(214,96,77,{min(a / peak, 1):.2f})" '
                f'title="{a:.3g}">{html.escape(t)}</span>' for t, a in zip(ex["tokens"], ex["acts"]))
            parts.append(f'<div class="ctx">{spans}</div>')
    atomic_write_text(path, "\n".join(parts) + "\n")


def top_contexts(acts: np.ndarray, tokens: np.ndarray, decode: Any, latents: Sequence[int],
                 n_examples: int = 8, window: int = 24) -> list[dict[str, Any]]:
    """For each latent, the ``n_examples`` token positions where it is largest, with the
    ``window`` tokens before each. acts: (batch, T, d_sae); tokens: (batch, T)."""
    out = []
    flat = acts.reshape(-1, acts.shape[-1])
    T = tokens.shape[1]
    for latent in latents:
        col = flat[:, latent]
        best = np.argsort(col)[::-1][:n_examples]
        examples = []
        for idx in best:
            if col[idx] <= 0:
                break
            b, t = divmod(int(idx), T)
            lo = max(0, t - window + 1)
            examples.append({"tokens": [decode([int(x)]) for x in tokens[b, lo:t + 1]],
                             "acts": [float(a) for a in acts[b, lo:t + 1, latent]]})
        out.append({"latent": int(latent), "frequency": float((col > 0).mean()),
                    "max_act": float(col.max()), "examples": examples})
    return out
