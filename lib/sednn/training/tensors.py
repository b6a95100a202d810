"""Cached arrays as tensors, cut into batches by index, with the stored augmented views of every image."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sednn.core.epochs import steps_per_epoch
from sednn.data.labels import NO_MAP
from sednn.training import distributed as dist


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
    ``features`` given: the frozen backbone prefix's output for every view (``sednn.training.prefix``), so batches
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


def epoch_batches(indices: np.ndarray, batch_size: int, generator: torch.Generator):
    """Shuffled index batches; the last partial batch is dropped when there is more than one batch."""
    order = torch.as_tensor(indices)[torch.randperm(len(indices), generator=generator)]
    n = steps_per_epoch(len(order), batch_size)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(n)]


def pooled_one_hot(classes: np.ndarray, k: int, stride: int) -> np.ndarray:
    """(N, H, W) class indices of ``k`` classes -> (N, K, H / stride, W / stride) uint8 one-hot area-pooled (zeros
    for an image with a NO_MAP pixel)."""
    has_map = (classes != NO_MAP).all((1, 2))
    out = np.zeros((len(classes), k, classes.shape[1] // stride, classes.shape[2] // stride), np.uint8)
    for i in np.flatnonzero(has_map):  # one image at a time: the one-hot of all of them is large
        onehot = F.one_hot(torch.from_numpy(classes[i].astype(np.int64)), k).permute(2, 0, 1).float()[None]
        out[i] = (F.avg_pool2d(onehot, stride)[0] * 255).round().to(torch.uint8).numpy()
    return out


def area_resized(soft_map: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(K, H, W) float probabilities -> (K, h, w) uint8 (probability * 255), area-resized."""
    m = torch.from_numpy(soft_map)[None]
    return (F.interpolate(m, size=hw, mode="area")[0] * 255).round().to(torch.uint8).numpy()
