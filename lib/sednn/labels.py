"""CCP label space, the training targets and the coarse semantic-map scheme.

The coarse map tells the model *where* a person, garment group or accessory is,
never *which* fine label is there: every coarse garment class groups several
target labels (tests/test_labels.py enforces it).
"""
from __future__ import annotations

import numpy as np

# Index 0 is background; indices are CCP's own, 0-based (label_list.mat order).
NUM_FINE_LABELS = 59
NON_TARGET_LABELS = ("null", "skin", "hair")  # present in nearly every image
MIN_POSITIVES = 50  # a fine label becomes a target with at least this many positive images

REGIONS = (
    "background",
    "skin",
    "hair",
    "upper_body",
    "lower_body",
    "whole_body",
    "footwear_legwear",
    "accessories_bags",
)
BACKGROUND = 0

# Fine CCP label name -> coarse region. Every one of the 59 names appears once.
REGION_OF_LABEL = {
    "null": "background",
    "skin": "skin",
    "hair": "hair",
    **dict.fromkeys(
        ["blazer", "blouse", "bra", "cape", "cardigan", "coat", "hoodie", "intimate", "jacket",
         "jumper", "shirt", "sweater", "sweatshirt", "t-shirt", "top", "vest"], "upper_body"),
    **dict.fromkeys(["jeans", "panties", "pants", "shorts", "skirt"], "lower_body"),
    **dict.fromkeys(["bodysuit", "dress", "romper", "suit", "swimwear"], "whole_body"),
    **dict.fromkeys(
        ["boots", "clogs", "flats", "heels", "leggings", "loafers", "pumps", "sandals", "shoes",
         "sneakers", "socks", "stockings", "tights", "wedges"], "footwear_legwear"),
    **dict.fromkeys(
        ["accessories", "bag", "belt", "bracelet", "earrings", "glasses", "gloves", "hat",
         "necklace", "purse", "ring", "scarf", "sunglasses", "tie", "wallet", "watch"],
        "accessories_bags"),
}


def region_lookup(label_names: list[str]) -> np.ndarray:
    """uint8 table: fine label index -> coarse region index (for np.take on a label map)."""
    missing = [n for n in label_names if n not in REGION_OF_LABEL]
    if missing:
        raise ValueError(f"labels without a coarse region in sednn.labels.REGION_OF_LABEL: {missing}")
    return np.array([REGIONS.index(REGION_OF_LABEL[n]) for n in label_names], dtype=np.uint8)


def select_targets(positives_per_label: dict[str, int], min_positives: int = MIN_POSITIVES) -> list[str]:
    """Fine labels used as targets, in label-list order."""
    return [name for name, n in positives_per_label.items()
            if n >= min_positives and name not in NON_TARGET_LABELS]


def targets_per_region(targets: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {r: [] for r in REGIONS}
    for t in targets:
        out[REGION_OF_LABEL[t]].append(t)
    return out
