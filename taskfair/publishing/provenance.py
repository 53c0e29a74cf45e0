"""What a merged model is made of, recorded so that it can be rebuilt to the byte.

A provenance record (``provenance.json`` beside every export) holds the base model and the
sha256 of its weights, each task vector's file, sha256 and coefficient, the merge method and its
parameters, the dataset, attribute, subgroups and evaluation split with a hash of the evaluation
data, the seeds, the package versions, the metrics with bootstrap intervals, and the sha256 of
the merged weights. :func:`recreate` rebuilds the merged weights from the record alone (plus the
artifact store it names) and checks that hash::

    python -m taskfair recreate exports/my-model/provenance.json
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from ..data.images import is_image_run
from ..errors import StoreError
from ..metrics.tables import rates_with_ci
from ..steering.configurations import Recipe
from ..steering.exact import build_model, load_theta0
from ..store.files import package_versions, sha256_file
from ..store.root import ArtifactStore
from ..store.run import Run
from ..metrics.health import is_degenerate
from ..vectors.taskvector import model_weights, weights_sha256

__all__ = ["FORMAT", "RECORD_FILE", "check_export_files", "folder_weights_sha256", "check_folder_weights", "eval_data_sha256", "build_record", "record_summary", "record_recipe", "write_record",
           "read_record", "recreate", "ProvenanceError"]

FORMAT = "taskfair.provenance/1"
RECORD_FILE = "provenance.json"   # the record's name inside an export folder


class ProvenanceError(ValueError):
    """A provenance record that is malformed, or whose inputs no longer match it."""


def eval_data_sha256(texts: Sequence[str], labels: np.ndarray, masks: np.ndarray,
                     groups: Sequence[str], *, images: bool = False) -> str:
    """A hash of exactly what the metrics were computed on: texts, labels and group membership.
    For images (``texts`` are paths) the files' bytes are hashed too, so the same paths holding
    other pixels give another hash."""
    h = hashlib.sha256()
    h.update(json.dumps(list(groups)).encode())
    for t in texts:
        b = str(t).encode()
        h.update(len(b).to_bytes(8, "little") + b)
        if images:
            try:
                h.update(hashlib.sha256(Path(t).read_bytes()).digest())
            except OSError as exc:
                raise ProvenanceError(f"cannot hash evaluation image {t}: {exc}") from None
    h.update(np.ascontiguousarray(labels, dtype=np.int8).tobytes())
    h.update(np.ascontiguousarray(masks, dtype=bool).tobytes())
    return h.hexdigest()


def _config_sha256(config: Mapping) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def build_record(run: Run, seed: int, coefficients: Mapping[str, float], model: torch.nn.Module, *,
                 method: str = "task_arithmetic", params: Mapping | None = None,
                 margins: Mapping[str, np.ndarray] | None = None, n_boot: int = 1000,
                 configuration: str | None = None, layerwise: Mapping | None = None) -> dict:
    """The provenance record of ``model``, merged from ``run``'s seed ``seed`` with
    ``coefficients`` (stored vector -> λ: a subgroup, ``fft`` or ``lora``). ``margins``
    (split -> [N]) are the model's predictions on the run's splits, for the metrics; splits not
    given are left out. ``configuration`` is the configuration string it was made from;
    ``layerwise`` (:attr:`Recipe.layerwise`) the per-block coefficients of a layer-wise merge."""
    cfg = run.config
    groups = run.groups()
    unknown = [v for v in coefficients if not run.has_task_vector(seed, v)]
    if unknown:
        raise ProvenanceError(f"no stored task vector {unknown} for seed {seed} in run {run.run_id!r}; "
                              f"stored: fft, lora, {', '.join(groups)}")
    data = run.dataset()
    idx = run.split_indices(seed)
    vectors = []
    for v, lam in coefficients.items():
        name = run.task_vector_file(seed, v)
        vectors.append({"vector": v, "subgroup": v if v in groups else None, "file": name,
                        "sha256": run.vector_sha256(seed, v), "coefficient": float(lam)})
    evaluation = {}
    for split, m in (margins or {}).items():
        rows = np.asarray(idx[split])
        part = data.iloc[rows]
        labels = part["label"].to_numpy(dtype=np.int8)
        masks = np.ascontiguousarray(part[groups].to_numpy(dtype=bool).T)
        pred = np.asarray(m) > 0
        merged = rates_with_ci(pred, labels, masks, groups, n_boot=n_boot, seed=seed).drop(columns="note")
        evaluation[split] = {
            "n_examples": int(len(rows)),
            "data_sha256": eval_data_sha256(part["text"].tolist(), labels, masks, groups,
                                            images=is_image_run(cfg)),
            "metrics": json.loads(merged.rename(columns={"low": "ci_low", "high": "ci_high"})
                                  .to_json(orient="records")),
            "bootstrap": {"n": n_boot, "interval": 0.95, "seed": seed},
            # a constant predictor is trivially fair: say so wherever this record is shown
            "degenerate": is_degenerate(pred, labels),
        }
    extra = {"layerwise": dict(layerwise)} if layerwise else {}
    return {
        **extra,
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run": {"id": run.run_id, "artifact_root": str(run.path.parent.resolve()),
                "config_sha256": _config_sha256(cfg), "config": cfg},
        "base_model": {"spec": cfg["model"], "weights_sha256": run.base_sha256(seed), "head_seed": seed},
        "configuration": configuration,
        "task_vectors": vectors,
        "merge": {"method": method, "params": dict(params or {}), "arithmetic": "float32"},
        "data": {"dataset": cfg["dataset"].get("name"), "attribute": cfg["dataset"].get("attribute"),
                 "path": cfg["dataset"].get("path"), "subgroups": groups,
                 "splits_sha256": run.splits_sha256(seed),
                 "selection_split": "val", "report_split": "test"},
        "seeds": {"run": list(cfg["seeds"]), "this_model": seed},
        "versions": package_versions(),
        "evaluation": evaluation,
        "merged_weights_sha256": weights_sha256(model_weights(model)),
    }


def write_record(record: Mapping, path: str | Path) -> Path:
    """Write ``record`` as ``provenance.json`` (or to ``path`` when it names a file)."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_FILE
    record = json.loads(json.dumps({k: v for k, v in record.items() if k != "record_sha256"}, default=str))
    record["record_sha256"] = _record_sha256(record)  # so a changed byte anywhere in it is caught
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


