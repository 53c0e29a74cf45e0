"""Export a configuration of a finished run as a standard Hugging Face folder (config, tokenizer
or image processor, model.safetensors) with a model card, ``metrics.json`` and
``provenance.json``; verified by reloading; never overwrites.

:func:`export_configuration` is the one way the dashboard and ``python -m taskfair export`` export:
merge once, measure on validation and test, build the provenance record, write, reload, check."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..metrics.fairness import group_rates
from ..metrics.tables import rates_table
from ..data.images import is_image_run
from ..models.inference import is_image_processor, predict_margins
from ..steering.configurations import Variant, parse_variant, recipe
from ..steering.exact import build_model, load_theta0, model_margins
from ..vectors.engine import memory_budget
from ..vectors.taskvector import model_weights, weights_sha256
from ..store import layout
from ..errors import StoreError
from ..store.files import check_output_place, os_error_line, package_versions, sha256_file
from ..store.results import RunResults
from .card import model_card as _model_card
from .provenance import build_record, read_record, record_summary, write_record

__all__ = ["ExportError", "Exported", "auto_model_class", "default_export_name", "export_configuration",
           "export_model", "safe_export_dir", "zip_export"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class ExportError(ValueError):
    """An export that cannot be done as asked; the message says how to fix it."""


def safe_export_dir(export_root: str | Path, name: str) -> Path:
    """``export_root/name`` after checking the name cannot leave the folder or overwrite."""
    if not _NAME.match(name or "") or ".." in name:
        raise ExportError(f"export name {name!r} is not allowed: use letters, digits, '_', '-' and "
                          "'.', starting with a letter or digit (no '/' or '..')")
    root = Path(export_root).resolve()
    target = (root / name).resolve()
    if target.parent != root:
        raise ExportError(f"export name {name!r} would leave {root}")
    if target.exists():
        raise ExportError(f"{target} already exists; choose another name or delete it first")
    return target


def auto_model_class(processor):
    """The transformers Auto class an export reloads with: image classification for a model with
    an image processor, sequence classification for one with a tokenizer."""
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification
    return AutoModelForImageClassification if is_image_processor(processor) else AutoModelForSequenceClassification


SHARD_SIZE = "2GB"   # weight shards of an export, as Hugging Face checkpoints are cut


def _check_free_space(model: torch.nn.Module, folder: Path) -> None:
    """Refuse before writing when the folder's disk cannot hold the weights (plus a margin)."""
    need = _weights_bytes(model) + (64 << 20)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise ExportError(f"not enough free disk space in {folder}: the export needs about {need / 2**30:.2f} GB, "
                          f"{free / 2**30:.2f} GB are free; free some space or export elsewhere (-o DIR)")


def _weights_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def _digest(t: torch.Tensor) -> tuple:
    import hashlib
    t = t.detach().contiguous().cpu()
    h = hashlib.sha1()
    if t.numel():
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))  # no bytes copy of the tensor
    return tuple(t.shape), str(t.dtype), h.hexdigest()


def _check_written(folder: Path, model: torch.nn.Module) -> str:
    """Whether the tensors written to ``folder`` are the model's, byte for byte, read back one
    tensor at a time. Names are not compared (transformers may write a model's weights under its
    checkpoint names): every written tensor must equal one of the model's, and every parameter
    must be written. Returns what is wrong ("" when nothing is)."""
    from ..vectors.streaming import TensorSource
    seen, model_digests = set(), set()
    for t in model.state_dict().values():
        if t.data_ptr() in seen:  # a tied weight is written once
            continue
        seen.add(t.data_ptr())
        model_digests.add(_digest(t))
    params = {_digest(p) for p in model.parameters()}
    written = set()
    for f in sorted(folder.glob("*.safetensors")):
        # positioned reads, one tensor at a time (a memory map would keep every page read in
        # this process's resident memory until the end)
        source = TensorSource(f)
        try:
            for name in source.names():
                d = _digest(source.get(name))
                if d not in model_digests:
                    return f"{f.name}: tensor {name!r} is not one of the merged model's"
                written.add(d)
        finally:
            source.close()
    missing = params - written
    if missing:
        return f"{len(missing)} of the merged model's weights are not in the files written"
    return ""


