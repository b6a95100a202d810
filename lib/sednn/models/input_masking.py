"""Alternative B, input masking: background pixels are suppressed before the backbone."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..labels import BACKGROUND
from .base import MultiLabelNet


def foreground(semantic_map: torch.Tensor, size) -> torch.Tensor:
    """(B, K, h, w) region probabilities -> (B, 1, *size) probability of not-background."""
    fg = 1.0 - semantic_map[:, BACKGROUND:BACKGROUND + 1]
    return F.interpolate(fg, size=size, mode="bilinear", align_corners=False)


class InputMasking(MultiLabelNet):
    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor) -> torch.Tensor:
        # The image is normalised, so 0 is the mean colour: background fades to it.
        masked = image * foreground(semantic_map, image.shape[-2:])  # (B, 3, H, W)
        return self.head(self.pool(self.backbone(masked)))
