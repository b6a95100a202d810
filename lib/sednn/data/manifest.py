"""Any multi-label image dataset as one manifest table, its map vocabularies, a split, and validated readers.

A dataset is a folder holding ``manifest.csv`` and one or more ``vocabulary-<name>.csv`` (``sednn.data.labels``).
The manifest has one row per image:

- ``id`` (unique) and ``image_path`` (absolute, or relative to the manifest's folder), required;
- one ``label:<name>`` column per target label, 0 or 1, at least one;
- ``split`` (``train``/``val``/``test``), optional: without it the project's stratified split is made (and recorded);
- ``gt_map_path``, optional: the image's ground-truth label map (PNG, ``.npy`` or a ``.mat`` with ``groundtruth``),
  the photo's size, pixel values from the vocabularies; empty for images without one. Images with one form the
  ``pixel`` half (the parser learns from it), the others the ``tags`` half;
- ``map_path``, optional: the image's map from a parser of your own, for every row: a label map in the
  vocabularies' pixel values (PNG or 2-D ``.npy``, the photo's size), or soft maps ``(K, h, w)`` in ``[0, 1]``
  (``.npy``; ``K`` classes of the map vocabulary, the photo's aspect ratio). The project's parser is then not trained.

Every problem raises :class:`DatasetError` naming the file and row; nothing is written before the data is checked.
CCP is built into this form by ``sednn.data.ccp``; ``sednn.data.dataset`` subsamples, splits and stores it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
from PIL import Image

from sednn.core.io import DatasetError, read_csv_strings
from sednn.data.labels import Vocabulary

LABEL_PREFIX = "label:"
PIXEL_SOURCE, TAGS_SOURCE = "pixel", "tags"
SPLITS = ("train", "val", "test")
REQUIRED_COLUMNS = ("id", "image_path")
OPTIONAL_COLUMNS = ("split", "gt_map_path", "map_path")
MANIFEST_NAME = "manifest.csv"



class MapsUnavailable(RuntimeError):
    """The dataset gives the map-using models nothing to work with."""


# --------------------------------------------------------------------------- readers
def load_mat(path: Path, key: str) -> np.ndarray:
    if not path.exists():
        raise DatasetError(path, "file not found")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises several types for broken files
        raise DatasetError(path, f"not a readable .mat file ({type(e).__name__}: {e})") from e
    if key not in mat:
        found = [k for k in mat if not k.startswith("__")]
        raise DatasetError(path, f"missing key {key!r} (found {found})")
    return mat[key]


def _load_array(path: Path) -> np.ndarray:
    if not path.exists():
        raise DatasetError(path, "map file not found")
    try:
        if path.suffix == ".png":
            return np.asarray(Image.open(path))
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
    except Exception as e:
        raise DatasetError(path, f"not a readable {path.suffix} map ({e})") from e
    if path.suffix == ".mat":
        return load_mat(path, "groundtruth")
    raise DatasetError(path, "a map is a .png, .npy or .mat file")


def read_label_map(path: str | Path, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """A per-pixel label map: 2-D, integer values 0-254, optionally of the photo's size -> uint8."""
    path = Path(path)
    gt = _load_array(path)
    if gt.ndim != 2 or not np.issubdtype(gt.dtype, np.integer) or (path.suffix == ".mat" and gt.dtype != np.uint8):
        raise DatasetError(path, f"a label map must be a 2-D uint8 array, got {gt.dtype} {gt.shape}")
    if gt.size and (gt.min() < 0 or gt.max() > 254):
        raise DatasetError(path, f"label map values must lie in 0-254, got {gt.min()}-{gt.max()}")
    if expected_hw is not None and tuple(gt.shape) != tuple(expected_hw):
        raise DatasetError(path, f"map size {gt.shape} differs from its photo's {tuple(expected_hw)}")
    return gt.astype(np.uint8, copy=False)


def read_checked_map(path: str | Path, photo: str | Path, vocabularies: dict[str, Vocabulary]) -> np.ndarray:
    """A label map of ``photo``'s size whose every value is in every vocabulary (DatasetError naming it otherwise)."""
    fine = read_label_map(path, photo_size(photo))
    for vocab in vocabularies.values():
        vocab.check_covers(fine, path)
    return fine


def map_kind(path: str | Path) -> str:
    """``label`` (PNG, 2-D .npy/.mat) or ``soft`` (3-D .npy), from the file's header."""
    path = Path(path)
    if path.suffix == ".npy" and path.exists():
        try:
            return "soft" if np.load(path, mmap_mode="r").ndim == 3 else "label"
        except Exception as e:
            raise DatasetError(path, f"not a readable .npy map ({e})") from e
    return "label"


