"""Named study profiles (``quick``, ``paper-gender`` …): YAML files shipped in this package's
``profiles/`` folder."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from taskfair.config import ConfigError, StudyConfig, load_config

__all__ = ["PROFILE_DIR", "profile_names", "load_profile"]

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(source: str | Path | Mapping[str, Any],
                 overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """A validated config from a profile name, a YAML file or a mapping, with dotted
    ``overrides`` (``{"train.epochs": 2}``) applied before validation."""
    if not isinstance(source, Mapping):
        path = Path(source)
        if not path.suffix and not path.exists():
            path = PROFILE_DIR / f"{source}.yaml"
            if not path.is_file():
                raise ConfigError(f"no config file or profile {str(source)!r}; profiles: {profile_names()}")
        source = path
    return load_config(source, overrides)
