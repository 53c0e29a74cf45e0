"""The artifact store: the only module that knows paths.

One root (default ``./artifacts``) holds one folder per run. Tensors are safetensors, tables
parquet; ``manifest.json`` records the config, package versions, the sha256 of every file and
the finished jobs. Every write goes to a temporary file that is renamed into place, so a file
under its final name is always complete; loading verifies the hash and names any corrupt or
missing file.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd
import torch

from .taskvector import TaskVector

__all__ = [
    "StoreError",
    "ArtifactStore",
    "Run",
    "atomic_path",
    "sha256_file",
    "package_versions",
    "save_task_vector",
    "load_task_vector",
    "DEFAULT_ROOT",
]

DEFAULT_ROOT = Path("artifacts")
MANIFEST = "manifest.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*(/[A-Za-z0-9][A-Za-z0-9_.=+-]*)*$")
_PACKAGES = ("taskfair", "torch", "transformers", "peft", "accelerate", "safetensors", "numpy",
             "pandas", "fairlearn")


class StoreError(RuntimeError):
    """A missing, corrupt or tampered artifact; the message names the file."""


def sha256_file(path: str | Path, *, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed onto
    ``path``, on any error it is removed. A reader never sees a half-written ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _save_safetensors(tensors: Mapping[str, torch.Tensor], path: Path,
                      metadata: Mapping[str, str] | None) -> None:
    """safetensors with a canonical header: the library writes its metadata in hash-map order,
    so the same tensors could give different bytes; rewriting the header with sorted keys (same
    length, in place) makes equal content give byte-identical files."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=dict(metadata or {}))
    with open(path, "r+b") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        canonical = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if len(canonical) > n:  # cannot happen for a reordering; keep the library's header then
            return
        f.seek(8)
        f.write(canonical + b" " * (n - len(canonical)))


def package_versions() -> dict[str, str]:
    out = {}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed" if p != "taskfair" else _taskfair_version()
    return out


def _taskfair_version() -> str:
    from . import __version__
    return __version__


# --------------------------------------------------------------------------- task vectors on disk

_TV_FORMAT = "taskfair.task_vector/1"


def save_task_vector(path: str | Path, tv: TaskVector) -> Path:
    """Write ``tv`` as safetensors, with its base model and base sha256 in the metadata."""
    meta = {"format": _TV_FORMAT, "base_sha256": tv.base_sha256 or "", "base_model": tv.base_model,
            "name": tv.name}
    with atomic_path(path) as tmp:
        _save_safetensors(tv.deltas, tmp, meta)
    return Path(path)


def load_task_vector(path: str | Path, *, expected_base_sha256: str | None = None) -> TaskVector:
    """Read a task vector; a file that is not one, or one from another base, raises."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise StoreError(f"task vector file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise StoreError(f"{path} is not a readable safetensors file ({exc}); it may be truncated "
                         "or corrupt: delete it and recompute it") from exc
    if meta.get("format") != _TV_FORMAT:
        raise StoreError(f"{path} is a safetensors file but not a taskfair task vector "
                         f"(format {meta.get('format')!r})")
    base = meta.get("base_sha256") or None
    if expected_base_sha256 and base and base != expected_base_sha256:
        from .taskvector import TaskVectorMismatch
        raise TaskVectorMismatch(
            f"{path} was taken from base {base[:12]}… ({meta.get('base_model')}), not from the "
            f"expected base {expected_base_sha256[:12]}…; vectors only combine with their own base")
    return TaskVector(tensors, base_sha256=base, base_model=meta.get("base_model", ""),
                      name=meta.get("name", path.stem))


# --------------------------------------------------------------------------- runs

def _check_name(name: str) -> str:
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
        return self.path / _check_name(name)

    # writers ------------------------------------------------------------------------
    def save_tensors(self, name: str, tensors: Mapping[str, torch.Tensor],
                     metadata: Mapping[str, str] | None = None) -> Path:
        path = self.file(name)
        with atomic_path(path) as tmp:
            _save_safetensors(tensors, tmp, metadata)
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
        bad = self.problems([_check_name(name)])
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


class ArtifactStore:
    """The artifact root: one folder per run, each with its ``manifest.json``."""

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def runs(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / MANIFEST).is_file())

    def create(self, run_id: str, config: Mapping[str, Any], *, resume: bool = True) -> Run:
        """A run folder for ``config``. With ``resume`` an existing run with the same config is
        reopened (its finished jobs are kept); one with another config is an error."""
        _check_name(run_id)
        path = self.root / run_id
        config = json.loads(json.dumps(dict(config), default=str))
        if (path / MANIFEST).is_file():
            run = self.open(run_id, verify=False)
            if not resume:
                raise StoreError(f"run {path} already exists; choose another run id or delete it")
            if run.config != config:
                raise StoreError(f"run {path} exists with a different config; delete it or choose "
                                 "another output root/run id")
            return run
        manifest = {"format": "taskfair.run/1", "run_id": run_id, "config": config,
                    "versions": package_versions(),
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                    "files": {}, "jobs": {}}
        run = Run(path, manifest)
        path.mkdir(parents=True, exist_ok=True)
        run._write_manifest()
        return run

    def open(self, run_id: str, *, verify: bool = True) -> Run:
        path = self.root / _check_name(run_id)
        mpath = path / MANIFEST
        if not mpath.is_file():
            known = self.runs()
            raise StoreError(f"no run {run_id!r} under {self.root} (runs: {known or 'none'}); "
                             "run `python -m precompute` first")
        try:
            manifest = json.loads(mpath.read_text())
        except json.JSONDecodeError as exc:
            raise StoreError(f"{mpath} is not valid JSON ({exc}); the run is damaged") from exc
        run = Run(path, manifest)
        if verify:
            run.verify()
        return run
