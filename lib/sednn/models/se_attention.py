"""Ablation (a): plain squeeze-and-excitation from image features only, no map.

Its hidden width is chosen so that it adds as many parameters as the proposed
model's fusion modules: any gain of the proposed model over this one comes from
the semantic map, not from extra capacity.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import MultiLabelNet


class ChannelGate(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        nn.init.zeros_(self.gate[2].weight)  # gate == 1 at init: starts as the baseline
        nn.init.zeros_(self.gate[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) -> same, channels re-weighted by 2*sigmoid(.) from the global average
        return 2 * torch.sigmoid(self.gate(x.mean((2, 3))))[:, :, None, None] * x

    @staticmethod
    def hidden_for(channels: int, num_params: int) -> int:
        """Hidden width whose parameter count, h*(2C+1) + C, is closest to ``num_params``."""
        return max(1, round((num_params - channels) / (2 * channels + 1)))


class SEAttention(MultiLabelNet):
    def __init__(self, backbone, num_labels: int, fusion_stages=None, params_per_stage: dict[int, int] | None = None):
        super().__init__(backbone, num_labels)
        stages = tuple(fusion_stages or backbone.spec.default_fusion_stages)
        chans = backbone.spec.stage_channels
        budget = params_per_stage or {}
        self.gates = nn.ModuleDict({
            str(i): ChannelGate(chans[i], ChannelGate.hidden_for(chans[i], budget.get(i, chans[i] ** 2 // 2)))
            for i in stages})

    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor | None = None, start: int = 0) -> torch.Tensor:
        def gate(i, x):
            return self.gates[str(i)](x) if str(i) in self.gates else x

        return self.head(self.pool(self.backbone(image, after_stage=gate, start=start)))
