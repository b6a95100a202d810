"""One training recipe for every model: AdamW, cosine schedule, BCE, the same augmentation, one kept epoch (the
best by a validation score, or the last), and resumption from the last checkpoint.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sednn.core.io import atomic_write, sha256_json
from sednn.training import distributed as dist
from sednn.training import progress
from sednn.training.device import configure_device, resolve_device
from sednn.training.tensors import TensorData

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- training loop
# Which epoch's weights a training keeps: "best" by its validation score, or "last". The classifiers keep the last
# (sednn.study.classifiers.KEEP); the parser its best by validation mIoU.
Keep = Literal["best", "last"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    new_module_lr_mult: float
    weight_decay: float
    seed: int
    device: str = "cpu"
    bf16_autocast: bool = False  # training forward passes in bfloat16 autocast (predictions stay float32)
    compile: bool = False  # torch.compile the training forward/backward
    sync_batchnorm: bool = True  # multi-GPU: BatchNorm statistics over the global batch
    checkpoint_every_s: float = 60.0  # resumable state written at most this often (and after the last epoch)
    keep: Keep = "best"

    def __post_init__(self):
        if self.keep not in ("best", "last"):
            raise ValueError(f"TrainConfig.keep must be 'best' or 'last', got {self.keep!r}")

    def signature(self, **extra) -> str:
        """What the weights depend on; how the step is executed (compiled or not, how often it is saved) is left
        out."""
        execution = ("compile", "checkpoint_every_s")
        return sha256_json({**{k: v for k, v in asdict(self).items() if k not in execution}, **extra})


def param_groups(model: nn.Module, lr: float, mult: float) -> list[dict]:
    """Pretrained backbone weights at ``lr``; everything the model adds at ``lr * mult``."""
    body = {id(p) for p in model.backbone.parameters()}
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if id(p) in body], "lr": lr},
            {"params": [p for p in params if id(p) not in body], "lr": lr * mult}]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; on CUDA its fused kernel (one launch per step instead of several per parameter)."""
    return torch.optim.AdamW(param_groups(model, cfg.lr, cfg.new_module_lr_mult), weight_decay=cfg.weight_decay,
                             fused=resolve_device(cfg.device).type == "cuda" or None)


def multilabel_loss(model: nn.Module, batch: tuple) -> torch.Tensor:
    """Binary cross-entropy over every label; logits cast to float32 (they may come out of bf16 autocast)."""
    x, m, y, start = batch
    return F.binary_cross_entropy_with_logits(model(x, m, start).float(), y)


def optimizer_step(net: nn.Module, opt: torch.optim.Optimizer, loss_fn: Callable, batch, device: torch.device,
                   bf16_autocast: bool = False):
    """The one training step of every model: forward (in bf16 autocast when asked), backward, optimiser step;
    returns the loss (a tensor: reading it would wait for the GPU)."""
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16_autocast):
        loss = loss_fn(net, batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def prepare_for_training(model: nn.Module, cfg: TrainConfig, device: torch.device) -> nn.Module:
    """Model on ``device`` in channels-last memory; returns what the step calls: the model itself, wrapped in
    DistributedDataParallel under ``torchrun``, and compiled when asked. Weights stay shared with ``model``."""
    configure_device(device)
    model.to(device).to(memory_format=torch.channels_last)
    net = model
    if dist.world()[1] > 1:
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda" and cfg.sync_batchnorm:
            nn.SyncBatchNorm.convert_sync_batchnorm(model)  # replaces the BatchNorm children in place
            model.to(device)
        # "cuda" means this process's current GPU (set from LOCAL_RANK by sednn.training.distributed.init_from_env)
        net = DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if device.type == "cuda"
                                      else None)
    if cfg.compile:
        net = torch.compile(net)
    return net


def _save(obj, path: Path) -> None:
    if dist.is_main():  # one writer; the others wait at the next barrier
        atomic_write(path, lambda p: torch.save(obj, p))


def _on_cpu(state: dict) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


class CheckpointError(RuntimeError):
    pass


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, loaded on the CPU as plain tensors and containers (``weights_only``: loading runs
    no code from the file). An unreadable file raises ``CheckpointError`` naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated or corrupt zip, foreign pickle: the unpickler's many error types
        first_line = (str(e).splitlines() or [""])[0][:200]
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {first_line})") from None


def load_kept(model: nn.Module, ckpt_dir: str | Path, device="cpu") -> nn.Module:
    """Load the kept epoch's weights (``kept.pt``); a missing file is an error, never silently untrained weights."""
    path = Path(ckpt_dir) / "kept.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained checkpoint; run the training notebook first")
    model.load_state_dict(read_checkpoint(path)["model"])
    return model.to(device)


def resumable_state(last: Path, signature: str, desc: str) -> dict | None:
    """``last.pt`` when it belongs to this configuration and can be read; else None (train from scratch),
    with a warning that names the file."""
    if not last.exists():
        return None
    try:
        state = read_checkpoint(last)
    except CheckpointError as e:
        log.warning("%s: %s; training from scratch", desc, e)
        return None
    if state.get("signature") != signature:
        log.warning("%s: checkpoint %s is from another configuration; training from scratch", desc, last)
        return None
    return state


