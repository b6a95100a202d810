"""Alternative A, early fusion: the soft map is stacked onto RGB at the input."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import MultiLabelNet


class EarlyFusion(MultiLabelNet):

    def __init__(self, backbone, num_labels: int, num_regions: int):
        super().__init__(backbone, num_labels)
        # New input weights start at zero: training starts from the pretrained model.
        backbone.widen_first_conv(num_regions)

    def freeze_backbone(self, num_stages: int) -> None:
        super().freeze_backbone(num_stages)
        self.backbone.first_conv.requires_grad_(True)  # the map's input weights must learn

    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor, start: int = 0) -> torch.Tensor:
        if start:
            raise ValueError("early fusion starts at the image: no stored prefix")
        # image: (B, 3, H, W); semantic_map: (B, K, h, w) -> (B, K, H, W)
        m = F.interpolate(semantic_map, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.pool(self.backbone(torch.cat([image, m], 1))))  # input (B, 3+K, H, W)
