"""Fine-tuning a sequence classifier through ``accelerate``: the same loop on CPU, one GPU or
many (``accelerate launch``, DeepSpeed), with dynamic padding and length-grouped batches."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..config import Precision, TrainConfig
from .inference import encode_inputs, is_image_processor

__all__ = ["TrainConfig", "finetune", "finetune_lora", "make_accelerator", "length_grouped_batches"]

def make_accelerator(precision: Precision = "fp32"):
    """An ``Accelerator`` for ``precision``. In a single process the global accelerate state is
    reset when the precision changes (accelerate keeps one per process); under ``accelerate
    launch`` / ``torchrun`` the launch settings win. On a host without CUDA the processes form a
    gloo group on the CPU (without ``cpu=True`` accelerate would leave each process alone).

    The learning-rate scheduler is stepped once per optimiser step, whatever the number of
    processes (accelerate's default steps it once per process)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    mp = "bf16" if precision == "bf16" else "no"
    if AcceleratorState._shared_state and PartialState().num_processes == 1:
        if AcceleratorState().mixed_precision != mp:
            AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(mixed_precision=mp, gradient_accumulation_steps=1, cpu=not torch.cuda.is_available(),
                       step_scheduler_with_optimizer=False)


def length_grouped_batches(lengths: Sequence[int], batch_size: int, *, rng: np.random.Generator,
                           group: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts: shuffle, sort within windows of
    ``group × batch_size``, cut into batches, shuffle the batches. Less padding per batch."""
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    window = group * batch_size
    batches = []
    for s in range(0, len(order), window):
        chunk = order[s:s + window]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _schedule(kind: str, warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f


def finetune(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    config: TrainConfig,
    *,
    progress: bool = True,
    description: str = "fine-tune",
    trainable: Sequence[torch.nn.Parameter] | None = None,
) -> list[float]:
    """Fine-tune ``model`` in place on ``texts``/``labels``; returns the loss per optimiser step.

    ``trainable`` restricts the optimiser to some parameters (e.g. LoRA adapters); by default
    every parameter that requires a gradient is trained.

    With N processes (``accelerate launch``, ``torchrun``) ``config.batch_size`` stays the
    **global** batch: every process draws the same batches (same seed) and takes every N-th
    example of each, and the loss is scaled so that the averaged gradient is the mean over the
    whole global batch. So N processes take the same optimiser steps, with the same learning-rate
    schedule, as one process with the same config; only dropout differs (process r seeds its
    dropout with ``seed + 7919·r``; process 0 draws what a single process draws).
    """
    from tqdm.auto import tqdm

    labels = np.asarray(labels, dtype=np.int64)
    if len(texts) != len(labels) or len(texts) == 0:
        raise ValueError(f"need as many labels as texts (got {len(texts)} texts, {len(labels)} "
                         "labels) and at least one example")
    acc = make_accelerator(config.precision)
    world, rank = acc.num_processes, acc.process_index
    if config.batch_size < world:
        raise ValueError(f"train.batch_size ({config.batch_size}) is the global batch and {world} processes share "
                         f"it: make it at least {world} (a multiple of {world}), e.g. "
                         f"--set train.batch_size={config.batch_size * config.grad_accum} --set train.grad_accum=1 "
                         "keeps the same batch per optimiser step")
    rng = np.random.default_rng(config.seed)  # the same on every process, so batches agree
    torch.manual_seed(config.seed + 7919 * rank)  # dropout masks differ between processes
    inputs = encode_inputs(tokenizer, texts, max_length=config.max_length)
    lengths = inputs.lengths
    per_epoch = math.ceil(len(texts) / config.batch_size)
    total_micro = config.max_steps * config.grad_accum if config.max_steps else \
        max(1, int(round(per_epoch * config.epochs)))
    total_steps = math.ceil(total_micro / config.grad_accum)
    if not config.max_steps and total_steps < config.min_steps:  # more epochs for a small subgroup
        total_steps = config.min_steps
        total_micro = total_steps * config.grad_accum

    params = list(trainable) if trainable is not None else [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config.learning_rate)
    warmup = int(round(config.warmup_ratio * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config.scheduler, warmup, total_steps))
    plugin = getattr(acc.state, "deepspeed_plugin", None)
    if plugin is not None:  # no DataLoader goes through prepare(), so DeepSpeed is told the batch
        plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = max(1, config.batch_size // world)
    model, optimizer, scheduler = acc.prepare(model, optimizer, scheduler)
    model.train()

    losses: list[float] = []
    batches: list[np.ndarray] = []
    bar = tqdm(total=total_steps, desc=description, unit="step",
               disable=not progress or not acc.is_main_process,
               dynamic_ncols=True)
    running = 0.0
    for micro in range(total_micro):
        if not batches:
            batches = length_grouped_batches(lengths, config.batch_size, rng=rng)
        idx = batches.pop()
        share = idx[rank::world]
        # a process left without an example of a tiny last batch still joins the gradient
        # all-reduce, with one example at weight 0
        weight = world / len(idx) if len(share) else 0.0
        share = share if len(share) else idx[:1]
        batch = {k: v.to(acc.device) for k, v in inputs.batch(share).items()}
        y = torch.as_tensor(labels[share], device=acc.device)
        with acc.autocast():
            logits = model(**batch).logits
        # sum over this share × N / global batch: the gradient average over processes is then the
        # mean over the global batch, as in one process
        loss = torch.nn.functional.cross_entropy(logits.float(), y, reduction="sum") * weight / config.grad_accum
        acc.backward(loss)
        running += float(loss.detach())
        if (micro + 1) % config.grad_accum == 0 or micro + 1 == total_micro:
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(running)
            bar.set_postfix(loss=f"{running:.3f}")
            bar.update(1)
            running = 0.0
    bar.close()
    model.eval()
    acc.free_memory()  # drops accelerate's references to the optimizer and scheduler
    return losses


def finetune_lora(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    config: TrainConfig,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: Sequence[str] | None = None,
    progress: bool = True,
    description: str = "LoRA",
) -> torch.nn.Module:
    """LoRA fine-tune of ``model`` (which is consumed: peft injects adapters into it); returns
    the merged plain model, whose weights minus θ0 form the LoRA task vector. The classification
    head is trained in full (peft's ``modules_to_save`` for sequence classification).

    For an image classifier (``tokenizer`` is an image processor) the adapters go on the attention
    query and value projections unless ``target_modules`` says otherwise, and the
    ``classifier`` head is trained in full."""
    from peft import LoraConfig, TaskType, get_peft_model

    if is_image_processor(tokenizer):
        # peft's SEQ_CLS wrapper passes input_ids; an image model takes pixel_values
        lcfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, modules_to_save=["classifier"],
                          target_modules=list(target_modules) if target_modules else _attention_targets(model))
    else:
        lcfg = LoraConfig(task_type=TaskType.SEQ_CLS, r=r, lora_alpha=alpha, lora_dropout=dropout,
                          target_modules=list(target_modules) if target_modules else None)
    # the adapters' initial values come from the global RNG: seed it, or a resumed run (which
    # skips the jobs before this one) would start LoRA from different adapters
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        peft_model = get_peft_model(model, lcfg)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    finetune(peft_model, tokenizer, texts, labels, config, progress=progress,
             description=description, trainable=trainable)
    return peft_model.merge_and_unload()


def _attention_targets(model: torch.nn.Module) -> list[str]:
    """The attention query/value projection names of an image model (their names differ between
    architectures and transformers versions)."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    for pair in (("q_proj", "v_proj"), ("query", "value"), ("q", "v"), ("qkv",)):
        if set(pair) <= names:
            return list(pair)
    raise ValueError("cannot tell this image model's attention projections apart; set "
                     "lora.target_modules to the names of the layers LoRA should adapt")
