"""The weight files of a run: task vectors (one file, or a folder of shards) and θ0's stored
copy, written tensor by tensor and read back verified. A part of :class:`~.run.Run`."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Mapping

import torch

from ..vectors.taskvector import TaskVector
from . import layout
from .files import SHARD_BYTES, TV_FORMAT, StoreError, load_task_vector, task_vector_metadata

__all__ = ["WeightFiles"]


class WeightFiles:
    """Task vectors and θ0 by meaning; mixed into :class:`~.run.Run`, whose manifest, hashing
    and atomic writers it uses."""

    def task_vector_files(self, seed: int, vector: str) -> list[str]:
        """The recorded file names of a stored task vector: one file, or its shards in order
        (empty when it is not stored)."""
        single = layout.task_vector(seed, vector)
        if single in self.manifest["files"]:
            return [single]
        prefix = layout.task_vector_shard_prefix(seed, vector)
        return sorted(n for n in self.manifest["files"] if n.startswith(prefix))

    def task_vector_file(self, seed: int, vector: str) -> str:
        """The name (inside the run) of a task vector: its file, or for a sharded vector its
        folder (see :mod:`.layout`); ``vector`` is fft, lora or a subgroup."""
        files = self.task_vector_files(seed, vector)
        if len(files) == 1 and files[0] == layout.task_vector(seed, vector):
            return files[0]
        return layout.task_vector_shard_prefix(seed, vector) if files else layout.task_vector(seed, vector)

    def vector_sha256(self, seed: int, vector: str) -> str:
        """The sha256 of a stored task vector: its file's, or for a sharded vector the sha256 of
        the list of its shards' names and hashes."""
        files = self.task_vector_files(seed, vector)
        if not files:
            raise StoreError(f"run {self.path}: no stored task vector {vector!r} for seed {seed}")
        if files == [layout.task_vector(seed, vector)]:
            return self.file_sha256(files[0])
        lines = "".join(f"{Path(n).name} {self.file_sha256(n)}\n" for n in files)
        return hashlib.sha256(lines.encode()).hexdigest()

    def has_task_vector(self, seed: int, vector: str) -> bool:
        return bool(self.task_vector_files(seed, vector))

    def task_vector(self, seed: int, vector: str) -> TaskVector:
        """A stored task vector (float32 in memory), checked against the seed's θ0 hash."""
        return load_task_vector(self.task_vector_path(seed, vector), expected_base_sha256=self.base_sha256(seed))

    def task_vector_path(self, seed: int, vector: str) -> Path:
        """The verified file (or folder of shards) of a stored task vector (hashes as recorded,
        taken from the seed's θ0), for the merge engine to stream from."""
        files = self.task_vector_files(seed, vector)
        if not files:
            raise StoreError(f"run {self.path}: no stored task vector {vector!r} for seed {seed}")
        bad = self.problems(files)
        if bad:
            raise StoreError(f"run {self.path}: {bad[0]}")
        path = self.path / self.task_vector_file(seed, vector)
        task_vector_metadata(self.path / files[0], expected_base_sha256=self.base_sha256(seed))
        return path

    def save_vector_between(self, seed: int, vector: str, theta0: Mapping[str, torch.Tensor],
                            finetuned: Mapping[str, torch.Tensor], *, base_sha256: str, base_model: str,
                            dtype: torch.dtype | None = None, shard_bytes: int = SHARD_BYTES) -> list[str]:
        """Store ``τ = finetuned − θ0`` tensor by tensor, without a copy of the model: each delta
        is computed in float32 and stored in ``dtype`` (default: the fine-tuned weight's dtype),
        one file when it fits ``shard_bytes``, else a folder of shards of at most that size
        (each written atomically and hashed in the manifest). Returns the names written."""
        if set(theta0) != set(finetuned):
            only = sorted(set(theta0) ^ set(finetuned))[:5]
            raise ValueError(f"θ0 and the fine-tuned model have different parameters (e.g. {only})")

        def delta(n: str) -> torch.Tensor:
            a, b = finetuned[n].detach(), theta0[n].detach()
            return (a.to("cpu", torch.float32) - b.to("cpu", torch.float32)).to(dtype or a.dtype)

        shapes = {n: (finetuned[n].shape, dtype or finetuned[n].dtype) for n in theta0}
        meta = {"format": TV_FORMAT, "base_sha256": base_sha256, "base_model": base_model, "name": vector}
        return self._save_sharded(layout.task_vector(seed, vector), layout.task_vector_shard_prefix(seed, vector),
                                  lambda i, n: layout.task_vector_shard(seed, vector, i, n), shapes, delta,
                                  meta, shard_bytes)

    def save_theta0(self, seed: int, weights: Mapping[str, torch.Tensor], *, base_sha256: str,
                    shard_bytes: int = SHARD_BYTES) -> list[str]:
        """Store θ0's weights (for a λ grid that streams θ0 instead of holding a copy of it)."""
        shapes = {n: (t.shape, t.dtype) for n, t in weights.items()}
        meta = {"format": "taskfair.theta0/1", "base_sha256": base_sha256}
        return self._save_sharded(layout.theta0(seed), layout.theta0_shard_prefix(seed),
                                  lambda i, n: layout.theta0_shard(seed, i, n), shapes,
                                  lambda n: weights[n].detach().cpu(), meta, shard_bytes)

    def theta0_path(self, seed: int, *, verify: bool = True) -> Path | None:
        """The stored θ0 of ``seed`` (a file or a folder of shards) when it is stored, intact and
        taken from the seed's θ0 hash, else None. ``verify=False`` checks the files' sizes, not
        their sha256: for a reader that checks the weights' own hash as it reads them."""
        single = layout.theta0(seed)
        prefix = layout.theta0_shard_prefix(seed)
        files = [single] if single in self.manifest["files"] else \
            sorted(n for n in self.manifest["files"] if n.startswith(prefix))
        if not files or not self.has(layout.base(seed)):
            return None
        if verify and self.problems(files):
            return None
        if not verify and any(not (self.path / f).is_file() or
                              (self.path / f).stat().st_size != self.manifest["files"][f]["bytes"] for f in files):
            return None
        from safetensors import safe_open
        with safe_open(str(self.path / files[0]), "pt") as f:
            if (f.metadata() or {}).get("base_sha256") != self.base_sha256(seed):
                return None
        return self.path / (single if files == [single] else prefix)

    def _save_sharded(self, single: str, prefix: str, shard_name, shapes: Mapping[str, tuple],
                      tensor, meta: Mapping[str, str], shard_bytes: int) -> list[str]:
        """Write named tensors (computed one at a time by ``tensor(name)``) as ``single``, or as
        shards ``shard_name(i, n)`` under ``prefix`` of at most ``shard_bytes``; any earlier
        copy (file, shards, manifest entries) is replaced."""
        plan: list[list[str]] = [[]]  # planned from shapes alone, so every name (i-of-n) is known first
        size = 0
        for n in sorted(shapes):
            shape, dt = shapes[n]
            nbytes = math.prod(shape) * torch.empty((), dtype=dt).element_size()
            if plan[-1] and size + nbytes > shard_bytes:
                plan.append([])
                size = 0
            plan[-1].append(n)
            size += nbytes
        folder = self.path / prefix
        if folder.is_dir():  # shards of an interrupted earlier attempt
            for f in folder.glob("*.safetensors"):
                f.unlink()
        for n in list(self.manifest["files"]):
            if n == single or n.startswith(prefix):
                del self.manifest["files"][n]
        written = []
        for i, part in enumerate(plan, start=1):
            name = single if len(plan) == 1 else shard_name(i, len(plan))
            self.save_tensors_streamed(name, {n: shapes[n] for n in part}, tensor, meta)
            written.append(name)
        return written
