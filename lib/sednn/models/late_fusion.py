"""Alternative C, late fusion: a small CNN encodes the map into a vector joined to the pooled image features."""
from __future__ import annotations

import torch
from torch import nn

from .base import MultiLabelNet


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class LateFusion(MultiLabelNet):
    def __init__(self, backbone, num_labels: int, num_regions: int, map_features: int = 64):
        super().__init__(backbone, num_labels, backbone.spec.num_features + map_features)
        self.map_encoder = nn.Sequential(conv_bn_relu(num_regions, 32, 2), conv_bn_relu(32, map_features, 2))

    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor, start: int = 0) -> torch.Tensor:
        img = self.pool(self.backbone(image, start=start))  # (B, F)
        sem = self.pool(self.map_encoder(semantic_map))  # (B, map_features)
        return self.head(torch.cat([img, sem], 1))  # (B, L)
