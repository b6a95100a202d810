"""Proposed: semantic-embedded network (SEDNN as this repo reads the paper's abstract).

At each fusion stage s, with image features X (B, C, H, W) and soft map M (B, K, h, w):

    M_s = resize(M) ; f = 1 - M_s[background]                     # where the person is
    S   = phi(M_s)                                                 # (B, E, H, W) semantic embedding
    z   = [ sum_hw(f * X) / sum_hw(f) ; mean_hw(S) ]               # squeeze over the foreground
    g   = 2 * sigmoid(W2 relu(W1 z))                               # (B, C) channel gate, 1 at init
    Y   = g * X + P(S)                                             # P: 1x1 conv, zero at init

W2 and P start at zero, so the untrained model computes exactly the pretrained baseline.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import MultiLabelNet
from .input_masking import foreground
from .late_fusion import conv_bn_relu


class SemanticFusion(nn.Module):
    def __init__(self, channels: int, num_regions: int, embed_channels: int = 32, reduction: int = 4,
                 gate: bool = True):
        super().__init__()
        self.embed = nn.Sequential(conv_bn_relu(num_regions, embed_channels),
                                   conv_bn_relu(embed_channels, embed_channels))
        self.project = nn.Conv2d(embed_channels, channels, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)
        self.gate = None
        if gate:
            hidden = max(8, channels // reduction)
            self.gate = nn.Sequential(nn.Linear(channels + embed_channels, hidden), nn.ReLU(inplace=True),
                                      nn.Linear(hidden, channels))
            nn.init.zeros_(self.gate[2].weight)
            nn.init.zeros_(self.gate[2].bias)

    def channel_gate(self, x: torch.Tensor, semantic_map: torch.Tensor) -> torch.Tensor:
        """(B, C) gate values; exposed for the attention notebook."""
        s = self.embed(F.interpolate(semantic_map, size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self._gate(x, semantic_map, s)

    def _gate(self, x, semantic_map, s):
        fg = foreground(semantic_map, x.shape[-2:])  # (B, 1, H, W)
        pooled = (x * fg).sum((2, 3)) / fg.sum((2, 3)).clamp_min(1e-6)  # (B, C) foreground squeeze
        z = torch.cat([pooled, s.mean((2, 3))], 1)  # (B, C + E)
        return 2 * torch.sigmoid(self.gate(z))  # (B, C)

    def forward(self, x: torch.Tensor, semantic_map: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W); semantic_map: (B, K, h, w)
        m = F.interpolate(semantic_map, size=x.shape[-2:], mode="bilinear", align_corners=False)
        s = self.embed(m)  # (B, E, H, W)
        if self.gate is not None:
            x = self._gate(x, semantic_map, s)[:, :, None, None] * x
        return x + self.project(s)


class SemanticEmbedded(MultiLabelNet):
    """``gate=False`` is ablation (b): semantic features added, no channel gate."""

    def __init__(self, backbone, num_labels: int, num_regions: int, fusion_stages=None, gate: bool = True,
                 embed_channels: int = 32):
        super().__init__(backbone, num_labels)
        self.fusion_stages = tuple(fusion_stages or backbone.spec.default_fusion_stages)
        self.fusions = nn.ModuleDict({
            str(i): SemanticFusion(backbone.spec.stage_channels[i], num_regions, embed_channels, gate=gate)
            for i in self.fusion_stages})

    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor, start: int = 0) -> torch.Tensor:
        def fuse(i, x):
            return self.fusions[str(i)](x, semantic_map) if str(i) in self.fusions else x

        return self.head(self.pool(self.backbone(image, after_stage=fuse, start=start)))