_RECORD_KEYS = {"format", "created", "run", "base_model", "configuration", "task_vectors", "merge", "data",
                "seeds", "versions", "evaluation", "merged_weights_sha256", "files", "record_sha256",
                "layerwise", "notes"}


def _record_sha256(record: Mapping) -> str:
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_export_files(folder: str | Path, record: Mapping) -> list[str]:
    """Every file of an export folder whose sha256 differs from the record (or that is missing):
    the weights, config and tokenizer as written. ``folder`` is the export folder or its
    ``provenance.json``; a record kept elsewhere, or made before files were listed, checks none."""
    folder = Path(folder)
    if folder.is_file():
        if folder.name != RECORD_FILE:
            return []
        folder = folder.parent
    out = []
    for name, sha in sorted(record.get("files", {}).items()):
        path = folder / name
        if not path.is_file():
            out.append(f"{name}: missing from {folder}")
        elif sha256_file(path) != sha:
            out.append(f"{name}: sha256 differs from the record (modified or damaged)")
    return out


def _folder_model_class(folder: Path):
    """The transformers class an export folder's config.json names, and that config."""
    import transformers
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder))
    except Exception as exc:  # no config.json, or one transformers cannot read
        raise ProvenanceError(f"{folder}: its config.json cannot be read ({type(exc).__name__}: "
                              f"{str(exc)[:120]})") from None
    arch = (getattr(config, "architectures", None) or [None])[0]
    cls = getattr(transformers, arch, None) if isinstance(arch, str) else None
    if cls is None:
        raise ProvenanceError(f"{folder}: its config.json names no model class transformers knows "
                              f"(architectures={getattr(config, 'architectures', None)!r})")
    return cls, config


