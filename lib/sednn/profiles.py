"""Run profiles: one knob for size, resolution, epochs and seeds."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    max_images: int | None  # None: the whole dataset
    image_hw: tuple[int, int]  # (H, W) photos are resized to; CCP photos are ~1.5:1 portrait
    map_stride: int  # semantic maps are stored at image_hw / map_stride
    epochs: int
    parser_epochs: int
    batch_size: int
    seeds: tuple[int, ...]
    lr: float
    new_module_lr_mult: float  # heads and fusion modules learn faster than the pretrained body
    freeze_stages: int  # leading backbone stages (after the stem) kept frozen; stem frozen when > 0
    ablation_stage_variants: bool  # train the single-stage fusion variants (ablation d)
    bootstrap: int
    cam_images: int  # test images drawn in each CAM grid
    localization_images: int | None  # pixel test images scored for localization; None: all
    weight_decay: float = 1e-4

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    # Tests: a few dozen images, tiny resolution, one epoch. Checks plumbing, not science.
    "smoke": Profile("smoke", max_images=48, image_hw=(96, 64), map_stride=4, epochs=1, parser_epochs=1,
                     batch_size=16, seeds=(0,), lr=1e-3, new_module_lr_mult=10.0, freeze_stages=2,
                     ablation_stage_variants=True, bootstrap=50, cam_images=2, localization_images=4),
    # Default of `make reproduce`: whole dataset on a 2-core CPU, one seed.
    "cpu": Profile("cpu", max_images=None, image_hw=(192, 128), map_stride=4, epochs=4, parser_epochs=4,
                   batch_size=32, seeds=(0,), lr=3e-3, new_module_lr_mult=10.0, freeze_stages=2,
                   ablation_stage_variants=True, bootstrap=500, cam_images=6, localization_images=None),
    # Full resolution and epochs on a GPU, three seeds.
    "gpu": Profile("gpu", max_images=None, image_hw=(384, 256), map_stride=4, epochs=20, parser_epochs=20,
                   batch_size=64, seeds=(0, 1, 2), lr=1e-3, new_module_lr_mult=10.0, freeze_stages=0,
                   ablation_stage_variants=True, bootstrap=1000, cam_images=8, localization_images=None),
}


def get_profile(name: str, **overrides) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return replace(PROFILES[name], **overrides)