def fit(model: nn.Module, cfg: TrainConfig, ckpt_dir: str | Path, *,
        batches: Callable[[torch.Generator], Iterable], steps_per_epoch: int,
        loss_fn: Callable[[nn.Module, tuple], torch.Tensor], score_fn: Callable[[nn.Module], float],
        signature: str, desc: str = "train") -> list[dict]:
    """Train, keep one epoch's weights (``cfg.keep``: the best by ``score_fn``, a validation score, higher is
    better; or the last) and resume after interruption.

    ``batches(generator)`` yields one epoch of training batches drawn with ``generator``.
    Every epoch reseeds from (seed, epoch), so a resumed run matches an uninterrupted one. The resumable state
    (``last.pt``: weights, optimiser, schedule) and the kept weights so far (``kept.pt``) are written together
    every ``cfg.checkpoint_every_s`` seconds, not every epoch (a GPU epoch can take less time than the write);
    after the last epoch ``last.pt`` keeps only the history (a finished training needs no optimiser).

    One function on purpose: resumption, the epoch loop and the two checkpoints share their state, and split apart
    each part would have to be told the others' (the loop is the recipe every model shares).
    """
    device = resolve_device(cfg.device)
    rank, _ = dist.world()
    ckpt_dir = Path(ckpt_dir)
    last, kept_path = ckpt_dir / "last.pt", ckpt_dir / "kept.pt"
    net = prepare_for_training(model, cfg, device)
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs * steps_per_epoch))
    start, history = 0, []
    state = resumable_state(last, signature, desc)
    if state is not None:
        start, history = state["epoch"], state["history"]
        if start < cfg.epochs:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
        if rank == 0:
            log.info("%s: resuming at epoch %d of %d", desc, start, cfg.epochs)
    kept_weights = None  # the kept epoch's weights, held until the next write
    need_kept = state is None or not kept_path.exists()  # a fresh start writes its own kept.pt, whatever its score
    written = time.monotonic()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        epoch_seed = cfg.seed * 100_003 + epoch
        torch.manual_seed(epoch_seed + 7919 * rank)  # dropout: each process draws its own masks
        gen = torch.Generator().manual_seed(epoch_seed)  # order and augmentation: the same in every process
        model.train()
        losses = []
        for batch in tqdm(batches(gen), total=steps_per_epoch, desc=f"{desc} {epoch + 1}/{cfg.epochs}",
                          leave=False, disable=rank > 0):
            losses.append(optimizer_step(net, opt, loss_fn, batch, device, cfg.bf16_autocast))
            sched.step()
        dist.sync_buffers(model)  # every process scores (and saves) rank 0's model
        score = float(score_fn(model))  # the same in every process
        train_loss = dist.mean_over_processes(float(torch.stack(losses).float().mean()))
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_score": score,
                        "lr": sched.get_last_lr()[0], "seconds": time.perf_counter() - t0})
        finished = epoch + 1 == cfg.epochs
        # "last" holds every epoch's weights until the next write (kept.pt follows last.pt's epoch)
        if kept_epoch(history, cfg.keep) is history[-1] or need_kept:
            need_kept = False
            kept_weights = {"model": _on_cpu(model.state_dict()), "epoch": epoch + 1, "val_score": score}
        if finished or time.monotonic() - written >= cfg.checkpoint_every_s:
            if kept_weights is not None:  # first, so last.pt never records an epoch whose weights kept.pt lacks
                _save(kept_weights, kept_path)
                kept_weights = None
            done = {"epoch": epoch + 1, "history": history, "signature": signature}
            _save(done if finished else {**done, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                         "scheduler": sched.state_dict()}, last)
            written = time.monotonic()
        dist.barrier()
        if rank == 0:
            log.debug("%s epoch %d: loss %.4f val %.4f", desc, epoch + 1, train_loss, score)
    if rank == 0 and history:
        training = finished_training(desc, history, cfg.keep, reused=start >= cfg.epochs)
        log.info("%s", training.line())
        progress.report(training)
    load_kept(model, ckpt_dir, device)
    return history


def kept_epoch(history: list[dict], keep: Keep) -> dict:
    """The history entry of the epoch ``keep`` keeps: the last, or the best validation score (NaN never best)."""
    if keep == "last":
        return history[-1]
    return max(history, key=lambda h: -math.inf if math.isnan(h["val_score"]) else h["val_score"])


def finished_training(desc: str, history: list[dict], keep: Keep, reused: bool = False) -> progress.Training:
    """A training as its one line in the notebooks' output and the runner's progress show it: epochs, the kept
    epoch and its validation score, time."""
    kept = kept_epoch(history, keep)
    return progress.Training(desc, int(history[-1]["epoch"]), int(kept["epoch"]), float(kept["val_score"]),
                             float(sum(h["seconds"] for h in history)), reused)


@torch.no_grad()
def predict(model: nn.Module, data: TensorData, indices, device: torch.device, batch_size: int,
            maps: torch.Tensor | None = None, output: Callable = torch.sigmoid) -> np.ndarray:
    """Model outputs for ``indices`` in order, no augmentation; ``maps`` replaces the stored maps.
    Computed in float32 (no autocast): stored scores are ranked by AUC and pick epochs and lrs, and bfloat16's
    8 significant bits would tie them. Under ``torchrun`` each process predicts its share and every process
    returns all rows."""
    model.eval().to(device)
    out = []
    idx = torch.as_tensor(np.asarray(indices))[dist.split_evenly(len(indices))].to(data.images.device)
    for i in range(0, len(idx), batch_size):
        x, m, _, start = data.batch(idx[i:i + batch_size], device, maps=maps)
        out.append(output(model(x, m, start).float()).float().cpu())
    return dist.gather_rows(torch.cat(out).numpy() if out else np.zeros((0,), np.float32))
