"""One training recipe for every model: AdamW, cosine schedule, BCE, the same augmentation,
best checkpoint by a validation score, and resumption from the last checkpoint.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .io import atomic_write, sha256_json

log = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- data on device
@dataclass
class TensorData:
    """Cached arrays as tensors (optionally already on the GPU); batches are cut by index."""

    images: torch.Tensor  # (N, H, W, 3) uint8
    maps: torch.Tensor  # (N, K, h, w) uint8: region probability * 255
    targets: torch.Tensor  # (N, L) float32
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_arrays(cls, images: np.ndarray, maps: np.ndarray, targets: np.ndarray, mean, std, device="cpu"):
        dev = torch.device(device)
        return cls(torch.from_numpy(images).to(dev), torch.from_numpy(maps).to(dev),
                   torch.from_numpy(np.asarray(targets, np.float32)).to(dev), tuple(mean), tuple(std))

    def __len__(self) -> int:
        return len(self.images)

    def normalize(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, 3, H, W) float, channels-last memory (faster convs on CPU and GPU)."""
        x = images_uint8.permute(0, 3, 1, 2).float().div_(255)
        mean = x.new_tensor(self.mean)[None, :, None, None]
        std = x.new_tensor(self.std)[None, :, None, None]
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    def batch(self, idx: torch.Tensor, device: torch.device, generator: torch.Generator | None = None,
              maps: torch.Tensor | None = None):
        """(image, map, target) on ``device``; ``generator`` given -> augmented."""
        idx = idx.to(self.images.device)
        x = self.normalize(self.images[idx].to(device, non_blocking=True))
        m = (self.maps if maps is None else maps)[idx].to(device, non_blocking=True).float().div_(255)
        y = self.targets[idx].to(device, non_blocking=True)
        if generator is not None:
            x, m = augment(x, m, generator)
        return x, m, y


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
    grid = F.affine_grid(theta.to(t.device, t.dtype), list(t.shape), align_corners=False)
    return F.grid_sample(t, grid, mode=mode, padding_mode="border", align_corners=False)


def augment(image: torch.Tensor, semantic_map: torch.Tensor, generator: torch.Generator, theta=None):
    """The same flip/scale/crop for photo and map. Normalised coordinates make one theta fit both sizes."""
    theta = random_affine(len(image), generator) if theta is None else theta
    return warp(image, theta).contiguous(memory_format=torch.channels_last), warp(semantic_map, theta)


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

    def signature(self, **extra) -> str:
        return sha256_json({**asdict(self), **extra})


def param_groups(model: nn.Module, lr: float, mult: float) -> list[dict]:
    """Pretrained backbone weights at ``lr``; everything the model adds at ``lr * mult``."""
    body = {id(p) for p in model.backbone.parameters()}
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if id(p) in body], "lr": lr},
            {"params": [p for p in params if id(p) not in body], "lr": lr * mult}]


def _save(obj, path: Path) -> None:
    atomic_write(path, lambda p: torch.save(obj, p))


def load_best(model: nn.Module, ckpt_dir: str | Path, device="cpu") -> nn.Module:
    """Load the best checkpoint; a missing one is an error, never silently untrained weights."""
    path = Path(ckpt_dir) / "best.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained checkpoint; run the training notebook first")
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True)["model"])
    return model


def fit(model: nn.Module, cfg: TrainConfig, ckpt_dir: str | Path, *,
        batches: Callable[[torch.Generator], Iterable], steps_per_epoch: int,
        loss_fn: Callable[[nn.Module, tuple], torch.Tensor], score_fn: Callable[[nn.Module], float] | None,
        signature: str, desc: str = "train") -> list[dict]:
    """Train, keep the best epoch by ``score_fn`` (validation only; None keeps the last epoch)
    and resume after interruption.

    ``batches(generator)`` yields one epoch of training batches drawn with ``generator``.
    Every epoch reseeds from (seed, epoch), so a resumed run matches an uninterrupted one.
    """
    device = resolve_device(cfg.device)
    ckpt_dir = Path(ckpt_dir)
    last, best = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    model.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(param_groups(model, cfg.lr, cfg.new_module_lr_mult), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs * steps_per_epoch))
    start, history, best_score = 0, [], -math.inf
    if last.exists():
        state = torch.load(last, map_location=device, weights_only=False)
        if state["signature"] == signature:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            start, history, best_score = state["epoch"], state["history"], state["best_score"]
            log.info("%s: resuming at epoch %d of %d", desc, start, cfg.epochs)
        else:
            log.warning("%s: checkpoint in %s is from another configuration; training from scratch", desc, ckpt_dir)
    use_amp = device.type == "cuda"
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        epoch_seed = cfg.seed * 100_003 + epoch
        torch.manual_seed(epoch_seed)  # dropout
        gen = torch.Generator().manual_seed(epoch_seed)  # order and augmentation
        model.train()
        losses = []
        for batch in tqdm(batches(gen), total=steps_per_epoch, desc=f"{desc} {epoch + 1}/{cfg.epochs}", leave=False):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        score = float(score_fn(model)) if score_fn is not None else float(epoch)
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_score": score,
                        "lr": sched.get_last_lr()[0], "seconds": time.perf_counter() - t0})
        if score > best_score or not best.exists():
            best_score = max(score, best_score) if not math.isnan(score) else best_score
            _save({"model": model.state_dict(), "epoch": epoch + 1, "val_score": score}, best)
        _save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
               "epoch": epoch + 1, "history": history, "best_score": best_score, "signature": signature}, last)
        log.info("%s epoch %d: loss %.4f val %.4f", desc, epoch + 1, history[-1]["train_loss"], score)
    load_best(model, ckpt_dir, device)
    return history


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
    """Model outputs for ``indices`` in order, no augmentation; ``maps`` replaces the stored maps."""
    model.eval().to(device)
    out = []
    idx = torch.as_tensor(np.asarray(indices))
    for i in range(0, len(idx), batch_size):
        x, m, _ = data.batch(idx[i:i + batch_size], device, maps=maps)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out.append(output(model(x, m)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0,))
