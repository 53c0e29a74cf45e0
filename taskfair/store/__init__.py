"""The artifact store: run folders with a manifest, files written atomically and read back
verified, and a finished run's predictions read back in the shapes the metrics use.

- :mod:`.files`   — atomic writes, sha256, canonical safetensors, task vectors on disk
- :mod:`.layout`  — where each artifact lives inside a run (the only place paths are built)
- :mod:`.run`     — :class:`Run`: one run folder, its artifacts by meaning
- :mod:`.root`    — :class:`ArtifactStore`: the root, its runs
- :mod:`.results` — a finished run read back: labels, masks, margins per seed and split
- :mod:`.progress` — how far a run still computing has got, and the time left
"""
from . import layout
from .files import (StoreError, atomic_path, load_task_vector, package_versions, save_task_vector,
                    sha256_file)
from .results import NoResultsYet, RunResults, SeedResults, load_predictions, load_results
from .root import DEFAULT_ROOT, ArtifactStore
from .lock import lock_holder, run_lock
from .progress import RunProgress, run_progress
from .run import Run, check_name

__all__ = ["layout", "StoreError", "atomic_path", "sha256_file", "package_versions", "save_task_vector",
           "load_task_vector", "ArtifactStore", "Run", "DEFAULT_ROOT", "RunResults", "SeedResults",
           "load_results", "load_predictions", "check_name", "run_lock", "lock_holder", "RunProgress",
           "run_progress", "NoResultsYet"]