def _parameter_names(cls, config) -> set[str] | None:
    """The floating-point parameter names of ``cls(config)``, built on the meta device (no memory
    for weights); None when the class cannot be built so."""
    try:
        with torch.device("meta"):
            skeleton = cls(config)
        return set(model_weights(skeleton))
    except Exception:
        return None


def folder_weights_sha256(folder: str | Path) -> str:
    """:func:`weights_sha256` of the model an export folder holds, under the model's own parameter
    names: the hash a record's ``merged_weights_sha256`` must equal for the folder to hold the
    model the record describes.

    When the safetensors files hold every parameter under its name (BERT, Llama, …) the tensors
    are read one at a time from the files. transformers writes some models under older checkpoint
    names (ViT's ``encoder.layer.N`` for ``layers.N``) and ties some weights: then the folder is
    loaded with transformers, as anyone using it would, and hashed — one model in memory, freed
    before this returns."""
    import gc

    from ..vectors.streaming import TensorSource
    from ..vectors.taskvector import WeightsHasher
    folder = Path(folder)
    if not any(folder.glob("*.safetensors")):
        raise ProvenanceError(f"{folder} holds no .safetensors weights to check")
    try:   # every file's header read once; a name in two shards is refused there
        source = TensorSource(folder)
    except StoreError as exc:
        raise ProvenanceError(f"{folder}: {exc}") from None
    try:
        cls, config = _folder_model_class(folder)
        names = _parameter_names(cls, config)
        if names is not None and names <= set(source.names()):
            h = WeightsHasher()
            for name in sorted(names):   # positioned reads, one tensor at a time
                h.update(name, source.get(name))
            return h.hexdigest()
    finally:
        source.close()
    try:
        model = cls.from_pretrained(str(folder), use_safetensors=True, dtype="auto")
    except Exception as exc:
        raise ProvenanceError(f"{folder}: transformers cannot load the weights ({type(exc).__name__}: "
                              f"{str(exc)[:120]})") from None
    try:
        return weights_sha256(model_weights(model))
    finally:
        del model
        gc.collect()


def check_folder_weights(folder: str | Path, record: Mapping) -> str:
    """"" when the weights in ``folder`` hash to the record's merged weights, else one line naming
    the weights file and both hashes. A record can be consistent with itself (its own hash
    recomputed) and still describe other weights than the folder holds: this is what catches it."""
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    try:
        sha = folder_weights_sha256(folder)
    except ProvenanceError as exc:
        return str(exc)
    except Exception as exc:   # a safetensors file that does not parse
        return f"{folder}: the weights cannot be read ({type(exc).__name__}: {str(exc)[:120]})"
    if sha != record["merged_weights_sha256"]:
        names = ", ".join(p.name for p in sorted(folder.glob("*.safetensors")))
        return (f"{names}: the weights in {folder} hash to {sha[:16]}…, but the record says the merged weights "
                f"are {record['merged_weights_sha256'][:16]}…: this folder does not hold the model its "
                "provenance.json describes")
    return ""


def record_recipe(record: Mapping) -> Recipe:
    """The merge a record describes (records written before vectors were named carry only
    subgroup vectors, under ``subgroup``)."""
    vectors = tuple(v.get("vector") or v["subgroup"] for v in record["task_vectors"])
    merge = record["merge"]
    lw = record.get("layerwise") or {}
    per_block = tuple(tuple(float(x) for x in lw["coefficients"][v]) for v in vectors) if lw else ()
    return Recipe(vectors, tuple(float(v["coefficient"]) for v in record["task_vectors"]),
                  merge["method"], tuple(merge.get("params", {}).items()), per_block=per_block,
                  bounds=tuple(int(b) for b in lw.get("bounds", ())))


