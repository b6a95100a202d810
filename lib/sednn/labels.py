"""CCP label space, the training targets and the two vocabularies of the semantic map.

``regions`` (8 coarse classes) tells the model *where* a person, garment group or accessory is,
never *which* fine label is there: every garment region groups several target labels
(tests/test_labels.py enforces it). ``garments`` (17 classes) is grouped like the classes of an
off-the-shelf human parser (LIP / ATR: hat, hair, sunglasses, upper-clothes, coat, dress, pants,
skirt, socks, shoes, belt, bag, scarf, gloves, skin), the kind of map the paper most likely used;
some of its classes coincide with target labels. Background is class 0 in both.
"""
from __future__ import annotations

import numpy as np

# Index 0 is background; indices are CCP's own, 0-based (label_list.mat order).
NUM_FINE_LABELS = 59
NON_TARGET_LABELS = ("null", "skin", "hair")  # present in nearly every image
MIN_POSITIVES = 50  # default: a fine label becomes a target with at least this many positive images
BACKGROUND = 0

REGIONS = ("background", "skin", "hair", "upper_body", "lower_body", "whole_body", "footwear_legwear",
           "accessories_bags")

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

GARMENTS = ("background", "skin", "hair", "hat", "sunglasses", "upper_clothes", "coat", "dress", "pants", "skirt",
            "socks", "shoes", "belt", "bag", "scarf", "gloves", "jewelry")

# Fine CCP label name -> human-parser-like garment class. Every one of the 59 names appears once.
GARMENT_OF_LABEL = {
    "null": "background",
    "skin": "skin",
    "hair": "hair",
    "hat": "hat",
    **dict.fromkeys(["glasses", "sunglasses"], "sunglasses"),
    **dict.fromkeys(["blouse", "bra", "cardigan", "hoodie", "intimate", "jumper", "shirt", "sweater", "sweatshirt",
                     "t-shirt", "top", "vest"], "upper_clothes"),
    **dict.fromkeys(["blazer", "cape", "coat", "jacket"], "coat"),
    **dict.fromkeys(["bodysuit", "dress", "romper", "suit", "swimwear"], "dress"),
    **dict.fromkeys(["jeans", "leggings", "panties", "pants", "shorts"], "pants"),
    "skirt": "skirt",
    **dict.fromkeys(["socks", "stockings", "tights"], "socks"),
    **dict.fromkeys(["boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers",
                     "wedges"], "shoes"),
    "belt": "belt",
    **dict.fromkeys(["bag", "purse", "wallet"], "bag"),
    **dict.fromkeys(["scarf", "tie"], "scarf"),
    "gloves": "gloves",
    **dict.fromkeys(["accessories", "bracelet", "earrings", "necklace", "ring", "watch"], "jewelry"),
}

# name -> (classes, fine label -> class)
VOCABULARIES = {"regions": (REGIONS, REGION_OF_LABEL), "garments": (GARMENTS, GARMENT_OF_LABEL)}


def vocabulary(name: str) -> tuple[tuple[str, ...], dict[str, str]]:
    if name not in VOCABULARIES:
        raise ValueError(f"unknown map vocabulary {name!r}; choose one of {sorted(VOCABULARIES)}")
    return VOCABULARIES[name]


def other_vocabulary(name: str) -> str:
    """The vocabulary that is not ``name``: the map of the other-vocabulary ablation."""
    vocabulary(name)
    return next(v for v in VOCABULARIES if v != name)


def class_lookup(label_names: list[str], vocab: str = "regions") -> np.ndarray:
    """uint8 table: fine label index -> class index of ``vocab`` (for np.take on a label map)."""
    classes, of_label = vocabulary(vocab)
    missing = [n for n in label_names if n not in of_label]
    if missing:
        raise ValueError(f"labels without a class in the {vocab!r} vocabulary (sednn.labels): {missing}")
    return np.array([classes.index(of_label[n]) for n in label_names], dtype=np.uint8)


def region_lookup(label_names: list[str]) -> np.ndarray:
    return class_lookup(label_names, "regions")


def select_targets(positives_per_label: dict[str, int], min_positives: int = MIN_POSITIVES) -> list[str]:
    """Fine labels used as targets, in label-list order."""
    return [name for name, n in positives_per_label.items()
            if n >= min_positives and name not in NON_TARGET_LABELS]


def targets_per_class(targets: list[str], vocab: str = "regions") -> dict[str, list[str]]:
    classes, of_label = vocabulary(vocab)
    out: dict[str, list[str]] = {c: [] for c in classes}
    for t in targets:
        out[of_label[t]].append(t)
    return out


def targets_per_region(targets: list[str]) -> dict[str, list[str]]:
    return targets_per_class(targets, "regions")
