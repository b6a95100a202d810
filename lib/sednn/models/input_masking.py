"""Alternative B, input masking: background pixels are suppressed before the backbone."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from sednn.data.labels import BACKGROUND

from .base import MultiLabelNet


def foreground(semantic_map: torch.Tensor, size) -> torch.Tensor:
    """(B, K, h, w) region probabilities -> (B, 1, *size) probability of not-background."""
    fg = 1.0 - semantic_map[:, BACKGROUND:BACKGROUND + 1]
    return F.interpolate(fg, size=size, mode="bilinear", align_corners=False)


def mask_image(image: torch.Tensor, semantic_map: torch.Tensor) -> torch.Tensor:
    """The image is normalised, so 0 is the mean colour: background fades to it. (B, 3, H, W) -> same."""
    return image * foreground(semantic_map, image.shape[-2:])


class InputMasking(MultiLabelNet):

    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = mask_image(image, semantic_map) if start == 0 else image  # a stored prefix was computed masked
        return self.head(self.pool(self.backbone(x, start=start)))
