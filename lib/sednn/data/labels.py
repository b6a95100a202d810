"""The semantic map's label space. A **vocabulary** is a small CSV file saying which class every pixel value of a
dataset's maps belongs to::

    value,name,class
    0,null,background
    41,skin,skin
    4,blazer,upper_body

One row per value the maps may hold (0-254; 255 means "no map here"). ``name`` (optional) says what the value
denotes: a target label of the same name is localised by its pixels. Classes are numbered in the order they first
appear, and the first one (class 0) is the background. A dataset keeps its vocabularies beside its manifest as
``vocabulary-<name>.csv``; every one of them covers the same pixel values, the values of its ground-truth maps and
of maps of its own (``sednn.data.manifest``).

Clothing Co-Parsing ships two (``vocabularies/ccp/``): ``regions`` (8 coarse classes) tells the model *where* a
person, garment group or accessory is, never *which* fine label is there, since every garment region groups several
target labels; ``garments`` (17 classes) is grouped like an off-the-shelf human parser's (LIP / ATR: hat, hair,
sunglasses, upper-clothes, coat, dress, pants, skirt, socks, shoes, belt, bag, scarf, gloves, skin), the kind of map
the paper most likely used; some of its classes coincide with target labels.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sednn.core.io import DatasetError, read_csv_strings

NO_MAP = 255  # map value of pixels (and images) without a map
BACKGROUND = 0  # class index of the background in every vocabulary
FILE_PATTERN = "vocabulary-*.csv"
CCP_DIR = Path(__file__).parent / "vocabularies" / "ccp"


@dataclass(frozen=True)
class Vocabulary:
    name: str
    classes: tuple[str, ...]  # class index -> class name; class 0 is the background
    values: tuple[int, ...]  # the pixel values it covers, file order
    value_classes: tuple[int, ...]  # class index of each value
    value_names: tuple[str, ...]  # what each value denotes ("" when the file does not say)
    path: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def lookup(self) -> np.ndarray:
        """uint8 table of 256: pixel value -> class index; NO_MAP for values it does not cover (and NO_MAP)."""
        lut = np.full(256, NO_MAP, np.uint8)
        lut[list(self.values)] = self.value_classes
        return lut

    def check_covers(self, values: np.ndarray, where) -> None:
        """Raise naming ``where`` (a map file) and this file when a value in ``values`` has no class here."""
        present = np.unique(values)
        unknown = sorted(set(present.tolist()) - set(self.values) - {NO_MAP})
        if unknown:
            raise DatasetError(where, f"map values {unknown[:10]} are not in the vocabulary {self.path or self.name} "
                               f"(it covers {len(self.values)} values); add them to it")

    def values_named(self, label: str) -> list[int]:
        return [v for v, n in zip(self.values, self.value_names) if n == label]

    def class_of_label(self, label: str) -> str:
        """The class of the pixel value named ``label`` ("" when no value has that name)."""
        named = self.values_named(label)
        return self.classes[self.value_classes[self.values.index(named[0])]] if named else ""

    def targets_per_class(self, targets: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {c: [] for c in self.classes}
        for t in targets:
            if self.class_of_label(t):
                out[self.class_of_label(t)].append(t)
        return out


def vocabulary_name(path: str | Path) -> str:
    m = re.fullmatch(r"vocabulary-([A-Za-z0-9_.-]+)\.csv", Path(path).name)
    if not m:
        raise DatasetError(path, "a vocabulary file is named vocabulary-<name>.csv (letters, digits, _ . -)")
    return m.group(1)


def read_vocabulary(path: str | Path) -> Vocabulary:
    """A vocabulary file, validated: every problem raises DatasetError naming the file and the row."""
    path = Path(path)
    name = vocabulary_name(path)
    table = read_csv_strings(path, "vocabulary file")
    missing = [c for c in ("value", "class") if c not in table.columns]
    extra = [c for c in table.columns if c not in ("value", "name", "class")]
    if missing or extra:
        raise DatasetError(path, f"columns must be value, class and optionally name; missing {missing}, extra {extra}")
    if table.empty:
        raise DatasetError(path, "no rows")
    values = []
    for i, (v, c) in enumerate(zip(table["value"], table["class"]), start=2):
        if not v.strip().isdigit() or not 0 <= int(v) < NO_MAP:
            raise DatasetError(path, f"row {i}: value {v!r} is not an integer in 0-{NO_MAP - 1}")
        if not c.strip():
            raise DatasetError(path, f"row {i}: empty class")
        values.append(int(v))
    dup = sorted({v for v in values if values.count(v) > 1})
    if dup:
        raise DatasetError(path, f"values listed twice: {dup}")
    classes = tuple(dict.fromkeys(c.strip() for c in table["class"]))
    names = tuple(table["name"].str.strip()) if "name" in table else ("",) * len(values)
    return Vocabulary(name, classes, tuple(values), tuple(classes.index(c.strip()) for c in table["class"]), names,
                      str(path))


def read_vocabularies(folder: str | Path) -> dict[str, Vocabulary]:
    """Every ``vocabulary-<name>.csv`` in ``folder``, by name (empty when there is none); they must agree on the
    pixel values and on their names."""
    vocabs = {v.name: v for v in map(read_vocabulary, sorted(Path(folder).glob(FILE_PATTERN)))}
    first = next(iter(vocabs.values()), None)
    for v in vocabs.values():
        if set(v.values) != set(first.values):
            raise DatasetError(v.path, f"covers values {sorted(set(v.values) ^ set(first.values))[:10]} that "
                               f"{first.path} does not (or the other way round): both must cover the same values")
        named = {val: n for val, n in zip(v.values, v.value_names) if n}
        other = {val: n for val, n in zip(first.values, first.value_names) if n}
        clash = [val for val in named.keys() & other.keys() if named[val] != other[val]]
        if clash:
            raise DatasetError(v.path, f"names value {clash[0]} {named[clash[0]]!r}, {first.path} names it "
                               f"{other[clash[0]]!r}")
    return vocabs


def ccp_vocabulary(name: str) -> Vocabulary:
    """One of CCP's two vocabularies (``garments``, ``regions``) as shipped with the package."""
    path = CCP_DIR / f"vocabulary-{name}.csv"
    if not path.exists():
        raise ValueError(f"unknown CCP vocabulary {name!r}; choose one of {sorted(read_vocabularies(CCP_DIR))}")
    return read_vocabulary(path)
