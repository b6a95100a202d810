"""Shared base class: a backbone, a multi-label head and the ``forward(image, semantic_map)`` contract."""
from __future__ import annotations

import torch
from torch import nn

from .backbone import Backbone


class MultiLabelHead(nn.Module):
    def __init__(self, in_features: int, num_labels: int, dropout: float = 0.2):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        # pooled: (B, F) -> logits (B, L)
        return self.fc(self.dropout(pooled))


class MultiLabelNet(nn.Module):
    """Every model takes the normalised image and the soft semantic map, and returns one logit per label.

    image: (B, 3, H, W); semantic_map: (B, K, h, w) region probabilities summing to 1 over K. Whether a model reads
    the map and what its frozen prefix sees: ``sednn.core.catalog``.
    """

    def __init__(self, backbone: Backbone, num_labels: int, head_in_features: int | None = None):
        super().__init__()
        self.backbone = backbone
        self.head = MultiLabelHead(head_in_features or backbone.spec.num_features, num_labels)

    def freeze_backbone(self, num_stages: int) -> None:
        self.backbone.freeze(num_stages)

    @staticmethod
    def pool(features: torch.Tensor) -> torch.Tensor:
        return features.mean((2, 3))  # (B, C, H, W) -> (B, C)

    def forward(self, image: torch.Tensor, semantic_map: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``start > 0``: ``image`` is the stored output of backbone stage ``start - 1`` (see Backbone.forward)."""
        raise NotImplementedError
