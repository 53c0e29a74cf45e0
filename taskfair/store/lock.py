"""One writer per run: a lock file in the run folder holding the owner's pid, host and start
time. A second precompute of the same run is refused with who holds it; a lock left by a process
that is gone (same host, pid not alive) is taken over."""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
from pathlib import Path
from typing import Callable, Iterator

from . import layout
from .files import StoreError

__all__ = ["run_lock", "lock_holder"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _place(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: create-exclusive, then write
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(tmp.read_text())


@contextlib.contextmanager
def run_lock(folder: str | Path, *, log: Callable[[str], None] = lambda s: None) -> Iterator[Path]:
    """Hold the run's lock for the duration of the block."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / layout.LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    for _ in range(2):
        # written whole under a private name, then linked into place: a reader never sees a
        # lock without its owner, and the link fails if another process got there first
        tmp = folder / f".lock.{me['host']}.{me['pid']}.{os.urandom(4).hex()}.tmp"
        tmp.write_text(json.dumps(me))
        try:
            _place(tmp, path)
        except FileExistsError:
            try:
                owner = json.loads(path.read_text() or "{}")
            except (OSError, ValueError):
                owner = {}
            pid, host = owner.get("pid"), owner.get("host")
            if host == me["host"] and isinstance(pid, int) and not _alive(pid):
                log(f"taking over the lock of {folder.name}: process {pid} that held it is gone")
                path.unlink(missing_ok=True)
                continue
            raise StoreError(f"run {folder} is being computed by process {pid} on {host} (since "
                             f"{owner.get('started', '?')}); wait for it to finish. If that process is gone, "
                             f"delete {path} and rerun.") from None
        finally:
            tmp.unlink(missing_ok=True)
        break
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def lock_holder(folder: str | Path) -> dict | None:
    """Who is computing the run in ``folder`` (pid, host, started), or None: no lock, or a lock
    left on this host by a process that is gone."""
    path = Path(folder) / layout.LOCK
    try:
        owner = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return None
    pid = owner.get("pid")
    if owner.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
        return None
    return owner or None