def export_model(model: torch.nn.Module, tokenizer, target: Path, *, provenance: Mapping | None = None,
                 metrics: pd.DataFrame | None = None, check_texts: Sequence[str] = (),
                 max_length: int = 64, record: Mapping | None = None,
                 counterfactual: pd.DataFrame | None = None, versus: Mapping | None = None) -> Path:
    """Write ``model`` + ``tokenizer`` (or image processor) to ``target`` (which must not exist),
    with README.md and metrics.json, then reload it with transformers and check it predicts what
    ``model`` does on ``check_texts`` (image paths for an image model). Built in a temporary
    folder and renamed, so ``target`` is all or nothing."""
    image = is_image_processor(tokenizer)
    auto = auto_model_class(tokenizer)
    if provenance is None:
        provenance = record_summary(record) if record is not None else {}

    target = Path(target)
    if target.exists():
        raise ExportError(f"{target} already exists; choose another name or delete it first")
    try:
        check_output_place(target.parent, what="export folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        _check_free_space(model, target.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except StoreError as exc:
        raise ExportError(str(exc)) from None
    except OSError as exc:
        raise ExportError(f"cannot write the export: {os_error_line(exc, target.parent)}") from None
    try:
        model = model.cpu()
        cfg = model.config
        for attr in ("taskfair_spec",):
            if hasattr(cfg, attr):
                delattr(cfg, attr)
        model.save_pretrained(tmp, safe_serialization=True, max_shard_size=SHARD_SIZE)
        tokenizer.save_pretrained(tmp)
        if record is not None:  # what recreate checks the folder against, file by file
            record = {**record, "files": {f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.is_file()}}
        (tmp / "README.md").write_text(_model_card(target.name, provenance, metrics, record, image=image,
                                                   auto=auto.__name__, counterfactual=counterfactual,
                                                   versus=versus))
        if record is not None:
            write_record(record, tmp)
        summary = {"provenance": dict(provenance), "versions": package_versions(),
                   "metrics": [] if metrics is None else json.loads(metrics.to_json(orient="records"))}
        if versus:
            summary["versus_fft_paired"] = dict(versus)
        if counterfactual is not None:
            summary["counterfactual"] = json.loads(counterfactual.to_json(orient="records"))
        (tmp / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
        if not any((tmp / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json")):
            raise ExportError("the model was not written as safetensors")
        if record is not None:   # what recreate will check: the record's merged weights are these
            recorded, held = record["merged_weights_sha256"], weights_sha256(model_weights(model))
            if recorded != held:
                raise ExportError(f"the record says the merged weights hash to {recorded[:16]}…, the model "
                                  f"being exported hashes to {held[:16]}…; nothing was written")
        problem = _check_written(tmp, model)   # and the files hold exactly the model's tensors
        # reloading with transformers holds a second model: done when two copies fit the memory
        # budget; above that the bitwise check of every written tensor stands for it
        fits = 2 * _weights_bytes(model) <= memory_budget()
        if problem and not fits:
            raise ExportError(f"the export does not hold the merged weights ({problem}); nothing was written")
        if (check_texts or problem) and fits:
            reloaded = auto.from_pretrained(tmp, use_safetensors=True)
            if problem and {_digest(p) for p in reloaded.parameters()} != {_digest(p) for p in model.parameters()}:
                raise ExportError(f"the export does not hold the merged weights ({problem}); nothing was written")
            a = predict_margins(model, tokenizer, list(check_texts), max_length=max_length)
            b = predict_margins(reloaded, tokenizer, list(check_texts), max_length=max_length)
            del reloaded
            if len(a) and not np.allclose(a, b, atol=1e-4):
                raise ExportError(f"the reloaded export predicts differently (max margin gap "
                                  f"{np.abs(a - b).max():.2e}); nothing was written")
        for f in sorted(tmp.rglob("*")):  # on disk before the folder gets its final name
            if f.is_file():
                with open(f, "rb") as h:
                    os.fsync(h.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes it private; an export is meant to be shared
        for f in tmp.rglob("*"):      # and so are its files (safetensors writes some 0600)
            os.chmod(f, (0o777 if f.is_dir() else 0o666) & ~mask)
        try:
            os.rename(tmp, target)    # fails if another export took the name since the check above
        except OSError as exc:
            if target.exists():
                raise ExportError(f"{target} was created by another export while this one was written; "
                                  "this one is discarded: choose another name") from None
            raise ExportError(f"cannot name the export: {os_error_line(exc, target)}") from None
    except OSError as exc:   # a write failed midway: nothing is left, and the cause is said in one line
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"the export failed, nothing was written: {os_error_line(exc, target)}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def zip_export(folder: str | Path) -> bytes:
    """The export folder as zip bytes (for a download button)."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory() as d:
        archive = shutil.make_archive(str(Path(d) / folder.name), "zip", root_dir=folder.parent,
                                      base_dir=folder.name)
        return Path(archive).read_bytes()


def _layerwise(how, model) -> dict | None:
    """The per-block coefficients of a layer-wise recipe, with the blocks' names in this model."""
    from ..vectors.blocks import assign_blocks
    lw = how.layerwise
    if lw:
        names = [n for n, p in model.named_parameters() if p.is_floating_point()]
        lw["blocks"] = list(assign_blocks(names, how.bounds or None)[1])
    return lw


def default_export_name(run_id: str, seed: int, config: Variant | str) -> str:
    """A folder name for an export: run, seed and configuration (``quick-seed13-remix-0.2-0.5``)."""
    spec = config.spec if isinstance(config, Variant) else str(config)
    signed = re.sub(r"(?<=[:,/])-", "m", spec)  # a negative λ keeps its sign: remix:-0.5 -> remix-m0.5
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", signed).strip("-.")
    name = f"{run_id}-{layout.seed_label(seed)}-{slug}"
    if len(name) > 100:  # a long (layer-wise) configuration: cut, with a hash of the whole to keep names apart
        import hashlib
        name = name[:89] + "-" + hashlib.sha256(spec.encode()).hexdigest()[:10]
    return name


@dataclass(frozen=True)
class Exported:
    path: Path
    record: dict              # provenance.json
    metrics: pd.DataFrame     # test split, per group and summary


def export_configuration(results: RunResults, config: Variant | str, target: str | Path, *, seed: int | None = None,
                         base=None, n_boot: int = 1000, counterfactual: bool = True,
                         progress: Callable[[float, str], None] | None = None) -> Exported:
    """Export one configuration of a finished run (any configuration string: ``fft``,
    ``remix:0.2,0.5,…``, ``inject:female:0.6`` …) for one seed: merge once, measure on
    validation and test, record the provenance, write to ``target`` (which must not exist),
    reload and check. ``base`` (θ0 and its tokenizer) is rebuilt when not given."""
    config = parse_variant(config, results.groups) if isinstance(config, str) else config
    seed = int(next(iter(results.seeds)) if seed is None else seed)
    if seed not in results.seeds:
        raise ExportError(f"seed {seed} is not in run {results.run_id!r} (seeds {list(results.seeds)})")
    target = Path(target)
    if target.exists():
        raise ExportError(f"{target} already exists; choose another name or delete it first")
    say = progress or (lambda f, text: None)
    run = results.open_run()
    say(0.05, "Rebuilding θ0…")
    rebuilt = base is None
    base = base or load_theta0(run, seed)
    how = recipe(config, results.groups, results.config, seed)
    say(0.15, "Merging…")
    model = build_model(run, seed, how, base, in_place=rebuilt)  # a θ0 rebuilt here is merged into
    say(0.3, "Measuring on the validation and test splits…")
    margins = model_margins(run, seed, model, base[1], splits=("val", "test"))
    sr = results.seeds[seed]
    metrics = rates_table(group_rates(margins["test"] > 0, sr.labels["test"], sr.masks["test"]), results.groups)
    say(0.6, "Recording provenance (bootstrap intervals)…")
    record = build_record(run, seed, how.as_dict, model, method=how.method, params=dict(how.params),
                          margins=margins, n_boot=n_boot, configuration=config.spec, layerwise=_layerwise(how, model))
    from ..steering.views import candidate_evidence
    say(0.62, "Comparing with FFT and the run's front (paired)…")
    versus = candidate_evidence(results, {seed: margins["test"]}, split="test")
    cf = None
    if counterfactual and not is_image_run(results.config):
        say(0.65, "Counterfactual identity test…")
        from ..steering.counterfactual import counterfactual_test
        cf = counterfactual_test(results, config, seed=seed, model=model, processor=base[1]).table
    say(0.7, "Writing and verifying by reloading…")
    texts = results.data["text"].to_numpy()[sr.index["test"][:32]].tolist()
    path = export_model(model, base[1], target, metrics=metrics, check_texts=texts,
                        max_length=int(results.config["train"]["max_length"]), record=record, counterfactual=cf,
                        versus=versus)
    say(1.0, "Done")
    return Exported(path, read_record(path), metrics)
