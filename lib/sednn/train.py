"""One training recipe for every model: AdamW, cosine schedule, BCE, the same augmentation,
best checkpoint by a validation score, and resumption from the last checkpoint.
"""
from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import distributed as dist
from . import progress
from .io import atomic_write, sha256_json

log = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def configure_device(device: torch.device) -> None:
    """CUDA: let cuDNN pick the fastest kernels for each input shape (every batch of a profile has one shape)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- data on device
def _shared(array: np.ndarray) -> torch.Tensor:
    """A tensor on ``array``'s memory, no copy. Arrays may come read-only (views of a file's or an image's buffer),
    which torch warns about; nothing writes to these tensors, so that warning is silenced for them alone."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array)


@dataclass
class TensorData:
    """Cached arrays as tensors (optionally already on the GPU); batches are cut by index.

    Augmentation draws, per image and epoch, one of ``V`` stored views (``thetas``: a flip / zoom-in crop per
    image and view; view 0 is the photo itself), applied with one affine map to photo and semantic map.
    ``features`` given: the frozen backbone prefix's output for every view (``sednn.features``), so batches
    carry it instead of the photo and the model starts at backbone stage ``start``."""

    images: torch.Tensor  # (N, H, W, 3) uint8
    maps: torch.Tensor  # (N, K, h, w) uint8: class probability * 255
    targets: torch.Tensor  # (N, L) float32
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    thetas: torch.Tensor  # (N, V, 2, 3) affine map of each stored view
    features: torch.Tensor | None = None  # (N, V, C, h', w') float16: stored prefix output of every view
    start: int = 0  # the backbone stage models start at (> 0 only with ``features``)

    def __post_init__(self):
        # (2, 3): mean and std on the data's device, so normalising a batch copies nothing from the host
        self._mean_std = torch.tensor([self.mean, self.std], device=self.images.device)

    @classmethod
    def from_arrays(cls, images: np.ndarray, maps: np.ndarray, targets: np.ndarray, mean, std, device="cpu",
                    thetas: torch.Tensor | None = None, features: np.ndarray | None = None, start: int = 0):
        dev = torch.device(device)
        if thetas is None:
            thetas = view_thetas(len(images), 1, 0)
        if (features is None) != (start == 0):
            raise ValueError("stored prefix features and a start stage > 0 go together")
        return cls(_shared(images).to(dev), _shared(maps).to(dev),
                   _shared(np.asarray(targets, np.float32)).to(dev), tuple(mean), tuple(std),
                   thetas.to(dev), None if features is None else _shared(features).to(dev), start)

    def __len__(self) -> int:
        return len(self.images)

    def normalize(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, 3, H, W) float, channels-last memory (faster convs on CPU and GPU)."""
        x = images_uint8.permute(0, 3, 1, 2).float().div_(255)
        mean_std = self._mean_std.to(x.device)[:, None, :, None, None]  # (2, 1, 3, 1, 1)
        return ((x - mean_std[0]) / mean_std[1]).contiguous(memory_format=torch.channels_last)

    def views(self, idx: torch.Tensor, generator: torch.Generator | None = None, part: slice = slice(None)):
        """(rows, view per row) of this process's ``part``: a random stored view each (view 0 without generator).
        The views are drawn for the whole batch first, so a part gets what it would get in a single process."""
        n_views = self.thetas.shape[1]
        v = (torch.randint(n_views, (len(idx),), generator=generator) if generator is not None
             else torch.zeros(len(idx), dtype=torch.long, device=idx.device))
        return idx[part].to(self.images.device), v[part].to(self.images.device)

    def epoch_views(self, indices, batch_size: int, generator: torch.Generator) -> list[tuple]:
        """One epoch of training batches as (rows, view per row) on the data's device, this process's part of each:
        the shuffled order and a random stored view per row are drawn on the host in one go and copied once, so a
        training step copies nothing from the host (on CUDA such a copy waits for the GPU)."""
        batches = epoch_batches(indices, batch_size, generator)
        rows, v = self.views(torch.cat(batches), generator)
        out, first = [], 0
        for b in batches:
            part = dist.local_part(len(b))
            out.append((rows[first:first + len(b)][part], v[first:first + len(b)][part]))
            first += len(b)
        return out

    def batch(self, idx: torch.Tensor, device: torch.device, generator: torch.Generator | None = None,
              maps: torch.Tensor | None = None, part: slice = slice(None)):
        """(input, map, target, start) on ``device``; ``generator`` given -> a random stored view per row.
        ``part``: the rows of this global batch that this process trains on."""
        rows, v = self.views(idx, generator, part)
        return self.at(rows, v, device, augment=generator is not None, maps=maps)

    def at(self, rows: torch.Tensor, v: torch.Tensor, device: torch.device, augment: bool,
           maps: torch.Tensor | None = None):
        """(input, map, target, start) of stored view ``v`` of each of ``rows`` (``augment=False``: the photo)."""
        source = self.maps if maps is None else maps
        m = source[rows.to(source.device)].to(device, non_blocking=True).float().div_(255)
        y = self.targets[rows].to(device, non_blocking=True)
        if self.features is not None:
            x = self.features[rows, v].to(device, non_blocking=True).float().contiguous(
                memory_format=torch.channels_last)
        else:
            x = self.normalize(self.images[rows].to(device, non_blocking=True))
        if augment:
            theta = self.thetas[rows, v]
            m = warp(m, theta)
            if self.features is None:
                x = warp(x, theta).contiguous(memory_format=torch.channels_last)
        return x, m, y, self.start


def view_thetas(n: int, n_views: int, seed: int, min_scale: float = 0.8) -> torch.Tensor:
    """(N, V, 2, 3) stored views: view 0 the identity, the others random flips and zoom-in crops."""
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(n, 1, 2, 3)
    rest = random_affine(n * (n_views - 1), torch.Generator().manual_seed(seed), min_scale)
    return torch.cat([identity, rest.view(n, n_views - 1, 2, 3)], 1).contiguous()


def random_affine(batch: int, generator: torch.Generator, min_scale: float = 0.8) -> torch.Tensor:
    """(B, 2, 3) affine maps: horizontal flip, zoom-in crop in [min_scale, 1], random position."""
    r = torch.rand(batch, 4, generator=generator)
    scale = min_scale + (1 - min_scale) * r[:, 0]
    flip = torch.where(r[:, 1] < 0.5, -1.0, 1.0)
    tx, ty = (2 * r[:, 2] - 1) * (1 - scale), (2 * r[:, 3] - 1) * (1 - scale)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = scale * flip, tx
    theta[:, 1, 1], theta[:, 1, 2] = scale, ty
    return theta


def warp(t: torch.Tensor, theta: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Normalised coordinates: one theta fits a photo, its map and its feature maps, whatever their sizes."""
    grid = F.affine_grid(theta.to(t.device, t.dtype), list(t.shape), align_corners=False)
    return F.grid_sample(t, grid, mode=mode, padding_mode="border", align_corners=False)


