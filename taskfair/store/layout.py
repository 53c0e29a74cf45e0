"""Where every artifact of a run lives: the one place that turns a meaning (a seed's task
vector, its predictions, its splits) into a name inside the run folder.

    manifest.json                     config, package versions, sha256 of every file, finished jobs
    data/dataset.parquet              text, label, one boolean column per subgroup
    data/report.json                  what loading dropped and why, and notes
    seed<s>/splits.json               row positions of the train/val/test splits
    seed<s>/base.json                 the sha256 of θ0 (pretrained model, head seeded with s)
    seed<s>/theta0.safetensors        θ0's weights, written only when the λ grid streams (a model
                                      too large for the in-RAM path); sharded like a vector
    seed<s>/tv/<vector>.safetensors   task vectors: fft, lora and one per subgroup, in the model's
                                      dtype; a vector larger than one shard (2 GB by default) is a
                                      folder of shards instead:
    seed<s>/tv/<vector>/<i>-of-<n>.safetensors
    seed<s>/preds/<job>.safetensors   val/test margins of every point of one evaluation job
    metrics.parquet  summary.json  headline.parquet  timings.json

Job names (recorded in the manifest when a job finishes) follow the same scheme. Runs written
in this layout carry the format ``taskfair.run/1``.
"""
from __future__ import annotations

__all__ = ["FORMAT", "MANIFEST", "LOCK", "DATASET", "DATA_REPORT", "METRICS", "SUMMARY", "HEADLINE", "TIMINGS",
           "DATA_COLUMNS", "seed_label", "splits", "base", "task_vector", "task_vector_prefix",
           "task_vector_shard", "task_vector_shard_prefix", "theta0", "theta0_shard", "theta0_shard_prefix",
           "predictions", "predictions_prefix", "vector_of", "job_of", "base_job", "train_job",
           "eval_job", "DATA_JOB", "METRICS_JOB"]

FORMAT = "taskfair.run/1"
MANIFEST = "manifest.json"
DATASET = "data/dataset.parquet"
DATA_REPORT = "data/report.json"
METRICS = "metrics.parquet"
SUMMARY = "summary.json"
HEADLINE = "headline.parquet"
TIMINGS = "timings.json"
PLAN = "plan.json"                       # every job of the run and its cost, for progress and ETA
INTERIM_METRICS = "interim/metrics.parquet"   # results so far of a run still computing
INTERIM_SUMMARY = "interim/summary.json"
LOCK = ".lock"   # held by the process computing the run (pid, host, start)
# columns of the stored dataset that are not subgroups
DATA_COLUMNS = ("text", "label")

DATA_JOB = "data"
METRICS_JOB = "metrics"
_TV, _PREDS, _SUFFIX = "tv", "preds", ".safetensors"


def seed_label(seed: int) -> str:
    """A seed's folder name, also used in names derived from it (``seed13``)."""
    return f"seed{int(seed)}"


def splits(seed: int) -> str:
    return f"{seed_label(seed)}/splits.json"


def base(seed: int) -> str:
    return f"{seed_label(seed)}/base.json"


def task_vector_shard(seed: int, vector: str, index: int, count: int) -> str:
    """Shard ``index`` (1-based) of ``count`` of a sharded task vector."""
    return f"{task_vector_shard_prefix(seed, vector)}{index:05d}-of-{count:05d}{_SUFFIX}"


def task_vector_shard_prefix(seed: int, vector: str) -> str:
    """The folder of a sharded task vector."""
    return f"{task_vector_prefix(seed)}{vector}/"


def theta0(seed: int) -> str:
    return f"{seed_label(seed)}/theta0{_SUFFIX}"


def theta0_shard_prefix(seed: int) -> str:
    return f"{seed_label(seed)}/theta0/"


def theta0_shard(seed: int, index: int, count: int) -> str:
    return f"{theta0_shard_prefix(seed)}{index:05d}-of-{count:05d}{_SUFFIX}"


def task_vector_prefix(seed: int) -> str:
    return f"{seed_label(seed)}/{_TV}/"


def task_vector(seed: int, vector: str) -> str:
    """``vector`` is ``fft``, ``lora`` or a subgroup."""
    return f"{task_vector_prefix(seed)}{vector}{_SUFFIX}"


def predictions_prefix(seed: int) -> str:
    return f"{seed_label(seed)}/{_PREDS}/"


def predictions(seed: int, job: str) -> str:
    """The margins file of an evaluation job (``uniform``, ``inject/female`` …; ``lora``)."""
    return f"{predictions_prefix(seed)}{job.replace('/', '-')}{_SUFFIX}"


def _strip(name: str, prefix: str) -> str | None:
    if name.startswith(prefix) and name.endswith(_SUFFIX):
        return name[len(prefix):-len(_SUFFIX)]
    return None


def vector_of(name: str, seed: int) -> str | None:
    """The vector a file name holds (whole or a shard of it) for ``seed`` (None when it is not
    one of its task vectors)."""
    inner = _strip(name, task_vector_prefix(seed))
    return inner.split("/", 1)[0] if inner else inner


def job_of(name: str, seed: int) -> str | None:
    """The (file-safe) job name of a predictions file of ``seed``, else None."""
    return _strip(name, predictions_prefix(seed))


def base_job(seed: int) -> str:
    return f"{seed_label(seed)}/base"


def train_job(seed: int, vector: str) -> str:
    return f"{seed_label(seed)}/train/{vector}"


def eval_job(seed: int, job: str) -> str:
    return f"{seed_label(seed)}/eval/{job}"
