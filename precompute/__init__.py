"""The offline pipeline: ``python -m precompute --config <profile or file>``.

- :mod:`.profiles` — the named profiles shipped in ``profiles/`` (``quick``, ``paper-gender`` …)
- :mod:`.plan`     — every λ point of a seed, grouped into jobs
- :mod:`.jobs`     — a seed's training jobs and its evaluation grid
- :mod:`.summary`  — the metrics table, the λ chosen on validation, the headline
- :mod:`.pipeline` — :func:`validate_study` and :func:`run_study` (resumable, multi-process)
"""
from .pipeline import STAGES, StudyResult, planned_jobs, run_study, validate_study
from .plan import Point, plan_points
from .profiles import PROFILE_DIR, load_profile, profile_names

__all__ = ["run_study", "validate_study", "planned_jobs", "StudyResult", "STAGES", "load_profile", "profile_names",
           "PROFILE_DIR", "Point", "plan_points"]
