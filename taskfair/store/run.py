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
import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import pyarrow.parquet as pq
import torch

from ..vectors.taskvector import TaskVector
from . import layout
from .files import (StoreError, atomic_path, load_task_vector, os_error_line, save_safetensors, save_task_vector,
                    sha256_file, write_safetensors_streamed)
from .weights import WeightFiles

__all__ = ["Run", "check_name"]

MANIFEST = layout.MANIFEST
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*(/[A-Za-z0-9][A-Za-z0-9_.=+-]*)*$")


def check_name(name: str) -> str:
    if not _NAME_RE.match(name) or ".." in name.split("/"):
        raise StoreError(f"invalid artifact name {name!r}: use letters, digits and _.=+- "
                         "with '/' between folders")
    return name


class Run(WeightFiles):
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

    def _record(self, name: str, path: Path, sha256: str | None = None) -> Path:
        self.manifest["files"][name] = {"sha256": sha256 or sha256_file(path), "bytes": path.stat().st_size}
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
        try:
            with atomic_path(path) as tmp:
                save_safetensors(tensors, tmp, metadata)
        except Exception as exc:  # a full disk surfaces as safetensors' own error type, or OSError
            self._write_failed(path, exc, sum(t.numel() * t.element_size() for t in tensors.values()))
        return self._record(name, path)

    def save_tensors_streamed(self, name: str, shapes: Mapping[str, tuple], tensor,
                              metadata: Mapping[str, str] | None = None) -> Path:
        """Like :meth:`save_tensors` for tensors computed one at a time by ``tensor(name)``
        (``shapes``: name → (shape, dtype)): one tensor in memory at a time."""
        path = self.file(name)
        try:
            with atomic_path(path) as tmp:
                sha = write_safetensors_streamed(tmp, shapes, tensor, metadata)
        except OSError as exc:  # a full disk, a write error (anything else is not about space)
            need = sum(torch.Size(s).numel() * torch.empty((), dtype=d).element_size() for s, d in shapes.values())
            self._write_failed(path, exc, need)
        return self._record(name, path, sha)

    @staticmethod
    def _write_failed(path: Path, exc: Exception, need: int):
        import errno
        import shutil
        code = getattr(exc, "errno", None)
        if isinstance(exc, OSError) and code not in (errno.ENOSPC, errno.EDQUOT, None):
            # a read-only disk or a size limit is not "no space": say which it is
            raise StoreError(f"could not write {os_error_line(exc, path)}; rerun when it is fixed: finished "
                             "jobs are kept") from exc
        free = shutil.disk_usage(path.parent).free
        raise StoreError(f"could not write {path} ({type(exc).__name__}: {exc}); it needs "
                         f"{need / 2**20:.1f} MB and {free / 2**20:.1f} MB are free there. Free some space "
                         "and rerun: finished jobs are kept") from exc

    def save_task_vector(self, name: str, tv: TaskVector) -> Path:
        return self._record(name, save_task_vector(self.file(name), tv))

    def save_table(self, name: str, df: pd.DataFrame) -> Path:
        path = self.file(name)
        try:
            with atomic_path(path) as tmp:
                df.to_parquet(tmp, index=False)
        except OSError as exc:
            self._write_failed(path, exc, int(df.memory_usage(deep=True).sum()))
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

    def save_predictions(self, seed: int, job: str, tensors: Mapping[str, torch.Tensor],
                         metadata: Mapping[str, str] | None = None) -> str:
        name = layout.predictions(seed, job)
        self.save_tensors(name, tensors, metadata)
        return name

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

    # results of a run still computing ------------------------------------------------------
    def save_interim(self, metrics: pd.DataFrame, summary: Mapping[str, Any], headline: pd.DataFrame) -> None:
        """The results so far, replacing the previous ones (recorded and hashed like any file;
        removed by :meth:`discard_interim` when the run's final results are saved)."""
        self.save_table(layout.INTERIM_METRICS, metrics)
        self.save_json(layout.INTERIM_SUMMARY, {**dict(summary), "headline": headline.to_dict("records")})

    def interim(self) -> tuple[pd.DataFrame, dict] | None:
        """``(metrics, summary)`` saved by :meth:`save_interim`, or None when there are none."""
        if not (self.has(layout.INTERIM_METRICS) and self.has(layout.INTERIM_SUMMARY)):
            return None
        return self.load_table(layout.INTERIM_METRICS), self.load_json(layout.INTERIM_SUMMARY)

    def discard_interim(self) -> None:
        names = [n for n in (layout.INTERIM_METRICS, layout.INTERIM_SUMMARY) if self.has(n)]
        for name in names:
            self.manifest["files"].pop(name)
        if names:
            self._write_manifest()
        for name in names:
            (self.path / name).unlink(missing_ok=True)

    def save_plan(self, plan: Mapping[str, Any]) -> None:
        """The pipeline's plan (every job and its cost), for progress displays only: written
        atomically but not recorded in the manifest, since no result depends on it."""
        with atomic_path(self.file(layout.PLAN)) as tmp:
            tmp.write_text(json.dumps(dict(plan), indent=1))

    def plan(self) -> dict | None:
        """The plan saved by :meth:`save_plan`, or None (none saved, or unreadable)."""
        try:
            plan = json.loads(self.file(layout.PLAN).read_text())
        except (OSError, ValueError):
            return None
        return plan if isinstance(plan, dict) and isinstance(plan.get("jobs"), list) else None

    def save_timings(self, timings: Mapping[str, float]) -> str:
        self.save_json(layout.TIMINGS, dict(timings))
        return layout.TIMINGS
