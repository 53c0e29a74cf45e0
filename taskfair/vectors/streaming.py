"""Merging checkpoints larger than memory: tensor by tensor from (sharded) safetensors, writing
shards, so peak memory stays near the largest tensor whatever the model size.

A source is a ``.safetensors`` file or a folder of shards (with or without
``model.safetensors.index.json``); task vectors saved by taskfair are single files.

Reading and writing use plain positioned file I/O into reused buffers rather than memory maps:
the bytes go straight from the page cache into the tensor that needs them (no page faults per
4 KiB, no mapped pages counted against the process), and each output shard's header is planned
from the base's metadata up front, so every merged tensor is written the moment it is ready.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from ..errors import StoreError
from ..methods import method_spec
from .merge import merge_tensor
from .taskvector import TaskVectorMismatch

__all__ = ["TensorSource", "stream_merge"]

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
          "U8": torch.uint8, "BOOL": torch.bool}
NAMES = {v: k for k, v in DTYPES.items()}
FLOATS = ("F64", "F32", "F16", "BF16")


@dataclass(frozen=True)
class _Entry:
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int      # absolute byte offset in the file
    nbytes: int


def _read_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and the offset where its data begins."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise StoreError(f"{path} is not a safetensors file: {size} bytes, shorter than the 8-byte header length")
        n = struct.unpack("<Q", raw)[0]
        if n > size - 8 or n > 100 * 2**20:
            raise StoreError(f"{path} is truncated or not safetensors: it declares a {n}-byte header "
                             f"in a {size}-byte file")
        try:
            header = json.loads(f.read(n))
        except ValueError as exc:
            raise StoreError(f"{path} has a corrupt safetensors header ({exc})") from exc
    return header, 8 + n


class TensorSource:
    """Named tensors spread over one or more safetensors files, read one tensor at a time with
    positioned reads (``os.preadv``) into a caller's buffer or a fresh tensor."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_file():
            files = [self.path]
        elif self.path.is_dir():
            files = sorted(self.path.glob("*.safetensors"))
        else:
            raise StoreError(f"{self.path} does not exist")
        if not files:
            raise StoreError(f"{self.path} holds no .safetensors files")
        self.entries: dict[str, _Entry] = {}
        self.meta: dict[str, tuple[tuple[int, ...], str]] = {}
        for f in files:
            header, data_start = _read_header(f)
            size = f.stat().st_size
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                try:
                    dtype, shape, (b, e) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
                except (KeyError, TypeError, ValueError) as exc:
                    raise StoreError(f"{f}: header entry {name!r} is malformed ({info!r})") from exc
                if dtype not in DTYPES:
                    raise StoreError(f"{f}: tensor {name!r} has dtype {dtype}, which taskfair cannot merge")
                want = math.prod(shape) * DTYPES[dtype].itemsize
                if e - b != want or data_start + e > size:
                    raise StoreError(f"{f} is truncated or corrupt: tensor {name!r} should span {want} bytes "
                                     f"at {data_start + b}, the file has {size} bytes")
                if name in self.entries:
                    raise StoreError(f"tensor {name!r} appears in both {self.entries[name].file} and {f}")
                self.entries[name] = _Entry(f, dtype, shape, data_start + b, want)
                self.meta[name] = (shape, dtype)
        self._fds: dict[Path, int] = {}

    def names(self) -> list[str]:
        return list(self.entries)

    def nbytes(self, name: str) -> int:
        return self.entries[name].nbytes

    def _fd(self, path: Path) -> int:
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        return fd

    def get(self, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """The tensor ``name``; read into ``out`` (a contiguous tensor with at least as many
        bytes, reinterpreted) when given, so a loop can reuse one buffer."""
        e = self.entries[name]
        dtype = DTYPES[e.dtype]
        if out is None:
            out = torch.empty(e.shape, dtype=dtype)
            target = out
        else:
            target = out.view(-1).view(torch.uint8)[: e.nbytes].view(dtype).view(e.shape)
        view = memoryview(target.view(-1).view(torch.uint8).numpy()) if e.nbytes else memoryview(b"")
        fd, done = self._fd(e.file), 0
        while done < e.nbytes:
            n = os.preadv(fd, [view[done:]], e.start + done)
            if n == 0:
                raise StoreError(f"{e.file} ended while reading {name!r}: the file is truncated")
            done += n
        return target

    def get_range(self, name: str, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Elements ``start:stop`` of the flattened tensor ``name`` (1-D, its stored dtype), read
        into ``out`` (a buffer with at least as many bytes, reinterpreted) when given: a large
        tensor can be merged a slice at a time."""
        e = self.entries[name]
        dtype = DTYPES[e.dtype]
        size = dtype.itemsize
        numel = e.nbytes // size if size else 0
        if not 0 <= start <= stop <= numel:
            raise ValueError(f"elements {start}:{stop} of {name!r} are out of range (it has {numel})")
        count = stop - start
        target = torch.empty(count, dtype=dtype) if out is None else \
            out.view(-1).view(torch.uint8)[: count * size].view(dtype)
        if count:
            view = memoryview(target.view(torch.uint8).numpy())
            fd, done, first = self._fd(e.file), 0, e.start + start * size
            while done < count * size:
                n = os.preadv(fd, [view[done:]], first + done)
                if n == 0:
                    raise StoreError(f"{e.file} ended while reading {name!r}: the file is truncated")
                done += n
        return target

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _plan_shards(names, meta, shard_bytes: int) -> list[list[str]]:
    shards, current, size = [], [], 0
    for name in names:
        shape, dtype = meta[name]
        n = math.prod(shape) * DTYPES[dtype].itemsize
        if current and size + n > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(name)
        size += n
    if current:
        shards.append(current)
    return shards


def _header(names, meta) -> bytes:
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name in names:
        shape, dtype = meta[name]
        n = math.prod(shape) * DTYPES[dtype].itemsize
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


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
    copied from the base. Every method works per tensor (:func:`~taskfair.vectors.merge.merge_tensor`).
    ``out_dir`` must not exist; it is built in a temporary folder, each shard fsynced, and renamed
    when complete, so an interrupted merge leaves nothing at ``out_dir``.
    """
    from tqdm.auto import tqdm

    method_spec(method)   # an unknown method is refused before anything is read
    if len(vectors) != len(coefficients):
        raise ValueError(f"{len(vectors)} vectors need {len(vectors)} coefficients, got {len(coefficients)}")
    bad = [c for c in coefficients if not math.isfinite(float(c))]
    if bad:
        raise ValueError(f"coefficients must be finite numbers, got {list(coefficients)}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise StoreError(f"{out_dir} already exists; choose another output folder")
    src = TensorSource(base)
    vecs = [TensorSource(v) for v in vectors]
    names = src.names()
    float_names = {n for n in names if src.meta[n][1] in FLOATS}
    for v in vecs:
        missing = sorted(float_names - set(v.names()))
        extra = sorted(set(v.names()) - float_names)
        if missing or extra:
            raise TaskVectorMismatch(f"{v.path} does not match {src.path}: missing {missing[:5]}, "
                                     f"unexpected {extra[:5]}")
        not_float = [n for n in sorted(float_names) if v.meta[n][1] not in FLOATS]
        if not_float:
            raise TaskVectorMismatch(f"{v.path}: '{not_float[0]}' is stored as {v.meta[not_float[0]][1]}; "
                                     "task vector entries must be floating point")
        wrong = [n for n in sorted(float_names) if v.meta[n][0] != src.meta[n][0]]
        if wrong:
            raise TaskVectorMismatch(f"{v.path}: shape of '{wrong[0]}' is {v.meta[wrong[0]][0]}, "
                                     f"the base has {src.meta[wrong[0]][0]}")
    order = {n: i for i, n in enumerate(sorted(float_names))}  # the tensor index merge_tensor expects
    plain = method == "task_arithmetic" and not params
    weights = torch.as_tensor([float(c) for c in coefficients], dtype=torch.float32)
    shards = _plan_shards(names, src.meta, shard_bytes)
    largest = max((math.prod(src.meta[n][0]) for n in names), default=0)
    # reused buffers: the float32 accumulator, one vector tensor, the output in the base's dtype
    acc_buf = torch.empty(largest, dtype=torch.float32)
    vec32_buf = torch.empty(largest, dtype=torch.float32)
    vec_buf = torch.empty(largest * 8, dtype=torch.uint8)
    out_buf = torch.empty(largest * 8, dtype=torch.uint8)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    total = sum(src.nbytes(n) for n in names)
    bar = tqdm(total=total, desc="merge", unit="B", unit_scale=True, disable=not progress)
    try:
        n_sh = len(shards)
        targets = ["model.safetensors"] if n_sh == 1 else \
            [f"model-{i + 1:05d}-of-{n_sh:05d}.safetensors" for i in range(n_sh)]
        weight_map = {}
        for shard, target in zip(shards, targets):
            with open(tmp / target, "wb") as f:
                f.write(_header(shard, src.meta))
                for name in shard:
                    shape, dtype = src.meta[name]
                    if name not in float_names:
                        t = src.get(name, out_buf)
                    else:
                        numel = math.prod(shape)
                        acc = acc_buf[:numel].view(shape)
                        t0 = src.get(name, vec_buf)
                        acc.copy_(t0)
                        if plain:
                            for c, v in zip(coefficients, vecs):
                                raw = v.get(name, vec_buf)
                                if raw.dtype != torch.float32:  # convert first: a promoting add_ is ~3× slower
                                    raw = vec32_buf[:numel].view(shape).copy_(raw)
                                acc.add_(raw, alpha=float(c))
                        else:
                            stack = torch.stack([v.get(name).float().reshape(-1) for v in vecs])
                            acc += merge_tensor(method, stack, weights, order[name], **params).reshape(shape)
                        t = out_buf.view(-1)[: numel * DTYPES[dtype].itemsize].view(DTYPES[dtype]).view(shape)
                        t.copy_(acc)
                    if t.numel():
                        f.write(memoryview(t.view(-1).view(torch.uint8).numpy()))
                    weight_map[name] = target
                    bar.update(src.nbytes(name))
                f.flush()
                os.fsync(f.fileno())
        if n_sh > 1:
            index = {"metadata": {"total_size": total}, "weight_map": weight_map}
            (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True))
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
        src.close()
        for v in vecs:
            v.close()
    return out_dir
