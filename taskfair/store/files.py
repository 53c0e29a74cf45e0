"""Files that are never half-written: atomic writes, sha256 of files, canonical safetensors,
task vectors on disk, and the package versions recorded beside every artifact."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Iterator, Mapping

import torch

from ..errors import StoreError
from ..version import __version__
from ..vectors.streaming import NAMES
from ..vectors.taskvector import TaskVector, TaskVectorMismatch

__all__ = ["StoreError", "sha256_file", "atomic_path", "os_error_line", "check_output_place", "remove_leftovers", "save_safetensors", "write_safetensors_streamed",
           "package_versions",
           "save_task_vector", "load_task_vector", "task_vector_metadata", "task_vector_shards",
           "TV_FORMAT", "SHARD_BYTES"]

_PACKAGES = ("taskfair", "torch", "transformers", "peft", "accelerate", "safetensors", "numpy",
             "pandas", "fairlearn")


def sha256_file(path: str | Path, *, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def os_error_line(exc: OSError, path: str | Path) -> str:
    """One line for a failed write at ``path``: what is in the way and what to do, by the error's
    cause (a read-only disk is not "no space", and neither is a file size limit)."""
    import errno
    import shutil
    code = getattr(exc, "errno", None)
    if code in (errno.EEXIST, errno.ENOTDIR):
        return (f"{path}: a file is in the way ({first_file_on(path) or 'a parent is not a folder'}); move it "
                "or choose another place")
    if code == errno.EISDIR:
        return f"{path}: a folder is in the way; move it or choose another name"
    if code == errno.EROFS:
        return f"{path}: the disk is read-only; choose a place on a writable disk"
    if code in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied (not writable by this user); choose a folder you can write to"
    if code in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = shutil.disk_usage(_existing(Path(path))).free / 2**20
            return f"{path}: no space left on the disk ({free:.0f} MB free); free some space or choose another disk"
        except OSError:
            return f"{path}: no space left on the disk; free some space or choose another disk"
    if code == errno.EFBIG:
        return (f"{path}: the file is larger than this process may write (the file size limit, `ulimit -f`, "
                "or the file system's largest file); raise the limit or write elsewhere")
    return f"{path}: {exc.strerror or exc}"


def _existing(path: Path) -> Path:
    """The nearest ancestor of ``path`` (itself included) that exists."""
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def first_file_on(path: str | Path) -> str:
    """The first entry on the way to ``path`` that exists and is not a folder ("" if none)."""
    path = Path(os.path.abspath(path))
    for p in reversed([path, *path.parents]):
        if os.path.lexists(p) and not p.is_dir():
            return f"{p} is a file"
    return ""


def check_output_place(folder: str | Path, *, need: int = 0, what: str = "output folder") -> None:
    """Refuse, before any work, a ``folder`` that cannot be written: a file on its way, a read-only
    disk, no permission, or fewer than ``need`` bytes free. Raises :class:`StoreError` in one line."""
    import errno
    import shutil
    folder = Path(folder)
    blocked = first_file_on(folder)
    if blocked:
        raise StoreError(f"{what} {folder}: a file is in the way ({blocked}); move it or choose another place")
    base = _existing(folder)
    try:
        st = os.statvfs(base)
    except OSError as exc:
        raise StoreError(f"{what} {os_error_line(exc, folder)}") from None
    if st.f_flag & os.ST_RDONLY:
        raise StoreError(f"{what} {os_error_line(OSError(errno.EROFS, 'read-only'), folder)}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise StoreError(f"{what} {os_error_line(OSError(errno.EACCES, 'denied'), folder)}")
    free = shutil.disk_usage(base).free
    if need and free < need:
        raise StoreError(f"{what} {folder}: not enough free disk space: about {need / 2**20:,.0f} MB needed, "
                         f"{free / 2**20:,.0f} MB free; free some space or choose another disk")


def remove_leftovers(folder: str | Path) -> list[str]:
    """Remove the temporary files of writes that were interrupted (a kill -9 between
    :func:`atomic_path`'s open and its rename), the files named ``.<name>.<random>.tmp``; returns
    their names. Only the process that holds the run's lock may call it."""
    gone = []
    folder = Path(folder)
    if not folder.is_dir():
        return gone
    for p in folder.rglob(".*.tmp"):
        if p.is_file():
            p.unlink(missing_ok=True)
            gone.append(str(p.relative_to(folder)))
    return gone


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
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes it private; a run is shared like any file
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def save_safetensors(tensors: Mapping[str, torch.Tensor], path: Path,
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


def write_safetensors_streamed(path: Path, shapes: Mapping[str, tuple], tensor,
                               metadata: Mapping[str, str] | None = None) -> str:
    """Write a safetensors file whose tensors are produced one at a time by ``tensor(name)``
    (``shapes`` maps each name to ``(shape, dtype)``, known up front), so at most one tensor is
    in memory: the library's writer needs every tensor, and a bytes copy of each, at once. The
    header is canonical (sorted keys); tensors are laid out by element size, then name, so each
    starts aligned. Returns the file's sha256, computed while writing."""
    order = sorted(shapes, key=lambda n: (-shapes[n][1].itemsize, n))
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for n in order:
        shape, dt = shapes[n]
        if dt not in NAMES:
            raise StoreError(f"tensor {n!r} has dtype {dt}, which safetensors cannot store")
        nbytes = int(torch.Size(shape).numel()) * dt.itemsize
        header[n] = {"dtype": NAMES[dt], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for block in (len(raw).to_bytes(8, "little"), raw):
            f.write(block)
            h.update(block)
        for n in order:
            t = tensor(n).detach()
            shape, dt = shapes[n]
            if tuple(t.shape) != tuple(shape) or t.dtype != dt:
                raise StoreError(f"tensor {n!r} is {tuple(t.shape)} {t.dtype}, planned as {tuple(shape)} {dt}")
            data = memoryview(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
            f.write(data)
            h.update(data)
            del t, data
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed" if p != "taskfair" else __version__
    return out


# --------------------------------------------------------------------------- task vectors on disk

_TV_FORMAT = TV_FORMAT = "taskfair.task_vector/1"
# the largest shard of a stored task vector (a vector larger than this is a folder of shards)
SHARD_BYTES = 2 * 1024**3


def save_task_vector(path: str | Path, tv: TaskVector) -> Path:
    """Write ``tv`` as safetensors, with its base model and base sha256 in the metadata."""
    meta = {"format": _TV_FORMAT, "base_sha256": tv.base_sha256 or "", "base_model": tv.base_model,
            "name": tv.name}
    with atomic_path(path) as tmp:
        save_safetensors(tv.deltas, tmp, meta)
    return Path(path)


def task_vector_metadata(path: str | Path, *, expected_base_sha256: str | None = None) -> dict[str, str]:
    """The metadata of a stored task vector, after checking that the file is one and that it was
    taken from ``expected_base_sha256`` (when given); reads the header only."""
    return _open_task_vector(Path(path), expected_base_sha256, tensors=False)[0]


def load_task_vector(path: str | Path, *, expected_base_sha256: str | None = None) -> TaskVector:
    """Read a task vector (a file, or a folder of shards); a file that is not one, or one from
    another base, raises. The deltas come back as float32."""
    path = Path(path)
    meta, tensors = _open_task_vector(path, expected_base_sha256, tensors=True)
    return TaskVector(tensors, base_sha256=meta.get("base_sha256") or None,
                      base_model=meta.get("base_model", ""), name=meta.get("name", path.stem))


def task_vector_shards(path: Path) -> list[Path]:
    """The shard files of a sharded task vector folder, in order."""
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise StoreError(f"task vector folder {path} holds no shards")
    return files


def _open_task_vector(path: Path, expected_base_sha256: str | None, *, tensors: bool):
    if path.is_dir():  # a sharded vector: every shard carries the same metadata
        meta, data = {}, {}
        for f in task_vector_shards(path):
            m, d = _open_task_vector(f, expected_base_sha256, tensors=tensors)
            if meta and m != meta:
                raise StoreError(f"{f}: its metadata differs from the other shards of {path}")
            meta = m
            data.update(d)
        return meta, data
    from safetensors import safe_open

    if not path.is_file():
        raise StoreError(f"task vector file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            data = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise StoreError(f"{path} is not a readable safetensors file ({exc}); it may be truncated "
                         "or corrupt: delete it and recompute it") from exc
    if meta.get("format") != _TV_FORMAT:
        raise StoreError(f"{path} is a safetensors file but not a taskfair task vector "
                         f"(format {meta.get('format')!r})")
    base = meta.get("base_sha256") or None
    if expected_base_sha256 and base and base != expected_base_sha256:
        raise TaskVectorMismatch(
            f"{path} was taken from base {base[:12]}… ({meta.get('base_model')}), not from the "
            f"expected base {expected_base_sha256[:12]}…; vectors only combine with their own base")
    return meta, data
