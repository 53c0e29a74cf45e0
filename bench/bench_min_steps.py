"""Does ``quick``'s ``train.min_steps`` make a small subgroup learn? MiniLM fine-tuned on 350
RedditBias rows of one subgroup with quick's settings, once with the plain epoch (22 steps) and
once raised to ``min_steps`` (100), each judged on 150 held-out rows of the same subgroup against
the majority class.

    python bench/bench_min_steps.py [group]
"""
from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from common import save


def main() -> None:
    from precompute.profiles import load_profile
    from taskfair import finetune, is_degenerate, load_classifier, load_redditbias, predict_margins

    group = sys.argv[1] if len(sys.argv) > 1 else "muslims"
    data = load_redditbias([group])
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(data))[:500]
    texts = np.asarray(data.texts, dtype=object)[idx]
    labels = np.asarray(data.labels)[idx]
    tr, va = slice(0, 350), slice(350, 500)
    cfg = load_profile("quick")
    out = {"group": group, "train_rows": 350, "val_rows": 150,
           "majority_rate": float(max(labels[va].mean(), 1 - labels[va].mean()))}
    for name, min_steps in (("one_epoch", 0), ("min_steps", cfg.train.min_steps)):
        tcfg = dataclasses.replace(cfg.train, seed=13, min_steps=min_steps)
        model, tok = load_classifier("minilm", head_seed=13)
        t = time.perf_counter()
        losses = finetune(model, tok, list(texts[tr]), labels[tr], tcfg, progress=False)
        secs = time.perf_counter() - t
        m = predict_margins(model, tok, list(texts[va]), max_length=64)
        pred = m > 0
        out[name] = {"steps": len(losses), "seconds": secs, "val_accuracy": float((pred == labels[va]).mean()),
                     "positive_share": float(pred.mean()), "degenerate": is_degenerate(pred, labels[va])}
        print(name, out[name])
    save("min_steps", out)


if __name__ == "__main__":
    main()
