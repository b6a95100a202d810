"""Run profiles: one knob for size, resolution, epochs, seeds and the tuning budget."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    max_images: int | None  # None: the whole dataset
    image_hw: tuple[int, int]  # (H, W) photos are resized to; CCP photos are ~1.5:1 portrait
    map_stride: int  # semantic maps are stored at image_hw / map_stride
    epochs: int  # of the full training split; an arm on fewer rows trains as many optimizer steps (core.epochs)
    batch_size: int
    seeds: tuple[int, ...]  # model seeds of every main model (and of the ablations that carry the argument)
    lr: float
    lr_mults: tuple[float, ...]  # tuning grid: new modules' lr = lr * mult; the same grid for every model
    tune_seeds: tuple[int, ...]  # seeds whose mean validation macro AUC picks the grid point
    freeze_stages: int  # stem + leading backbone stages kept frozen (their output is stored, sednn.training.prefix)
    views: int  # stored augmented views per image (view 0: the photo itself)
    parser_epochs: int  # the parser keeps its best epoch by validation mIoU
    parser_lrs: tuple[float, ...]  # parser lr grid, chosen by validation mIoU
    vocabulary: str  # the semantic map of the main comparison: "garments" or "regions" (sednn.data.labels)
    other_vocabulary: bool  # ablation: proposed + best alternative on the other vocabulary
    oracle_training: bool  # ablation: models trained and tested with ground-truth maps (pixel-annotated half)
    stage_variants: bool  # ablation (d): single-stage fusion variants (first seed only)
    bootstrap: int
    cam_images: int  # test images drawn in each CAM grid
    localization_images: int | None  # pixel test images scored for localization; None: all
    min_positives: int = 50  # a fine label is a target with at least this many positive images
    weight_decay: float = 1e-4
    # the alternatives trained (every main model: baseline + these + proposed) and whether ablations (a)-(b) run
    alternatives: tuple[str, ...] = ("early_fusion", "input_masking", "late_fusion")
    argument_ablations: bool = True
    # (H, W) the parser sees photos at; its maps are area-resized to the classifiers' map size. None: image_hw
    parser_image_hw: tuple[int, int] | None = None
    # training forward passes in bfloat16 autocast (where the device has it: CUDA, recent CPUs); scores stay float32
    bf16_autocast: bool = False
    # the parser's encoder (sednn.models.backbone), and other encoders a parser is trained with beside it (compared on
    # mIoU in notebook 02, as map conditions in notebook 07)
    parser_backbone: str = "efficientnet_lite0"
    other_parsers: tuple[str, ...] = ()
    # the map-quality study's conditions (sednn.study.map_conditions): the blends' weights of the ground truth,
    # strictly between the parser's maps and it, and the proposed model's controls
    blend_weights: tuple[float, ...] = (0.25, 0.5, 0.75)
    controls: tuple[str, ...] = ("presence", "foreground", "shuffled")
    # "pixel": only the images with a ground-truth map, kept after the split (so the split is the full dataset's)
    rows: str = "all"
    notebooks: tuple[str, ...] = ("01_data_prep", "02_semantic_maps", "03_baseline", "04_alternatives", "05_proposed",
                                  "06_attention")  # what `make reproduce` runs

    def to_dict(self) -> dict:
        return asdict(self)

    def at_parser_size(self) -> "Profile":
        """This profile with the parser's photo size as its input size (itself when they agree)."""
        return replace(self, image_hw=tuple(self.parser_image_hw or self.image_hw))


