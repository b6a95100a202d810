"""Model zoo: one small class per way of using (or not using) the semantic map, built by name
(``sednn.core.catalog`` says what each name is without building it)."""
from __future__ import annotations

import torch

from sednn.core.catalog import MODELS, traits

from .backbone import Backbone, create_backbone
from .base import MultiLabelNet
from .baseline import Baseline
from .early_fusion import EarlyFusion
from .input_masking import InputMasking
from .late_fusion import LateFusion
from .parser import SemanticParser
from .se_attention import SEAttention
from .semantic_embedded import SemanticEmbedded


def fusion_parameter_count(backbone_name: str, num_labels: int, num_regions: int, stages) -> dict[int, int]:
    """Parameters the proposed model adds at each fusion stage (used to size ablation (a))."""
    with torch.random.fork_rng():  # sizing must not shift the caller's random stream
        model = SemanticEmbedded(create_backbone(backbone_name, pretrained=False), num_labels, num_regions, stages)
    return {int(i): sum(p.numel() for p in f.parameters()) for i, f in model.fusions.items()}


def _se_only(body, num_labels, num_regions, stages, backbone):
    stages = stages or body.spec.default_fusion_stages
    return SEAttention(body, num_labels, stages, fusion_parameter_count(backbone, num_labels, num_regions, stages))


# name -> builder(backbone module, labels, map classes, fusion stages, backbone name); the names of sednn.core.catalog
BUILDERS = {
    "baseline": lambda body, labels, regions, stages, _: Baseline(body, labels),
    "early_fusion": lambda body, labels, regions, stages, _: EarlyFusion(body, labels, regions),
    "input_masking": lambda body, labels, regions, stages, _: InputMasking(body, labels),
    "late_fusion": lambda body, labels, regions, stages, _: LateFusion(body, labels, regions),
    "proposed": lambda body, labels, regions, stages, _: SemanticEmbedded(body, labels, regions, stages),
    "no_gate": lambda body, labels, regions, stages, _: SemanticEmbedded(body, labels, regions, stages, gate=False),
    "se_only": _se_only,
}
assert BUILDERS.keys() == MODELS.keys(), "every model of the catalog has a builder, and only those"


def create_model(name: str, num_labels: int, num_regions: int, backbone: str = "efficientnet_lite0",
                 pretrained: bool = True, stages: tuple[int, ...] | None = None, freeze_stages: int = 0
                 ) -> MultiLabelNet:
    """Model ``name`` (``sednn.core.catalog.MODELS``) on a new ``backbone``; ``stages``: where the proposed model
    (and its ablations) fuse, None for the backbone's default; its stem and first ``freeze_stages`` stages frozen."""
    traits(name)  # an unknown name is named
    model = BUILDERS[name](create_backbone(backbone, pretrained), num_labels, num_regions, stages, backbone)
    model.freeze_backbone(freeze_stages)
    return model


def count_parameters(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["Backbone", "Baseline", "EarlyFusion", "InputMasking", "LateFusion", "MultiLabelNet", "SEAttention",
           "SemanticEmbedded", "SemanticParser", "create_backbone", "create_model", "count_parameters"]