# --------------------------------------------------------------------------- training loop
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
        # "cuda" means this process's current GPU (set from LOCAL_RANK by sednn.distributed.init_from_env)
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


def load_best(model: nn.Module, ckpt_dir: str | Path, device="cpu") -> nn.Module:
    """Load the best checkpoint; a missing one is an error, never silently untrained weights."""
    path = Path(ckpt_dir) / "best.pt"
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
    """Train, keep the best epoch by ``score_fn`` (a validation score, higher is better) and resume after
    interruption.

    ``batches(generator)`` yields one epoch of training batches drawn with ``generator``.
    Every epoch reseeds from (seed, epoch), so a resumed run matches an uninterrupted one. The resumable state
    (``last.pt``: weights, optimiser, schedule) and the best weights so far (``best.pt``) are written together
    every ``cfg.checkpoint_every_s`` seconds, not every epoch (a GPU epoch can take less time than the write);
    after the last epoch ``last.pt`` keeps only the history (a finished training needs no optimiser).
    """
    device = resolve_device(cfg.device)
    rank, _ = dist.world()
    ckpt_dir = Path(ckpt_dir)
    last, best = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    net = prepare_for_training(model, cfg, device)
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs * steps_per_epoch))
    start, history, best_score = 0, [], -math.inf
    state = resumable_state(last, signature, desc)
    if state is not None:
        start, history, best_score = state["epoch"], state["history"], state["best_score"]
        if start < cfg.epochs:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
        if rank == 0:
            log.info("%s: resuming at epoch %d of %d", desc, start, cfg.epochs)
    best_weights = None  # the best epoch's weights, held until the next write
    need_best = state is None or not best.exists()  # a fresh start writes its own best.pt, whatever its score
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
        if score > best_score or need_best:
            need_best = False
            best_score = max(score, best_score) if not math.isnan(score) else best_score
            best_weights = {"model": _on_cpu(model.state_dict()), "epoch": epoch + 1, "val_score": score}
        finished = epoch + 1 == cfg.epochs
        if finished or time.monotonic() - written >= cfg.checkpoint_every_s:
            if best_weights is not None:  # first, so last.pt never refers to a best score best.pt lacks
                _save(best_weights, best)
                best_weights = None
            kept = {"epoch": epoch + 1, "history": history, "best_score": best_score, "signature": signature}
            _save(kept if finished else {**kept, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                         "scheduler": sched.state_dict()}, last)
            written = time.monotonic()
        dist.barrier()
        if rank == 0:
            log.debug("%s epoch %d: loss %.4f val %.4f", desc, epoch + 1, train_loss, score)
    if rank == 0 and history:
        done = finished_training(desc, history, reused=start >= cfg.epochs)
        log.info("%s", done.line())
        progress.report(done)
    load_best(model, ckpt_dir, device)
    return history


def finished_training(desc: str, history: list[dict], reused: bool = False) -> progress.Training:
    """A training as its one line in the notebooks' output and the runner's progress show it: epochs, the best
    epoch and its validation score, time."""
    best = max(history, key=lambda h: -math.inf if math.isnan(h["val_score"]) else h["val_score"])
    return progress.Training(desc, int(history[-1]["epoch"]), int(best["epoch"]), float(best["val_score"]),
                             float(sum(h["seconds"] for h in history)), reused)


def epoch_batches(indices: np.ndarray, batch_size: int, generator: torch.Generator):
    """Shuffled index batches; the last partial batch is dropped when there is more than one batch."""
    order = torch.as_tensor(indices)[torch.randperm(len(indices), generator=generator)]
    n = len(order) // batch_size if len(order) > batch_size else 1
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(n)]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return n // batch_size if n > batch_size else 1


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
