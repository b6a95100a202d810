"""The frozen backbone prefix, computed once.

The stem and the first ``freeze_stages`` stages never learn, yet they are most of a CPU forward pass (about 80 %
of Lite0's at 192x128 with three stages frozen). Their output for every image and each of its stored augmented
views (``sednn.training.tensors.view_thetas``) is computed once per profile, kept as float16 in the array cache,
and shared by the parser and every classifier, seed and epoch: training runs from backbone stage ``freeze_stages`` on.
A model whose prefix learns (early fusion) runs it online on the same views. ``masked`` stores the prefix of
the input-masked photo (alternative B), one store per semantic map it is masked with.
"""
from __future__ import annotations

import numpy as np
import torch

from sednn.data.cache import ArrayCache
from sednn.models import create_backbone
from sednn.models.input_masking import mask_image
from sednn.training.tensors import TensorData, warp

FEATURES_VERSION = 1


@torch.no_grad()
def prefix_features(backbone, data: TensorData, stop: int, device: torch.device, batch_size: int,
                    masked: bool = False) -> np.ndarray:
    """(N, V, C, h, w) float16: ``backbone.prefix(view, stop)`` of every image's every stored view."""
    backbone.eval().to(device)
    n, n_views = data.thetas.shape[:2]
    out = None
    for v in range(n_views):
        for i in range(0, n, batch_size):
            idx = torch.arange(i, min(i + batch_size, n))
            theta = data.thetas[idx, v]
            x = warp(data.normalize(data.images[idx].to(device)), theta)
            if masked:
                x = mask_image(x, warp(data.maps[idx].to(device).float().div(255), theta))
            f = backbone.prefix(x.contiguous(memory_format=torch.channels_last), stop).to(torch.float16).cpu()
            if out is None:
                out = np.empty((n, n_views, *f.shape[1:]), np.float16)
            out[idx.numpy(), v] = f.numpy()
    return out


def stored_prefix(cache: ArrayCache, data: TensorData, backbone_name: str, stop: int, device: torch.device,
                  batch_size: int, masked: bool, fingerprint: dict) -> np.ndarray:
    """The prefix store for ``data`` (built once, then loaded). ``fingerprint`` names the photos, views and,
    for ``masked``, the maps: a store built from other inputs is rebuilt, never used."""
    params = {"version": FEATURES_VERSION, "backbone": backbone_name, "stop": stop, "masked": masked, **fingerprint}
    name = "prefix_masked_" + fingerprint["maps"][:12] if masked else f"prefix_image-{backbone_name}"
    return cache.get(name, params, lambda: prefix_features(create_backbone(backbone_name, pretrained=True), data,
                                                           stop, device, batch_size, masked))
