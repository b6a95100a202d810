"""Semantic parser: pretrained encoder + light FPN-style decoder -> class logits at stride 4.

Decoder width 128 and two fusing convolutions: on the cpu profile they gave 0.540 validation mIoU (regions) where
width 64 with one gave 0.527 (25 epochs, lr 3e-3; the development run is described in the README)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Backbone
from .late_fusion import conv_bn_relu


class SemanticParser(nn.Module):
    def __init__(self, backbone: Backbone, num_regions: int, width: int = 128, depth: int = 2):
        super().__init__()
        self.backbone = backbone
        backbone.head.requires_grad_(False)  # unused by the decoder; frozen so DDP expects no gradient for it
        self.pyramid = backbone.spec.pyramid_stages  # strides 8, 16, 32
        self.lateral = nn.ModuleList(nn.Conv2d(backbone.spec.stage_channels[i], width, 1) for i in self.pyramid)
        self.fuse = nn.Sequential(*(conv_bn_relu(width, width) for _ in range(depth)))
        self.classify = nn.Conv2d(width, num_regions, 1)

    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor | None = None, start: int = 0) -> torch.Tensor:
        # image: (B, 3, H, W) -> logits (B, K, H/4, W/4); start > 0: image is stage start-1's stored output
        feats = {}

        def keep(i, x):
            if i in self.pyramid:
                feats[i] = x
            return x

        x = self.backbone.stem(image) if start == 0 else keep(start - 1, image)
        for i in range(start, max(self.pyramid) + 1):
            x = keep(i, self.backbone.stages[i](x))
        if start > self.pyramid[0] + 1:
            raise ValueError(f"the parser needs stage {self.pyramid[0]}'s output; start {start} skips it")
        size = feats[self.pyramid[0]].shape[-2:]  # stride 8
        y = sum(F.interpolate(lat(feats[i]), size=size, mode="bilinear", align_corners=False)
                for lat, i in zip(self.lateral, self.pyramid))
        y = self.classify(self.fuse(y))  # (B, K, H/8, W/8)
        return F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
