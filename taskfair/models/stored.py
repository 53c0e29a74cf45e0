"""θ0 rebuilt from weights a run stored, instead of from the checkpoint: the model is built
without weights and filled by positioned reads, so host memory holds one model plus a slice,
where ``from_pretrained`` also keeps the whole checkpoint mapped."""
from __future__ import annotations

import torch

from .loading import (_ensure_pad_token, _is_image_model, _load_image_processor, _load_tokenizer, _offline_hint,
                      ModelError, resolve_model)

__all__ = ["load_classifier_with_weights"]

_CHUNK = 8 << 20  # elements converted at a time when the stored dtype is not the wanted one


def load_classifier_with_weights(spec: str, weights, *, num_labels: int = 2, dtype: torch.dtype = torch.float32,
                                 trust_remote_code: bool = False, hasher=None):
    """The classifier of ``spec`` (its architecture, config and tokenizer or image processor)
    with every parameter read from ``weights``, a :class:`~taskfair.vectors.TensorSource` over
    weights this model had before (a run's stored θ0), instead of from the checkpoint.

    The model is built without weights (parameters on the meta device, buffers computed as
    usual), then each parameter is read once with positioned reads and converted to ``dtype``:
    host memory holds one model plus one tensor, where ``from_pretrained`` also maps the whole
    checkpoint. ``hasher`` (a :class:`~taskfair.vectors.taskvector.WeightsHasher`) is fed each
    tensor as stored, in sorted name order. Returns None when the stored names or shapes do not match the
    architecture, or for specs this does not cover (``tiny-*``, GGUF): load the usual way then.
    """
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForImageClassification, AutoModelForSequenceClassification

    if spec.startswith("tiny-"):
        return None
    src = resolve_model(spec)
    if src.gguf_file:
        return None
    kwargs = {"trust_remote_code": trust_remote_code}
    image = bool(_is_image_model(src, trust_remote_code))
    processor = _load_image_processor(src, trust_remote_code) if image else _load_tokenizer(src, kwargs)
    try:
        config = AutoConfig.from_pretrained(src.location, num_labels=num_labels, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not load the config of {spec!r}: {exc}.{_offline_hint(src)}") from exc
    auto = AutoModelForImageClassification if image else AutoModelForSequenceClassification
    with init_empty_weights(include_buffers=False):
        model = auto.from_config(config, dtype=dtype, **kwargs)
    if any(n in model.state_dict() for n, _ in model.named_buffers()):
        return None  # saved buffers (e.g. BatchNorm running statistics) are not in θ0's copy
    owners: dict[int, list[tuple[torch.nn.Module, str]]] = {}
    for module in model.modules():
        for attr, p in module._parameters.items():
            if p is not None:
                owners.setdefault(id(p), []).append((module, attr))
    params = dict(model.named_parameters())  # shared tensors once, as model_weights names them
    names = set(weights.names())
    if set(params) != names or any(tuple(params[n].shape) != tuple(weights.meta[n][0]) for n in params):
        return None
    buffer = None
    for name in sorted(params):
        p = params[name]
        shape, stored = tuple(weights.meta[name][0]), weights.get_range(name, 0, 0).dtype
        target = dtype if stored.is_floating_point else stored
        if hasher is not None:
            hasher.begin(name, shape, stored)
        if stored == target:  # read straight into the parameter's own memory
            t = weights.get(name)
            if hasher is not None:
                hasher.feed(t)
        else:  # converted a slice at a time through one reused buffer
            t = torch.empty(shape, dtype=target)
            flat, n = t.view(-1), t.numel()
            if buffer is None:
                buffer = torch.empty(_CHUNK, dtype=torch.float64)
            for a in range(0, n, _CHUNK):
                part = weights.get_range(name, a, min(n, a + _CHUNK), out=buffer)
                if hasher is not None:
                    hasher.feed(part)
                flat[a:a + part.numel()].copy_(part)
        new = torch.nn.Parameter(t, requires_grad=p.requires_grad and t.is_floating_point())
        del t
        for module, attr in owners[id(p)]:
            module._parameters[attr] = new
    if any(p.is_meta for p in model.parameters()) or any(b.is_meta for b in model.buffers()):
        return None
    if not image:
        _ensure_pad_token(model, processor)
    model.config.taskfair_spec = spec
    return model.eval(), processor
