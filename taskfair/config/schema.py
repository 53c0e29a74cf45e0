"""The study config as typed, frozen dataclasses: what one precompute run needs (model, dataset,
seeds, training, LoRA, λ grids, evaluation). Defaults are the embedded ``quick`` setting's
building blocks; :mod:`.loading` parses and validates them."""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["ConfigError", "Precision", "TrainConfig", "DatasetConfig", "LoraConfig", "GridConfig",
           "EvalConfig", "StudyConfig", "LAM_MAX"]

# the largest |λ| anything accepts — a grid, a λ range, a configuration string, a search bound
# (λ may be negative: task negation; beyond this the vectors swamp θ0 and the margins overflow)
LAM_MAX = 10.0


class ConfigError(ValueError):
    """An invalid config; the message names the field."""


Precision = Literal["fp32", "bf16"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for one fine-tune (the paper: 4 epochs, cosine, lr 1e-5,
    warm-up 0.01, weight decay 0.001, effective batch 16)."""

    epochs: float = 1.0
    learning_rate: float = 5e-5
    batch_size: int = 16
    grad_accum: int = 1
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    max_length: int = 64
    precision: Precision = "fp32"
    seed: int = 0
    max_steps: int | None = None
    # at least this many optimiser steps: a small subgroup's epochs are raised to reach it (a
    # 350-row subgroup at batch 16 is 22 steps an epoch, too few to learn anything)
    min_steps: int = 0

    def __post_init__(self) -> None:
        # (valid, the range it takes): beyond these no fine-tune of this study is meaningful, and a
        # typo (epochs 1e9, a learning rate of 1e9) would otherwise plan hours of training silently
        checks = {
            "epochs": (0 < self.epochs <= 1000, "in (0, 1000]"),
            "learning_rate": (0 < self.learning_rate <= 1, "in (0, 1]"),
            "batch_size": (1 <= self.batch_size <= 65536, "from 1 to 65536"),
            "grad_accum": (1 <= self.grad_accum <= 4096, "from 1 to 4096"),
            "weight_decay": (0 <= self.weight_decay <= 10, "in [0, 10]"),
            "warmup_ratio": (0 <= self.warmup_ratio < 1, "in [0, 1)"),
            "max_length": (8 <= self.max_length <= 131072, "from 8 to 131072"),
            "scheduler": (self.scheduler in ("linear", "cosine", "constant"), "linear, cosine or constant"),
            "precision": (self.precision in ("fp32", "bf16"), "fp32 or bf16"),
            "max_steps": (self.max_steps is None or 1 <= self.max_steps <= 10_000_000, "from 1 to 10,000,000"),
            "min_steps": (0 <= self.min_steps <= 10_000_000, "from 0 to 10,000,000"),
            "seed": (0 <= self.seed < 2 ** 32, "from 0 to 2**32 - 1"),
        }
        bad = [k for k, (ok, _) in checks.items() if not ok]
        if bad:
            raise ValueError("invalid training setting(s): " +
                             ", ".join(f"{k}={getattr(self, k)!r} (must be {checks[k][1]})" for k in bad))

    def to_dict(self) -> dict:
        return asdict(self)

    def optimizer_steps(self, n_examples: int) -> tuple[int, float]:
        """``(steps, epochs)`` a fine-tune on ``n_examples`` takes: ``max_steps`` when set, else
        ``epochs`` over the data, raised to ``min_steps`` (the epochs then grow to match)."""
        import math
        if self.max_steps:
            steps = self.max_steps
        else:
            micro = max(1, int(round(math.ceil(n_examples / self.batch_size) * self.epochs)))
            steps = max(math.ceil(micro / self.grad_accum), self.min_steps)
        per_epoch = max(1, math.ceil(n_examples / self.batch_size)) / self.grad_accum
        return steps, steps / per_epoch


def _grid(start: float, stop: float, step: float) -> tuple[float, ...]:
    n = int(round((stop - start) / step))
    return tuple(round(start + i * step, 6) for i in range(n + 1))


@dataclass(frozen=True)
class DatasetConfig:
    """Which data, which subgroups, and how to split it."""

    name: Literal["redditbias", "mhs", "civil_comments", "table", "image_folder"] = "redditbias"
    path: str | None = None      # table: the data file; image_folder: the labels-and-groups CSV
    image_root: str | None = None  # image_folder: folder the image paths are relative to (default: the CSV's)
    image_column: str = "image"
    attribute: str | None = None
    subgroups: tuple[str, ...] | None = None
    text_column: str = "text"
    label_column: str = "label"
    group_column: str | None = None
    group_columns: tuple[str, ...] | None = None
    group_separator: str = "|"
    label_threshold: float | None = None
    test_size: float = 0.2
    val_size: float = 0.1
    max_rows: int | None = None
    min_group_size: int = 0      # intersections (attribute "gender+race", named "women-black") below this are left out
    conflicting_duplicates: Literal["keep", "first", "drop"] = "keep"  # texts seen with both labels


@dataclass(frozen=True)
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None
    learning_rate: float | None = None


@dataclass(frozen=True)
class GridConfig:
    """λ grids: the uniform sweep, injection into FFT, and each subgroup's own axis; plus the
    points that teach the remix estimate how subgroup vectors interact: every pair of subgroups
    at each λ in ``pairs`` (both at that λ, the rest at 0), and ``probes`` random per-subgroup λ
    vectors in [0, 1] (seeded by the run's seed). λ may be negative (task negation: subtracting
    a subgroup's vector); ``lam_range`` is the range the sliders, the search and the command
    line offer for a remix of the finished run (beyond the stored points it is an extrapolation)."""

    uniform: tuple[float, ...] = _grid(0.0, 1.0, 0.1)
    inject: tuple[float, ...] = _grid(0.0, 1.0, 0.2)
    axis: tuple[float, ...] = (-1.0, -0.5) + _grid(0.0, 1.0, 0.2)
    pairs: tuple[float, ...] = ()
    probes: int = 0
    # other merge methods (any of taskfair.methods.grid_methods()), evaluated as
    # θ0 + merge(τ_g; λ for every subgroup) on their own λ grid, with their parameters:
    # ``{ties: {density: 0.2}}``; a parameter not given takes the method's default (filled in at
    # load, so a run's stored config says what it used)
    methods: tuple[str, ...] = ()
    methods_grid: tuple[float, ...] = (0.4, 0.7, 1.0)
    method_params: dict[str, dict[str, float]] = field(default_factory=dict)
    lam_range: tuple[float, float] = (-1.0, 1.5)


@dataclass(frozen=True)
class EvalConfig:
    batch_size: int = 64
    precision: Literal["fp32", "bf16"] = "fp32"
    max_length: int | None = None
    bootstrap: int = 200        # resamples of the evaluation examples for the 95% intervals (0: none)
    # compile the model (torch.compile) for the λ grid: tens of seconds once; margins equal up
    # to float rounding. Measured on MiniLM, 2 CPU cores: no gain in the grid (its weights are
    # views of one flat buffer), so off by default; meant for trying on a GPU host
    compile: bool = False


@dataclass(frozen=True)
class StudyConfig:
    """Everything one precompute run needs."""

    name: str = "study"
    model: str = "minilm"
    # the dtype θ0 is loaded in, trained in and its task vectors are stored in (bfloat16 halves
    # memory and disk for the 0.5–7B models; float32 keeps quick's results exact)
    model_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    seeds: tuple[int, ...] = (13,)
    train: TrainConfig = field(default_factory=TrainConfig)
    subgroup_train: TrainConfig | None = None
    lora: LoraConfig = field(default_factory=LoraConfig)
    grids: GridConfig = field(default_factory=GridConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output_root: str = "artifacts"
    trust_remote_code: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def torch_dtype(self):
        import torch
        return getattr(torch, self.model_dtype)

    @property
    def run_id(self) -> str:
        return self.name
