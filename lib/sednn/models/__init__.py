"""Model zoo: one small class per way of using (or not using) the semantic map."""
from __future__ import annotations

import torch

from .backbone import Backbone, create_backbone
from .base import MultiLabelNet
from .baseline import Baseline
from .early_fusion import EarlyFusion
from .input_masking import InputMasking
from .late_fusion import LateFusion
from .parser import SemanticParser
from .se_attention import SEAttention
from .semantic_embedded import SemanticEmbedded

# Name -> (what it is). ``proposed@2+4`` selects the fusion stages (ablation d).
MODEL_DESCRIPTIONS = {
    "baseline": "image only",
    "early_fusion": "A: map stacked onto RGB at the input",
    "input_masking": "B: image multiplied by the map's foreground probability",
    "late_fusion": "C: map encoded by a small CNN, joined to pooled image features",
    "proposed": "semantic embedding + foreground-squeezed channel gate at mid-level stages",
    "se_only": "ablation (a): SE channel gate from image features only, same added parameters, no map",
    "no_gate": "ablation (b): semantic features added, no channel gate",
}


def _stages(name: str) -> tuple[int, ...] | None:
    _, _, spec = name.partition("@")
    return tuple(int(s) for s in spec.split("+")) if spec else None


def fusion_parameter_count(backbone_name: str, num_labels: int, num_regions: int, stages) -> dict[int, int]:
    """Parameters the proposed model adds at each fusion stage (used to size ablation (a))."""
    with torch.random.fork_rng():  # sizing must not shift the caller's random stream
        model = SemanticEmbedded(create_backbone(backbone_name, pretrained=False), num_labels, num_regions, stages)
    return {int(i): sum(p.numel() for p in f.parameters()) for i, f in model.fusions.items()}


def create_model(name: str, num_labels: int, num_regions: int, backbone: str = "efficientnet_lite0",
                 pretrained: bool = True) -> MultiLabelNet:
    base_name, stages = name.partition("@")[0], _stages(name)
    body = create_backbone(backbone, pretrained)
    if base_name == "baseline":
        return Baseline(body, num_labels)
    if base_name == "early_fusion":
        return EarlyFusion(body, num_labels, num_regions)
    if base_name == "input_masking":
        return InputMasking(body, num_labels)
    if base_name == "late_fusion":
        return LateFusion(body, num_labels, num_regions)
    if base_name == "proposed":
        return SemanticEmbedded(body, num_labels, num_regions, stages)
    if base_name == "no_gate":
        return SemanticEmbedded(body, num_labels, num_regions, stages, gate=False)
    if base_name == "se_only":
        stages = stages or body.spec.default_fusion_stages
        return SEAttention(body, num_labels, stages, fusion_parameter_count(backbone, num_labels, num_regions, stages))
    raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODEL_DESCRIPTIONS)} (optionally '@<stages>')")


def count_parameters(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["Backbone", "Baseline", "EarlyFusion", "InputMasking", "LateFusion", "MultiLabelNet", "SEAttention",
           "SemanticEmbedded", "SemanticParser", "create_backbone", "create_model", "count_parameters",
           "MODEL_DESCRIPTIONS"]