PROFILES = {
    # Tests: a few dozen images, tiny resolution, one epoch. Checks plumbing, not science.
    "smoke": Profile("smoke", max_images=48, image_hw=(96, 64), map_stride=4, epochs=1, batch_size=16, seeds=(0, 1),
                     lr=1e-3, lr_mults=(1.0, 10.0), tune_seeds=(0,), freeze_stages=3, views=2, parser_epochs=2,
                     parser_lrs=(1e-3,), vocabulary="garments", other_vocabulary=True, oracle_training=True,
                     stage_variants=True, bootstrap=50, cam_images=2, localization_images=4, min_positives=50,
                     parser_image_hw=(144, 96), other_parsers=("efficientnet_lite2",)),
    # Default of `make reproduce`: the whole dataset on a 2-core CPU, three seeds, the tuning grid. The parser
    # sees 288x192 photos: at 192x128 the regions parser stays below 0.55 test mIoU.
    "cpu": Profile("cpu", max_images=None, image_hw=(192, 128), map_stride=4, epochs=8, batch_size=32,
                   seeds=(0, 1, 2), lr=3e-3, lr_mults=(1.0, 10.0), tune_seeds=(0,), freeze_stages=3, views=8,
                   parser_epochs=20, parser_lrs=(3e-3, 1e-2), vocabulary="garments", other_vocabulary=True,
                   oracle_training=True, stage_variants=False, bootstrap=1000, cam_images=6,
                   localization_images=None, parser_image_hw=(288, 192)),
    # The cpu recipe at 1.5x the side (2.25x the pixels) for the models that carry the verdict: the baseline, the
    # proposed model and input masking, the best alternative by validation in `cpu`. Results in results/cpu_hr/.
    "cpu_hr": Profile("cpu_hr", max_images=None, image_hw=(288, 192), map_stride=4, epochs=8, batch_size=32,
                      seeds=(0, 1, 2), lr=3e-3, lr_mults=(1.0, 10.0), tune_seeds=(0,), freeze_stages=3, views=8,
                      parser_epochs=20, parser_lrs=(3e-3, 1e-2), vocabulary="garments", other_vocabulary=False,
                      oracle_training=False, stage_variants=False, bootstrap=1000, cam_images=6,
                      localization_images=None, alternatives=("input_masking",), argument_ablations=False),
    # The same at 384x256, the gpu profile's size (each committed run's time and machine: README, Profiles).
    "cpu_384": Profile("cpu_384", max_images=None, image_hw=(384, 256), map_stride=4, epochs=8, batch_size=32,
                       seeds=(0, 1, 2), lr=3e-3, lr_mults=(1.0, 10.0), tune_seeds=(0,), freeze_stages=3, views=8,
                       parser_epochs=20, parser_lrs=(3e-3, 1e-2), vocabulary="garments", other_vocabulary=False,
                       oracle_training=False, stage_variants=False, bootstrap=1000, cam_images=6,
                       localization_images=None, alternatives=("input_masking",), argument_ablations=False),
    # Full resolution, nothing frozen, everything on one GPU, with the same protocol.
    "gpu": Profile("gpu", max_images=None, image_hw=(384, 256), map_stride=4, epochs=20, batch_size=64,
                   seeds=(0, 1, 2), lr=1e-3, lr_mults=(1.0, 3.0, 10.0), tune_seeds=(0, 1, 2), freeze_stages=0,
                   views=16, parser_epochs=30, parser_lrs=(1e-3, 3e-3, 1e-2), vocabulary="garments",
                   other_vocabulary=True, oracle_training=True, stage_variants=True, bootstrap=1000, cam_images=8,
                   localization_images=None, bf16_autocast=True),
}
# Tests: the gpu profile's code paths at smoke size, runnable on a CPU: nothing frozen (no stored prefix; the parser
# learns from the photos), its 16 views, bf16 autocast; smoke's images, epochs, seeds, grid and outputs.
PROFILES["smoke_gpu"] = replace(
    PROFILES["gpu"], name="smoke_gpu", **{k: getattr(PROFILES["smoke"], k) for k in (
        "max_images", "image_hw", "epochs", "batch_size", "seeds", "lr", "lr_mults", "tune_seeds", "parser_epochs",
        "parser_lrs", "bootstrap", "cam_images", "localization_images", "min_positives")})

# The map-quality study (notebook 07) on its own, sized to one run of about two hours on 2 cores: the cpu recipe on
# the pixel-annotated half with `regions` maps, the baseline and the proposed model tuned there, then ten seeds of
# the curve's ends and middle (parser, blend 0.5, ground truth) and the presence control (which classes, no layout:
# does it match the ground truth?). About two thirds of each interval's half-width is the draw of 194 test images,
# which no number of seeds narrows; ten seeds bring the seed part under the 0.03 half-width. Left out, each for
# trainings beyond that budget (its committed run's time and machine: README, Profiles):
# the blends 0.25 and 0.75 (a finer curve), the foreground and shuffled controls, input masking (its two ends are
# the cpu run's ablation (e)), a second parser lr (the parser takes the one the cpu run chose for `regions` on
# validation) and a Lite2 parser (its maps scored as Lite0's on test mIoU).
# Results in results/map_quality/.
PROFILES["map_quality"] = replace(
    PROFILES["cpu"], name="map_quality", vocabulary="regions", rows="pixel", alternatives=(),
    other_vocabulary=False, oracle_training=False, argument_ablations=False, parser_lrs=(3e-3,),
    seeds=tuple(range(10)), parser_backbone="efficientnet_lite0", other_parsers=(), blend_weights=(0.5,),
    controls=("presence",), notebooks=("01_data_prep", "02_semantic_maps", "07_map_quality"))


def minimal(profile: Profile, name: str, **overrides) -> Profile:
    """``profile`` with the least work that still runs every notebook through its code paths: one seed, one lr
    multiplier, no argument or stage ablations, one parser encoder. Tests only: it proves that a path runs."""
    return replace(profile, name=name, seeds=(0,), lr_mults=(1.0,), tune_seeds=(0,), argument_ablations=False,
                   stage_variants=False, other_parsers=(), **overrides)


# Your own data's paths (the other vocabulary is asked for: a dataset with one says why it is not run)
PROFILES["smoke_min"] = minimal(PROFILES["smoke"], "smoke_min")
PROFILES["smoke_gpu_min"] = minimal(PROFILES["smoke_gpu"], "smoke_gpu_min", other_vocabulary=False)

# Profiles for tests: their runs are never committed, and the README speaks of none of them.
TEST_PROFILES = ("smoke", "smoke_gpu", "smoke_min", "smoke_gpu_min")


def hw_text(hw) -> str:
    """(192, 128) -> '192x128': how tables write an image size."""
    return "x".join(map(str, hw))


def get_profile(name: str, **overrides) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return replace(PROFILES[name], **overrides)
