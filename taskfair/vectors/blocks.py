"""Blocks of layers for layer-wise coefficients: each parameter tensor belongs to the embeddings,
to a range of transformer layers, or to the head (everything after the layers: pooler, final
norm, classifier).

By default the layers split in two halves, giving four blocks: ``embeddings``, ``lower``,
``upper``, ``head``. ``bounds`` (the first layer of each block after the first) give other splits:
``(2, 4)`` on a 6-layer model gives ``embeddings``, ``layers 0-1``, ``layers 2-3``, ``layers 4-5``,
``head``."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

__all__ = ["DEFAULT_BLOCKS", "layer_index", "block_names", "assign_blocks"]

DEFAULT_BLOCKS = ("embeddings", "lower", "upper", "head")
# ``encoder.layer.3.``, ``model.layers.3.``, ``transformer.h.3.``, ``blocks.3.`` …
_EMBED = re.compile(r"embed|(?:^|\.)(?:wte|wpe|shared)(?:\.|$)")  # GPT-2's wte/wpe, T5's shared
_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)(?:\.|$)")


def layer_index(name: str) -> int | None:
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def _n_layers(names: Iterable[str]) -> int:
    idx = [i for n in names if (i := layer_index(n)) is not None]
    return max(idx) + 1 if idx else 0


def _bounds(n_layers: int, bounds: Sequence[int] | None) -> tuple[int, ...]:
    if not bounds:  # two halves (on a one-layer model the lower block is empty)
        return (n_layers // 2,)
    b = tuple(int(x) for x in bounds)
    if list(b) != sorted(set(b)) or not all(0 < x < n_layers for x in b):
        raise ValueError(f"layer bounds {list(b)} must be increasing layer indices between 1 and {n_layers - 1} "
                         f"(this model has {n_layers} layers)")
    return b


def block_names(n_layers: int, bounds: Sequence[int] | None = None) -> tuple[str, ...]:
    """The blocks of a model with ``n_layers`` layers, in order."""
    b = _bounds(n_layers, bounds)
    if not bounds:
        return DEFAULT_BLOCKS
    edges = (0,) + b + (n_layers,)
    return ("embeddings",) + tuple(f"layers {a}-{c - 1}" for a, c in zip(edges, edges[1:])) + ("head",)


def assign_blocks(names: Sequence[str], bounds: Sequence[int] | None = None) -> tuple[dict[str, str], tuple[str, ...]]:
    """``({tensor name: block}, block names in order)`` for the parameter names of one model. A
    tensor outside the layers is in ``embeddings`` when its name says so (``embed``), else in
    ``head``."""
    stacks = sorted({name[:m.start()] for name in names if (m := _LAYER.search(name))})
    if len(stacks) > 1:
        raise ValueError(f"layer-wise blocks need one stack of numbered layers; this model has {len(stacks)} "
                         f"({', '.join(s or '(top)' for s in stacks[:4])}), e.g. an encoder and a decoder")
    n = _n_layers(names)
    b = _bounds(n, bounds)
    blocks = block_names(n, bounds)
    edges = (0,) + b + (n,)
    out = {}
    for name in names:
        i = layer_index(name)
        if i is None:
            out[name] = "embeddings" if _EMBED.search(name.lower()) else "head"
            continue
        j = next(k for k in range(len(edges) - 1) if edges[k] <= i < edges[k + 1])
        out[name] = blocks[1 + j]
    return out, blocks
