"""Several processes on the CPU (gloo): the precompute launched with torchrun gives the artifacts
of a single-process run with the same global batch, and its merged points are really merged."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]

GOOD = ["lovely", "kind", "great", "helpful", "calm", "friendly", "bright", "honest"]
BAD = ["awful", "stupid", "hateful", "ugly", "nasty", "rude", "dirty", "evil"]
FILLER = ["people", "they", "are", "always", "very", "some", "those", "often", "really", "here"]


def _table(path: Path, n: int = 240) -> None:
    """Texts whose label is carried by one word: a tiny model learns it in a few epochs."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        label = int(rng.random() < 0.5)
        words = list(rng.choice(FILLER, size=5)) + [str(rng.choice(BAD if label else GOOD))]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label, "group": ("north", "south")[i % 2]})
    pd.DataFrame(rows).to_csv(path, index=False)


def _args(csv: Path, root: Path) -> list[str]:
    sets = {
        "name": "dist", "model": "tiny-llama", "output_root": str(root),
        "dataset.name": "table", "dataset.path": str(csv), "dataset.group_column": "group",
        "dataset.subgroups": "null", "seeds": "[13]",
        "train.epochs": 6, "train.learning_rate": 3.0e-3, "train.max_length": 16, "train.batch_size": 16,
        "train.warmup_ratio": 0.0, "train.min_steps": 0, "lora.learning_rate": 3.0e-3,
        "grids.uniform": "[0.0, 0.5, 1.0]", "grids.inject": "[0.0, 1.0]", "grids.axis": "[0.0, 1.0]",
        "grids.pairs": "[]", "grids.probes": 2, "grids.methods": "[ties]", "grids.methods_grid": "[1.0]",
        "eval.precision": "fp32",
    }
    out = ["--config", "quick", "--no-progress"]
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


def _env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd[:4]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="needs torch's gloo backend")
def test_two_cpu_processes_equal_one(tmp_path):
    csv = tmp_path / "data.csv"
    _table(csv)
    one = _run([sys.executable, "-m", "precompute", *_args(csv, tmp_path / "one")])
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "precompute", *_args(csv, tmp_path / "two")])
    # one summary, from the main process only
    assert one.count("== summary ==") == 1
    assert two.count("== summary ==") == 1, two

    run1, run2 = tmp_path / "one" / "dist", tmp_path / "two" / "dist"
    # the same data and splits
    assert json.loads((run1 / "seed13/splits.json").read_text()) == \
        json.loads((run2 / "seed13/splits.json").read_text())
    # the same optimiser steps on the same global batches: equal task vectors (dropout off in Llama)
    for vec in ("fft", "lora", "north", "south"):
        a, b = load_file(run1 / f"seed13/tv/{vec}.safetensors"), load_file(run2 / f"seed13/tv/{vec}.safetensors")
        assert a.keys() == b.keys()
        worst = max(float((a[k] - b[k]).abs().max()) for k in a)
        scale = max(float(a[k].abs().max()) for k in a)
        assert scale > 1e-3, f"{vec}: the fine-tune did not move the weights"
        assert worst <= 1e-5 + 1e-4 * scale, f"{vec}: 2 processes differ from 1 by {worst}"

    # the model learned (not a constant predictor), and merged points are not θ0
    m1 = pd.read_parquet(run1 / "metrics.parquet")
    m2 = pd.read_parquet(run2 / "metrics.parquet")
    fft = m1[(m1.family == "fft") & (m1.split == "test") & (m1.group == "(all)") & (m1.metric == "accuracy")]
    assert float(fft["value"].iloc[0]) > 0.8, fft
    p2 = load_file(run2 / "seed13/preds/uniform.safetensors")
    pts = json.loads(_points(run2 / "seed13/preds/uniform.safetensors"))
    assert len(pts) == 3
    assert not np.allclose(p2["val"][0].numpy(), p2["val"][-1].numpy(), atol=1e-3), \
        "the merged point λ=1 was evaluated as θ0"
    # margins of every job agree with the single-process run
    for f in sorted((run1 / "seed13/preds").glob("*.safetensors")):
        a, b = load_file(f), load_file(run2 / "seed13/preds" / f.name)
        for split in ("val", "test"):
            assert np.allclose(a[split].numpy(), b[split].numpy(), atol=1e-3), f.name
    # and so does the metrics table (same labels, same predictions)
    key = ["seed", "split", "family", "target", "lam", "group", "metric"]
    assert len(m1) == len(m2)
    pd.testing.assert_frame_equal(m1.sort_values(key).reset_index(drop=True),
                                  m2.sort_values(key).reset_index(drop=True), atol=1e-3, check_exact=False)


def _points(path: Path) -> str:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        return f.metadata()["points"]


def test_accelerate_cpu_launch_of_several_processes_is_explained(monkeypatch, capsys):
    """``accelerate launch --cpu --num_processes 2`` starts one process: it says how to run two."""
    from precompute.__main__ import main
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    for var in ("WORLD_SIZE", "LOCAL_RANK", "RANK"):
        monkeypatch.delenv(var, raising=False)
    assert main(["--validate"]) == 2
    err = capsys.readouterr().err
    assert "torchrun --nproc_per_node" in err and "one process" in err
