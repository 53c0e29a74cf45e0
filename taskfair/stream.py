"""Merging checkpoints larger than memory: tensor by tensor from (sharded) safetensors, writing
shards, so peak memory stays near one output shard whatever the model size.

A source is a ``.safetensors`` file or a folder of shards (with or without
``model.safetensors.index.json``); task vectors saved by taskfair are single files.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from .merge import MERGE_METHODS
from .store import StoreError, _save_safetensors
from .taskvector import TaskVectorMismatch

__all__ = ["TensorSource", "stream_merge"]


class TensorSource:
    """Named tensors spread over one or more safetensors files, read one tensor at a time.

    Each read opens the file, copies the tensor out of the memory map and closes it again, so
    nothing stays mapped between reads."""

    def __init__(self, path: str | Path) -> None:
        from safetensors import safe_open

        self.path = Path(path)
        if self.path.is_file():
            files = [self.path]
        elif self.path.is_dir():
            files = sorted(self.path.glob("*.safetensors"))
        else:
            raise StoreError(f"{self.path} does not exist")
        if not files:
            raise StoreError(f"{self.path} holds no .safetensors files")
        self.where: dict[str, Path] = {}
        self.meta: dict[str, tuple[tuple[int, ...], str]] = {}
        for f in files:
            try:
                with safe_open(str(f), framework="pt") as h:
                    for name in h.keys():
                        s = h.get_slice(name)
                        self.where[name] = f
                        self.meta[name] = (tuple(s.get_shape()), s.get_dtype())
            except Exception as exc:
                raise StoreError(f"{f} is not a readable safetensors file ({exc})") from exc

    def names(self) -> list[str]:
        return list(self.where)

    def get(self, name: str) -> torch.Tensor:
        from safetensors import safe_open
        with safe_open(str(self.where[name]), framework="pt") as h:
            return h.get_tensor(name)

    def nbytes(self, name: str) -> int:
        shape, dtype = self.meta[name]
        size = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I8": 1, "U8": 1, "BOOL": 1}
        return math.prod(shape) * size.get(dtype, 4)


def stream_merge(
    base: str | Path,
    vectors: Sequence[str | Path],
    coefficients: Sequence[float],
    out_dir: str | Path,
    *,
    method: str = "task_arithmetic",
    shard_bytes: int = 512 * 2**20,
    progress: bool = False,
    **params,
) -> Path:
    """Write ``base + merge(vectors; coefficients)`` as sharded safetensors in ``out_dir``.

    Every output tensor keeps the base's dtype; arithmetic is float32. Non-float tensors are
    copied from the base. Methods that look at whole vectors (TIES' top-k) work per tensor here.
    ``out_dir`` must not exist; it is built in a temporary folder and renamed when complete.
    """
    from tqdm.auto import tqdm

    if method not in MERGE_METHODS:
        raise ValueError(f"unknown merge method {method!r}; choose from {sorted(MERGE_METHODS)}")
    if len(vectors) != len(coefficients):
        raise ValueError(f"{len(vectors)} vectors need {len(vectors)} coefficients, got {len(coefficients)}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise StoreError(f"{out_dir} already exists; choose another output folder")
    src = TensorSource(base)
    vecs = [TensorSource(v) for v in vectors]
    names = src.names()
    float_names = [n for n in names if src.meta[n][1] in ("F32", "F16", "BF16", "F64")]
    for v in vecs:
        missing = sorted(set(float_names) - set(v.names()))
        extra = sorted(set(v.names()) - set(float_names))
        if missing or extra:
            raise TaskVectorMismatch(f"{v.path} does not match {src.path}: missing {missing[:5]}, "
                                     f"unexpected {extra[:5]}")
        bad = [n for n in float_names if v.meta[n][0] != src.meta[n][0]]
        if bad:
            raise TaskVectorMismatch(f"{v.path}: shape of '{bad[0]}' is {v.meta[bad[0]][0]}, "
                                     f"the base has {src.meta[bad[0]][0]}")
    fn = MERGE_METHODS[method]
    weights = torch.as_tensor(list(coefficients), dtype=torch.float32)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        files: list[Path] = []
        current: dict[str, torch.Tensor] = {}
        size = 0
        weight_map: dict[str, int] = {}

        def flush() -> None:
            nonlocal current, size
            if current:
                path = tmp / f"shard-{len(files):05d}.safetensors"
                _save_safetensors(current, path, {"format": "pt"})
                files.append(path)
                current, size = {}, 0

        total = 0
        for name in tqdm(names, desc="merge", unit="tensor", disable=not progress):
            t = src.get(name)
            if name in float_names:
                acc = t.float()
                if method == "task_arithmetic" and not params:
                    for c, v in zip(coefficients, vecs):
                        acc.add_(v.get(name), alpha=float(c))  # promotes in the kernel, no temporary
                else:
                    stack = torch.stack([v.get(name).float().reshape(-1) for v in vecs])
                    acc += fn(stack, weights, **params).reshape(acc.shape)
                t = acc.to(t.dtype)
            nbytes = t.numel() * t.element_size()
            if size and size + nbytes > shard_bytes:
                flush()
            current[name] = t
            weight_map[name] = len(files)
            size += nbytes
            total += nbytes
        flush()
        n = len(files)
        final = {}
        for i, path in enumerate(files):
            target = f"model-{i + 1:05d}-of-{n:05d}.safetensors" if n > 1 else "model.safetensors"
            path.rename(tmp / target)
            final[i] = target
        if n > 1:
            index = {"metadata": {"total_size": total},
                     "weight_map": {k: final[i] for k, i in weight_map.items()}}
            (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True))
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
