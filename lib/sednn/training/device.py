"""The device a run trains on, its numerics settings, and the seeding of every generator."""
from __future__ import annotations

import numpy as np
import torch


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
