"""The artifact root (default ``./artifacts``): one folder per run, each with its manifest.
:class:`ArtifactStore` lists, creates (or resumes) and opens runs."""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Callable, Mapping

from ..config import upgrade_legacy
from . import layout
from .files import StoreError, os_error_line, package_versions, remove_leftovers
from .run import Run, check_name

__all__ = ["ArtifactStore", "DEFAULT_ROOT"]

DEFAULT_ROOT = Path("artifacts")
MANIFEST = layout.MANIFEST


class ArtifactStore:
    """The artifact root: one folder per run, each with its ``manifest.json``."""

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def runs(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / MANIFEST).is_file())

    def create(self, run_id: str, config: Mapping[str, Any], *, resume: bool = True,
               defaults: Mapping[str, Any] | None = None, ignore: tuple[str, ...] = ("output_root",),
               neutral: tuple[str, ...] = (), on_change: str = "refuse",
               log: Callable[[str], None] = lambda s: None) -> Run:
        """A run folder for ``config``. With ``resume`` an existing run with the same config is
        reopened (its finished jobs are kept); one with another config is an error naming the
        fields that differ. Fields in ``ignore`` (where the run lives) are not compared, and a
        field the stored config lacks (written before the field existed) matches its value in
        ``defaults``.

        ``neutral`` fields change how fast a run goes, not what it computes. ``on_change`` says
        what a different config does: ``refuse`` (the default), ``resume`` (allowed when only
        neutral fields differ; the stored config is kept, so earlier exports still check against
        it) or ``new`` (the old run is set aside as ``<run_id>.replaced-<time>``, nothing deleted,
        and a new run starts under ``run_id``)."""
        if on_change not in ("refuse", "resume", "new"):
            raise ValueError(f"on_change must be refuse, resume or new, got {on_change!r}")
        check_name(run_id)
        path = self.root / run_id
        config = json.loads(json.dumps(dict(config), default=str))
        if (path / MANIFEST).is_file():
            run = self.open(run_id, verify=False)
            if not resume:
                raise StoreError(f"run {path} already exists; choose another run id or delete it")
            defaults = json.loads(json.dumps(dict(defaults or {}), default=str))
            diff = config_differences(upgrade_legacy(run.config), config, defaults, ignore)
            real = [d for d in diff if d[0] not in neutral]
            if diff and on_change == "new":
                aside = self._set_aside(path)
                log(f"the earlier run {run_id} (another config) was set aside as {aside.name}; starting afresh")
            elif real:
                shown = "; ".join(f"{k}: stored {a!r}, now {b!r}" for k, a, b in real[:6])
                raise StoreError(f"run {path} exists with a different config ({shown}"
                                 f"{' …' if len(real) > 6 else ''}). Give this config another name "
                                 "(--set name=…) to start a new run beside it, drop the changed settings to "
                                 "resume it, or add --force-new to set the old run aside (renamed, nothing "
                                 "deleted) and start again under this name")
            elif diff and on_change != "resume":
                shown = "; ".join(f"{k}: stored {a!r}, now {b!r}" for k, a, b in diff)
                raise StoreError(f"run {path} exists with a different config, only in settings that do not "
                                 f"change results ({shown}). Add --resume-anyway to resume it with them (its "
                                 "stored config is kept), or drop them")
            else:
                gone = remove_leftovers(path)   # temporary files of a write a kill -9 interrupted
                if gone:
                    log(f"removed {len(gone)} temporary file(s) of an interrupted write: {', '.join(gone[:4])}")
                return run
        elif path.is_dir() and self._stray_files(path):
            stray = self._stray_files(path)
            if on_change != "new":
                shown = ", ".join(stray[:4]) + (f" … ({len(stray)} in all)" if len(stray) > 4 else "")
                raise StoreError(f"{path} holds files ({shown}) but no {MANIFEST}, so it is not a run taskfair "
                                 "can resume and it will not write into it. Restore its manifest to resume it, "
                                 f"move the folder aside (mv {path} {path}.old), or add --force-new to have it "
                                 "set aside (renamed, nothing deleted)")
            aside = self._set_aside(path)
            log(f"the folder {run_id} (files without a manifest) was set aside as {aside.name}; starting afresh")
        manifest = {"format": layout.FORMAT, "run_id": run_id, "config": config,
                    "versions": package_versions(),
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                    "files": {}, "jobs": {}}
        run = Run(path, manifest)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the run folder: {os_error_line(exc, path)}") from None
        run._write_manifest()
        return run

    @staticmethod
    def _stray_files(path: Path) -> list[str]:
        """What a folder without a manifest holds, but the lock of the process about to write it."""
        return sorted(str(p.relative_to(path)) for p in path.rglob("*")
                      if p.is_file() and p.name != layout.LOCK)

    def _set_aside(self, path: Path) -> Path:
        """Move a run's files (not its lock, which the caller holds) into a sibling folder."""
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = path.with_name(f"{path.name}.replaced-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = path.with_name(f"{path.name}.replaced-{stamp}-{n}")
        aside.mkdir()
        manifest = path / MANIFEST
        if manifest.is_file():
            manifest.rename(aside / MANIFEST)  # first: from here on `path` is no longer a run
        for child in list(path.iterdir()):
            if child.name != layout.LOCK:
                child.rename(aside / child.name)
        return aside

    def modified(self, run_id: str) -> float:
        """When the run's manifest last changed (0.0 when there is none): a rerun of the
        precompute changes it, so caches keyed on it are invalidated."""
        path = self.root / check_name(run_id) / MANIFEST
        return path.stat().st_mtime if path.is_file() else 0.0

    def open(self, run_id: str, *, verify: bool = True) -> Run:
        path = self.root / check_name(run_id)
        mpath = path / MANIFEST
        if not mpath.is_file():
            known = self.runs()
            raise StoreError(f"no run {run_id!r} under {self.root} (runs: {known or 'none'}); "
                             "run `python -m precompute` first")
        fix = (f"restore it from a backup, or delete {path} and rerun the precompute (without its "
               "manifest no stored file can be checked)")
        try:
            manifest = json.loads(mpath.read_bytes().decode("utf-8"))
        except ValueError as exc:  # not UTF-8, or not JSON
            raise StoreError(f"{mpath} is not valid JSON ({str(exc).splitlines()[0]}): the run's "
                             f"index of files is damaged; {fix}") from None
        if not isinstance(manifest, dict) or (manifest.get("format") == layout.FORMAT and not all(
                isinstance(manifest.get(k), dict) for k in ("files", "jobs", "config"))):
            raise StoreError(f"{mpath} is not a taskfair manifest (it needs the objects 'files', 'jobs' and "
                             f"'config'): the run's index of files is damaged; {fix}")
        if manifest.get("format") != layout.FORMAT:
            raise StoreError(f"run {path} was written in format {manifest.get('format')!r}, which this "
                             f"version of taskfair does not read ({layout.FORMAT}); recompute it with "
                             f"`python -m precompute --config <its profile> --set name={run_id}` "
                             "into another output root, or delete it")
        run = Run(path, manifest)
        if verify:
            run.verify()
        return run


def config_differences(stored: Mapping[str, Any], new: Mapping[str, Any], defaults: Mapping[str, Any],
                       ignore: tuple[str, ...] = (), prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted field, stored value, new value)`` for every field that differs; a field missing
    from ``stored`` compares as its value in ``defaults``."""
    out = []
    for key in sorted(set(stored) | set(new)):
        dotted = f"{prefix}{key}"
        if dotted in ignore:
            continue
        d = defaults.get(key) if isinstance(defaults, Mapping) else None
        a = stored.get(key, d) if key not in stored else stored[key]
        b = new.get(key, d) if key not in new else new[key]
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += config_differences(a, b, d if isinstance(d, Mapping) else {}, ignore, f"{dotted}.")
        elif a != b:
            out.append((dotted, a, b))
    return out
