"""The models by name, readable without building one (``sednn.models`` builds them): what each is, whether it reads
the semantic map, what its frozen backbone prefix sees; and the stages where a backbone's map fusion sits."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelTraits:
    description: str
    uses_map: bool = True  # False: the model ignores the map it is given
    # What the frozen backbone prefix sees, so its output can be computed once per image and stored
    # (sednn.training.prefix): "image", "masked" (image * foreground), or None (the prefix learns: never stored).
    prefix_input: str | None = "image"


MODELS = {
    "baseline": ModelTraits("image only", uses_map=False),
    "early_fusion": ModelTraits("A: map stacked onto RGB at the input", prefix_input=None),
    "input_masking": ModelTraits("B: image multiplied by the map's foreground probability", prefix_input="masked"),
    "late_fusion": ModelTraits("C: map encoded by a small CNN, joined to pooled image features"),
    "proposed": ModelTraits("semantic embedding + foreground-squeezed channel gate at mid-level stages"),
    "se_only": ModelTraits("ablation (a): SE channel gate from image features only, same added parameters, no map",
                           uses_map=False),
    "no_gate": ModelTraits("ablation (b): semantic features added, no channel gate"),
}
MAIN_MODELS = ("baseline", "early_fusion", "input_masking", "late_fusion", "proposed")
ALTERNATIVES = ("early_fusion", "input_masking", "late_fusion")
ARGUMENT_ABLATIONS = ("se_only", "no_gate")  # trained like the main models, with every seed and the same grid

# The mid-level stages where the proposed model fuses by default (single-stage variants: ablation (d)).
FUSION_STAGES = {"efficientnet_lite0": (2, 4), "efficientnet_lite2": (2, 4), "resnet50": (1, 2)}
# The input mean and std (per RGB channel) each backbone's pretrained weights expect.
NORMALIZATION = {"efficientnet_lite0": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                 "efficientnet_lite2": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                 "resnet50": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


def traits(model: str) -> ModelTraits:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    return MODELS[model]


def describe(model: str, stages: tuple[int, ...] | None = None) -> str:
    text = traits(model).description
    return f"{text} (fusion at stage(s) {'+'.join(map(str, stages))})" if stages else text
