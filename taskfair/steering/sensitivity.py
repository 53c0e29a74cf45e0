"""Task-vector analysis: norms per vector and per layer, the cosine-similarity matrix between
subgroup vectors, and how vector norm and subgroup size relate to the change in DPD/EOD as λ
grows (the slope of the subgroup's own DPD/EOD along its axis ``θ0 + λ τ_g`` and along its
injection into FFT ``θ_FFT + λ τ_g``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics.inference import slope_weights
from ..store.results import RunResults
from ..vectors.taskvector import cosine_matrix

__all__ = ["vector_tables", "sensitivity"]


def _norms(results: RunResults, seed: int) -> tuple[pd.DataFrame, list]:
    """``norms`` (vector, norm, training rows) of one seed's stored vectors — FFT, LoRA and one
    per subgroup — and the vectors themselves."""
    run = results.open_run()
    names = ["fft", "lora", *results.groups]
    vecs = [run.task_vector(seed, n) for n in names]
    train = np.asarray(run.split_indices(seed)["train"])
    member = results.data[list(results.groups)].to_numpy(dtype=bool)[train]
    sizes = {"fft": len(train), "lora": len(train)}
    sizes.update({g: int(member[:, j].sum()) for j, g in enumerate(results.groups)})
    norms = pd.DataFrame({"vector": names, "norm": [v.norm() for v in vecs],
                          "training rows": [sizes[n] for n in names]})
    return norms, vecs


def vector_tables(results: RunResults, seed: int | None = None) -> dict[str, pd.DataFrame]:
    """``norms`` (vector, norm, training rows), ``layers`` (vector, layer, norm) and ``cosine``
    (a square frame) for one seed's stored vectors: FFT, LoRA and one per subgroup."""
    seed = next(iter(results.seeds)) if seed is None else seed
    norms, vecs = _norms(results, seed)
    names = norms["vector"].tolist()
    layers = pd.DataFrame([{"vector": n, "layer": layer, "norm": value}
                           for n, v in zip(names, vecs) for layer, value in v.layer_norms().items()])
    cos = pd.DataFrame(cosine_matrix(vecs).numpy(), index=names, columns=names)
    return {"norms": norms, "layers": layers, "cosine": cos}


def _slope(lams: np.ndarray, values: np.ndarray) -> float:
    """The least-squares slope through the finite values (NaN with fewer than two)."""
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return float("nan")
    return float(_slopes(lams[ok], values[ok][None, :])[0])


def _slopes(lams: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares slopes of ``values [B, T]`` against ``lams [T]``, one per row (NaN where a
    row has a NaN)."""
    if len(np.unique(lams)) < 2:
        return np.full(len(values), np.nan)
    return values @ slope_weights(lams)


def sensitivity(results: RunResults, split: str = "test", *, n_boot: int = 200) -> pd.DataFrame:
    """Per subgroup and seed: its training rows, its vector's norm, and the least-squares slope of
    its own DPD and EOD (and of overall accuracy) per unit λ along its axis and its injection,
    each with a 95% bootstrap interval (``… low`` / ``… high``): the evaluation examples are
    resampled once and the whole line refitted on each resample, so the interval says whether
    a slope is distinguishable from noise (``n_boot=0``: no intervals)."""
    from ..metrics.fairness import bootstrap_counts, group_rates

    m = results.metrics
    rows = []
    for seed, sr in results.seeds.items():
        norms = _norms(results, seed)[0].set_index("vector")   # the cosine and layer tables are not needed
        labels, masks = sr.labels[split], sr.masks[split]
        counts = bootstrap_counts(len(labels), n_boot, seed) if n_boot else None
        for gi, g in enumerate(results.groups):
            row = {"seed": seed, "subgroup": g, "training rows": int(norms.loc[g, "training rows"]),
                   "norm": float(norms.loc[g, "norm"])}
            for family in ("axis", "inject"):
                part = m[(m.seed == seed) & (m.split == split) & (m.family == family) & (m.target == g)]
                for metric, group in (("dpd", g), ("eod", g), ("accuracy", "(all)")):
                    p = part[(part.metric == metric) & (part.group == group)].sort_values("lam")
                    row[f"{family} d{metric}/dλ"] = _slope(p.lam.to_numpy(float), p.value.to_numpy(float))
                if counts is None:
                    continue
                try:
                    lams, margins = sr.margins(family, g, split)
                except KeyError:
                    continue
                T, B = len(lams), len(counts)
                r = group_rates(np.tile(margins > 0, (B, 1)), labels, masks, weights=np.repeat(counts, T, axis=0))
                for metric, values in (("dpd", r.dpd[:, gi]), ("eod", r.eod[:, gi]),
                                       ("accuracy", r.overall_accuracy)):
                    b = _slopes(lams, values.reshape(B, T))
                    lo, hi = (np.nanpercentile(b, [2.5, 97.5]) if np.isfinite(b).any() else (np.nan, np.nan))
                    row[f"{family} d{metric}/dλ low"], row[f"{family} d{metric}/dλ high"] = float(lo), float(hi)
            rows.append(row)
    return pd.DataFrame(rows)
