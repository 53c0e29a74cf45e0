"""One run folder and its manifest.

A :class:`Run` is the only thing that reads or writes inside a run folder, and it does so by
meaning (``run.task_vector(seed, "female")``, ``run.split_indices(seed)``) through
:mod:`taskfair.store.layout`. Tensors are safetensors, tables parquet; ``manifest.json`` records the
config, package versions, the sha256 of every file and the finished jobs. Every write is atomic;
every read verifies the file's hash and names any corrupt or missing file.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import pyarrow.parquet as pq
import torch

from ..vectors.taskvector import TaskVector
from . import layout
from .files import (SHARD_BYTES, TV_FORMAT, StoreError, atomic_path, load_task_vector, save_safetensors,
                    save_task_vector, sha256_file, task_vector_metadata)

__all__ = ["Run", "check_name"]

MANIFEST = layout.MANIFEST
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*(/[A-Za-z0-9][A-Za-z0-9_.=+-]*)*$")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name) or ".." in name.split("/"):
        raise StoreError(f"invalid artifact name {name!r}: use letters, digits and _.=+- "
                         "with '/' between folders")
    return name


class Run:
    """One run folder with its manifest. Create with :meth:`ArtifactStore.create` or open
    with :meth:`ArtifactStore.open`."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    def _write_manifest(self) -> None:
        with atomic_path(self.path / MANIFEST) as tmp:
            tmp.write_text(json.dumps(self.manifest, indent=2, sort_keys=True, default=str))

    def _record(self, name: str, path: Path) -> Path:
        self.manifest["files"][name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        self._write_manifest()
        return path

    def reload(self) -> None:
        """Re-read the manifest (another process may have written to this run)."""
        self.manifest = json.loads((self.path / MANIFEST).read_text())

    def file(self, name: str) -> Path:
        return self.path / check_name(name)

    # writers ------------------------------------------------------------------------
    def save_tensors(self, name: str, tensors: Mapping[str, torch.Tensor],
                     metadata: Mapping[str, str] | None = None) -> Path:
        path = self.file(name)
        with atomic_path(path) as tmp:
            save_safetensors(tensors, tmp, metadata)
        return self._record(name, path)

    def save_task_vector(self, name: str, tv: TaskVector) -> Path:
        return self._record(name, save_task_vector(self.file(name), tv))

    def save_table(self, name: str, df: pd.DataFrame) -> Path:
        path = self.file(name)
        with atomic_path(path) as tmp:
            df.to_parquet(tmp, index=False)
        return self._record(name, path)

    def save_json(self, name: str, obj: Any) -> Path:
        path = self.file(name)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        return self._record(name, path)

    # jobs ---------------------------------------------------------------------------
    def mark_done(self, job: str, files: list[str] | tuple[str, ...] = ()) -> None:
        """Record ``job`` as finished, with the files it produced (each already saved)."""
        unknown = [f for f in files if f not in self.manifest["files"]]
        if unknown:
            raise StoreError(f"job {job!r} lists files never saved: {unknown}")
        self.manifest["jobs"][job] = {"files": list(files),
                                      "finished": _dt.datetime.now(_dt.timezone.utc).isoformat()}
        self._write_manifest()

    def is_done(self, job: str) -> bool:
        """True when ``job`` finished and all its files are present with the recorded hash."""
        entry = self.manifest["jobs"].get(job)
        if entry is None:
            return False
        return not self.problems(entry["files"])

    # readers ------------------------------------------------------------------------
    def problems(self, names: list[str] | None = None) -> list[str]:
        """Every missing or corrupt file among ``names`` (default: all recorded files)."""
        out = []
        for name in (self.manifest["files"] if names is None else names):
            rec = self.manifest["files"].get(name)
            path = self.path / name
            if rec is None:
                out.append(f"{name}: not in the manifest")
            elif not path.is_file():
                out.append(f"{name}: missing")
            elif sha256_file(path) != rec["sha256"]:
                out.append(f"{name}: sha256 differs from the manifest (corrupt or modified)")
        return out

    def verify(self) -> None:
        """Raise :class:`StoreError` naming every missing or corrupt file of the run."""
        bad = self.problems()
        if bad:
            raise StoreError(f"run {self.path} failed verification:\n  " + "\n  ".join(bad) +
                             "\nRe-run the precompute for this run to recreate those files.")

    def _verified(self, name: str) -> Path:
        bad = self.problems([check_name(name)])
        if bad:
            raise StoreError(f"run {self.path}: {bad[0]}")
        return self.path / name

    def load_tensors(self, name: str) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file
        return load_file(str(self._verified(name)))

    def load_task_vector(self, name: str, **kwargs) -> TaskVector:
        return load_task_vector(self._verified(name), **kwargs)

    def load_table(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self._verified(name))

    def load_json(self, name: str) -> Any:
        return json.loads(self._verified(name).read_text())

    def has(self, name: str) -> bool:
        return name in self.manifest["files"]

    def file_sha256(self, name: str) -> str:
        """The sha256 the manifest records for ``name``."""
        rec = self.manifest["files"].get(name)
        if rec is None:
            raise StoreError(f"run {self.path}: {name} is not in the manifest")
        return rec["sha256"]

    # artifacts by meaning -------------------------------------------------------------
    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.config["seeds"]]

    def dataset(self) -> pd.DataFrame:
        """``text, label`` and one boolean column per subgroup."""
        return self.load_table(layout.DATASET)

    def save_dataset(self, frame: pd.DataFrame, report: Mapping[str, Any]) -> list[str]:
        self.save_table(layout.DATASET, frame)
        self.save_json(layout.DATA_REPORT, report)
        return [layout.DATASET, layout.DATA_REPORT]

    def data_report(self) -> dict | None:
        """What loading dropped and its notes (None for runs made before it was stored)."""
        return self.load_json(layout.DATA_REPORT) if self.has(layout.DATA_REPORT) else None

    def groups(self) -> list[str]:
        """The subgroups (those with stored task vectors), in the dataset's column order."""
        seed = self.seeds[0]
        names = {layout.vector_of(n, seed) for n in self.manifest["files"]}
        columns = pq.read_schema(self._verified(layout.DATASET)).names
        return [c for c in columns if c in names and c not in layout.DATA_COLUMNS]

    def split_indices(self, seed: int) -> dict[str, list[int]]:
        """Row positions (into :meth:`dataset`) of the seed's train/val/test splits."""
        return self.load_json(layout.splits(seed))

    def save_split_indices(self, seed: int, index: Mapping[str, list[int]]) -> str:
        self.save_json(layout.splits(seed), dict(index))
        return layout.splits(seed)

    def splits_sha256(self, seed: int) -> str:
        return self.file_sha256(layout.splits(seed))

    def base_sha256(self, seed: int) -> str:
        """The sha256 of the seed's θ0 weights, recorded when training started."""
        return self.load_json(layout.base(seed))["sha256"]

    def save_base(self, seed: int, record: Mapping[str, Any]) -> str:
        self.save_json(layout.base(seed), dict(record))
        return layout.base(seed)

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
        import hashlib
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

    def save_vector(self, seed: int, vector: str, tv: TaskVector) -> str:
        self.save_task_vector(layout.task_vector(seed, vector), tv)
        return layout.task_vector(seed, vector)

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

    def theta0_path(self, seed: int) -> Path | None:
        """The verified stored θ0 of ``seed`` (a file or a folder of shards) when it is stored
        and was taken from the seed's θ0 hash, else None."""
        single = layout.theta0(seed)
        prefix = layout.theta0_shard_prefix(seed)
        files = [single] if single in self.manifest["files"] else \
            sorted(n for n in self.manifest["files"] if n.startswith(prefix))
        if not files or self.problems(files) or not self.has(layout.base(seed)):
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
            tensors = {n: tensor(n) for n in part}
            name = single if len(plan) == 1 else shard_name(i, len(plan))
            self.save_tensors(name, tensors, meta)
            written.append(name)
            del tensors
        return written

    def save_predictions(self, seed: int, job: str, tensors: Mapping[str, torch.Tensor],
                         metadata: Mapping[str, str] | None = None) -> str:
        name = layout.predictions(seed, job)
        self.save_tensors(name, tensors, metadata)
        return name

    def has_predictions(self, seed: int, job: str) -> bool:
        return self.has(layout.predictions(seed, job))

    def load_predictions_file(self, seed: int, job: str) -> dict[str, torch.Tensor]:
        return self.load_tensors(layout.predictions(seed, job))

    def prediction_files(self, seed: int) -> dict[str, Path]:
        """Every stored predictions file of a seed, verified: file-safe job name -> path."""
        out = {}
        for name in sorted(self.manifest["files"]):
            job = layout.job_of(name, seed)
            if job is not None:
                out[job] = self._verified(name)
        return out

    def summary(self) -> dict:
        return self.load_json(layout.SUMMARY)

    def metrics(self) -> pd.DataFrame:
        return self.load_table(layout.METRICS)

    def save_results(self, metrics: pd.DataFrame, summary: Mapping[str, Any],
                     headline: pd.DataFrame) -> list[str]:
        self.save_table(layout.METRICS, metrics)
        self.save_json(layout.SUMMARY, dict(summary))
        self.save_table(layout.HEADLINE, headline)
        return [layout.METRICS, layout.SUMMARY, layout.HEADLINE]

    def save_timings(self, timings: Mapping[str, float]) -> str:
        self.save_json(layout.TIMINGS, dict(timings))
        return layout.TIMINGS