def read_soft_map(path: str | Path, photo_hw: tuple[int, int], num_classes: int) -> np.ndarray:
    """Soft maps (K, h, w) float32 in [0, 1]: ``num_classes`` channels, the photo's aspect ratio."""
    path = Path(path)
    m = _load_array(path)
    if m.ndim != 3 or m.shape[0] != num_classes:
        raise DatasetError(path, f"soft maps must be (K, h, w) with K = {num_classes} classes of the map "
                           f"vocabulary, got {m.shape}")
    h, w = m.shape[1:]
    if abs(h * photo_hw[1] - w * photo_hw[0]) > max(photo_hw):  # more than a pixel of rounding
        raise DatasetError(path, f"map size {h}x{w} has not the photo's aspect ratio ({photo_hw[0]}x{photo_hw[1]})")
    m = m.astype(np.float32)
    if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise DatasetError(path, f"soft map values must lie in [0, 1], got [{np.nanmin(m)}, {np.nanmax(m)}]")
    return m


def photo_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the image header; full decoding happens in the cache step."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "photo not found")
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception as e:
        raise DatasetError(path, f"not a readable image ({e})") from e
    return h, w


def load_photo(path: str | Path) -> Image.Image:
    """Fully decoded RGB photo; a corrupt or truncated file raises DatasetError naming it."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError as e:
        raise DatasetError(path, "photo not found") from e
    except Exception as e:
        raise DatasetError(path, f"corrupt or truncated image ({e})") from e


# --------------------------------------------------------------------------- manifest
def _row(table: pd.DataFrame, i: int) -> str:
    return f"row {i + 2} (id {table['id'].iloc[i]!r})"  # the CSV line: the header is line 1


def _first_rows(table: pd.DataFrame, mask) -> str:
    rows = np.flatnonzero(np.asarray(mask))
    return ", ".join(_row(table, i) for i in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def read_manifest(path: str | Path) -> pd.DataFrame:
    """A manifest (format in the module docstring), validated, with absolute paths and each row's ``source``: the
    checks in the order a reader would make them, each naming the file, row and problem."""
    path = Path(path)
    table = read_csv_strings(path, "manifest")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    unknown = [c for c in table.columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS
               and not c.startswith(LABEL_PREFIX)]
    if missing or unknown:
        wrong = "; ".join(f"{what} {', '.join(map(repr, cols))}"
                          for what, cols in (("missing columns", missing), ("unknown columns", unknown)) if cols)
        raise DatasetError(path, f"{wrong}: a manifest has "
                           f"{', '.join(REQUIRED_COLUMNS)}, optionally {', '.join(OPTIONAL_COLUMNS)}, and one "
                           f"'{LABEL_PREFIX}<name>' column per target")
    label_cols = [c for c in table.columns if c.startswith(LABEL_PREFIX)]
    if not label_cols or any(c == LABEL_PREFIX for c in label_cols):
        raise DatasetError(path, f"no target columns: name each '{LABEL_PREFIX}<name>'")
    if table.empty:
        raise DatasetError(path, "no rows")
    for c in label_cols:
        bad = ~table[c].isin(["0", "1"])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DatasetError(path, f"{_row(table, i)}: {c} is {table[c].iloc[i]!r}, targets must be 0 or 1"
                               f" ({int(bad.sum())} such cells)")
    if (table["id"].str.strip() == "").any():
        raise DatasetError(path, f"empty id in {_first_rows(table, table['id'].str.strip() == '')}")
    dup = table["id"].duplicated(keep=False)
    if dup.any():
        raise DatasetError(path, f"duplicate ids in {_first_rows(table, dup)}")
    if "split" in table:
        bad = ~table["split"].isin(SPLITS)
        if bad.any():
            raise DatasetError(path, f"unknown split values {sorted(set(table['split'][bad]))} in "
                               f"{_first_rows(table, bad)}; use {', '.join(SPLITS)}")
        empty = [s for s in SPLITS if not (table["split"] == s).any()]
        if empty:
            raise DatasetError(path, f"the split has no {' and no '.join(empty)} rows")

    def resolve(col: str, required: bool) -> list[str]:
        out = []
        for i, p in enumerate(table[col]):
            if not p.strip():
                if required:
                    raise DatasetError(path, f"{_row(table, i)}: empty {col}")
                out.append("")
                continue
            full = (path.parent / p).resolve()
            if not full.exists():
                raise DatasetError(path, f"{_row(table, i)}: {col} {p!r} does not exist ({full})")
            out.append(str(full))
        return out

    out = pd.DataFrame({"id": table["id"], "image_path": resolve("image_path", True)})
    gt = resolve("gt_map_path", False) if "gt_map_path" in table else [""] * len(table)
    out["source"] = [PIXEL_SOURCE if g else TAGS_SOURCE for g in gt]
    out["gt_map_path"] = gt
    if "map_path" in table:
        out["map_path"] = resolve("map_path", True)
    if "split" in table:
        out["split"] = table["split"]
    return pd.concat([out, table[label_cols].astype(np.uint8)], axis=1)
