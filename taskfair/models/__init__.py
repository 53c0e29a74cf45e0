"""Models: load a 2-label classifier (θ0: a pretrained backbone with a head seeded per run seed),
run it (margins), and fine-tune it in full or with LoRA through ``accelerate``.

- :mod:`.loading`   — model specs (embedded, local folder, GGUF, hub id), :func:`load_classifier`
- :mod:`.stored`    — :func:`load_classifier_with_weights`: θ0 from a run's stored copy
- :mod:`.inference` — :func:`predict_margins`, batching of texts or images
- :mod:`.training`  — :func:`finetune`, :func:`finetune_lora`
"""
from ..config import TrainConfig
from .inference import best_device, encode_inputs, is_image_processor, pad_batch, predict_margins, same_device
from .loading import (EMBEDDED_MODELS, ModelError, ModelSource, check_model_spec, is_image_model, load_classifier,
                      resolve_model, tiny_classifier)
from .stored import load_classifier_with_weights
from .training import finetune, finetune_lora, length_grouped_batches, make_accelerator

__all__ = ["ModelError", "ModelSource", "EMBEDDED_MODELS", "resolve_model", "load_classifier",
           "load_classifier_with_weights",
           "tiny_classifier", "is_image_model", "check_model_spec", "predict_margins", "encode_inputs", "best_device", "same_device",
           "is_image_processor", "pad_batch", "TrainConfig", "finetune", "finetune_lora",
           "make_accelerator", "length_grouped_batches"]
