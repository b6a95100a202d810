"""Baseline: image only."""
from __future__ import annotations

import torch

from .base import MultiLabelNet


class Baseline(MultiLabelNet):
    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor | None = None, start: int = 0) -> torch.Tensor:
        features = self.backbone(image, start=start)  # (B, F, H/32, W/32)
        return self.head(self.pool(features))  # (B, L)