def record_summary(record: Mapping) -> dict:
    """The short form of a record that ``metrics.json`` and the model card's header carry."""
    return {"run": record["run"]["id"], "seed": record["base_model"]["head_seed"],
            "configuration": record.get("configuration"),
            "coefficients": record_recipe(record).as_dict,
            "base_model": record["base_model"]["spec"], "base_sha256": record["base_model"]["weights_sha256"],
            "dataset": record["data"]["dataset"], "merge_method": record["merge"]["method"]}


def read_record(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_FILE
    if not path.is_file():
        raise ProvenanceError(f"{path} does not exist; give an export folder or its provenance.json")
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except ValueError as exc:  # not UTF-8, or not JSON
        raise ProvenanceError(f"{path} is not valid JSON ({str(exc).splitlines()[0]}): the record is damaged") from None
    if not isinstance(record, dict):
        raise ProvenanceError(f"{path} is not a taskfair provenance record (not a JSON object)")
    unknown = sorted(set(record) - _RECORD_KEYS)
    if unknown:  # (a changed byte in a key's name shows up here)
        raise ProvenanceError(f"{path} was modified after it was written: unknown field(s) {unknown}")
    if "record_sha256" in record and record["record_sha256"] != _record_sha256(record):
        raise ProvenanceError(f"{path} was modified after it was written (its content no longer matches its "
                              "record_sha256): it cannot vouch for this export")
    if record.get("format") != FORMAT:
        raise ProvenanceError(f"{path} is not a taskfair provenance record (format {record.get('format')!r})")
    for key in ("run", "base_model", "task_vectors", "merge", "merged_weights_sha256"):
        if key not in record:
            raise ProvenanceError(f"{path} lacks {key!r}")
    return record


def recreate(record: Mapping | str | Path, *, artifact_root: str | Path | None = None):
    """Rebuild the merged model a record describes; returns ``(model, tokenizer, sha256, ok)``.

    Every input is checked against the record before merging: the run's config hash, each task
    vector file's sha256, and θ0 (rebuilt from the model spec and checked against its hash).
    ``ok`` says whether the rebuilt weights hash to ``merged_weights_sha256``."""
    if not isinstance(record, Mapping):
        record = read_record(record)
    root = Path(artifact_root or record["run"]["artifact_root"])
    try:
        run = ArtifactStore(root).open(record["run"]["id"])
    except StoreError as exc:
        raise ProvenanceError(f"the record's run is not available: {exc}. Pass --artifacts with the "
                              "folder that holds it.") from exc
    if _config_sha256(run.config) != record["run"]["config_sha256"]:
        raise ProvenanceError(f"run {run.run_id!r} in {root} has a different config than the one recorded")
    seed = int(record["base_model"]["head_seed"])
    for v in record["task_vectors"]:
        vector = v.get("vector") or v["subgroup"]
        stored = run.vector_sha256(seed, vector) if run.has_task_vector(seed, vector) else None
        if stored != v["sha256"]:
            raise ProvenanceError(f"task vector {v['file']} has sha256 {str(stored)[:12]}…, the record "
                                  f"says {v['sha256'][:12]}…")
    how = record_recipe(record)
    subgroups = [v for v in how.vectors if v not in ("fft", "lora")]
    groups = run.groups()
    if subgroups and sorted(subgroups) != sorted(groups):
        raise ProvenanceError(f"the record's subgroups {sorted(subgroups)} differ from the run's {groups}")
    if record["base_model"]["weights_sha256"] != run.base_sha256(seed):
        raise ProvenanceError("θ0 of the run differs from the recorded base weights")
    base = load_theta0(run, seed)
    model = build_model(run, seed, how, base, in_place=True)
    sha = weights_sha256(model_weights(model))
    return model, base[1], sha, sha == record["merged_weights_sha256"]
