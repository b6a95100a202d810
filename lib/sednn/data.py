"""Any multi-label image dataset as one manifest table, its map vocabularies, a split, and validated readers.

A dataset is a folder holding ``manifest.csv`` and one or more ``vocabulary-<name>.csv`` (``sednn.labels``).
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
CCP is built into this form by ``sednn.ccp``.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
from PIL import Image

from .io import DatasetError, atomic_write, read_csv_strings, write_csv, write_json  # noqa: F401  (DatasetError: what every reader raises)
from .labels import FILE_PATTERN, Vocabulary, read_vocabularies

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
    """A manifest (format in the module docstring), validated, with absolute paths and each row's ``source``."""
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


def add_split(table: pd.DataFrame, seed: int, fractions=(0.7, 0.1, 0.2)) -> pd.DataFrame:
    """Iterative multi-label stratification into train/val/test, also balanced on ``source``."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    train_f, val_f, test_f = fractions
    label_cols = [c for c in table.columns if c.startswith(LABEL_PREFIX)]
    strat = np.concatenate([table[label_cols].to_numpy(),
                            pd.get_dummies(table["source"]).to_numpy(np.uint8)], axis=1)
    idx = np.arange(len(table))
    outer = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=test_f, random_state=seed)
    rest, test = next(outer.split(idx, strat))
    inner = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=val_f / (train_f + val_f), random_state=seed)
    train, val = next(inner.split(rest, strat[rest]))
    split = np.empty(len(table), dtype=object)
    split[rest[train]], split[rest[val]], split[test] = "train", "val", "test"
    out = table.drop(columns=["split"], errors="ignore").copy()
    out.insert(int(np.flatnonzero(out.columns.str.startswith(LABEL_PREFIX))[0]), "split", split)
    return out


def subsample(table: pd.DataFrame, max_images: int | None, seed: int) -> pd.DataFrame:
    """A fixed, source-balanced subset for small profiles (None keeps everything)."""
    if max_images is None or max_images >= len(table):
        return table
    per_source = max_images // table["source"].nunique()
    parts = [g.sample(n=min(per_source, len(g)), random_state=seed) for _, g in table.groupby("source")]
    return pd.concat(parts).sort_values("id").reset_index(drop=True)


def target_names(table: pd.DataFrame) -> list[str]:
    return [c[len(LABEL_PREFIX):] for c in table.columns if c.startswith(LABEL_PREFIX)]


def drop_targets_without_positives(table: pd.DataFrame, where) -> tuple[pd.DataFrame, list[str]]:
    """Targets with no positive image in the train or the test split have no AUC to learn or to measure: they are
    dropped and counted (never scored 0.5). None left raises naming ``where``."""
    counts = table.groupby("split")[[LABEL_PREFIX + t for t in target_names(table)]].sum()
    empty = [c for c in counts.columns if counts[c].get("train", 0) == 0 or counts[c].get("test", 0) == 0]
    if len(empty) == len(counts.columns):
        raise DatasetError(where, "no target label has a positive image in both the train and the test split")
    return table.drop(columns=empty), [c[len(LABEL_PREFIX):] for c in empty]


# --------------------------------------------------------------------------- dataset
@dataclass
class Dataset:
    table: pd.DataFrame  # validated manifest rows with split and source, absolute paths
    vocabularies: dict[str, Vocabulary]
    split: str  # where the split came from: "manifest", or "stratified (seed N)"
    warnings: dict[str, list[str]] = field(default_factory=dict)  # what was skipped, by reason

    @property
    def targets(self) -> list[str]:
        return target_names(self.table)


def prepare(manifest: str | Path, max_images: int | None = None, seed: int = 0, rows: str = "all") -> Dataset:
    """A manifest and the vocabularies beside it, checked, subsampled (``max_images``) and split (when it has no
    split of its own); ``rows="pixel"`` then keeps the images with a ground-truth map."""
    manifest = Path(manifest)
    table = read_manifest(manifest)
    vocabularies = read_vocabularies(manifest.parent)
    has_maps = (table["source"] == PIXEL_SOURCE).any() or "map_path" in table
    if has_maps and not vocabularies:
        raise DatasetError(manifest.parent, "the manifest gives maps (gt_map_path or map_path) but no vocabulary "
                           "file (vocabulary-<name>.csv) lies beside it to say what their pixel values mean")
    table = subsample(table, max_images, seed)
    split = "manifest" if "split" in table else f"stratified (seed {seed})"
    if "split" not in table:
        table = add_split(table, seed)
    if rows == PIXEL_SOURCE:
        table = table[table["source"] == PIXEL_SOURCE]
    table, dropped = drop_targets_without_positives(table, manifest)
    return Dataset(table.reset_index(drop=True), vocabularies, split,
                   {"targets_without_positives": dropped} if dropped else {})


def dataset_content(manifest: str | Path) -> str:
    """A dataset of your own is known by its content: the hash of its manifest and its vocabulary files."""
    import hashlib

    manifest = Path(manifest).resolve()
    digest = hashlib.sha256()
    for f in [manifest, *sorted(manifest.parent.glob(FILE_PATTERN))]:
        digest.update(f"{f.name}\0{f.stat().st_size}\0".encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def dataset_name(manifest: str | Path) -> str:
    """The folder name of a dataset of your own: its manifest folder's name for readers (characters other than
    letters, digits and ``_.-`` become ``_``), then its content's hash, so that two datasets in folders of the same
    name never share folders, and an edited manifest gets folders of its own."""
    import re

    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(manifest).resolve().parent.name)
    return f"{folder}-{dataset_content(manifest)[:10]}"


class ForeignFolder(ValueError):
    """A run's folder holds another dataset's work or results."""


def dataset_identity(manifest: str | Path | None) -> dict:
    """What a run's RUN.json records of its dataset: the manifest and its content's hash (CCP: no manifest)."""
    if manifest is None:
        return {"manifest": None, "content": "ccp"}
    return {"manifest": str(Path(manifest).resolve()), "content": dataset_content(manifest)}


def check_folder_is_ours(folder: str | Path, identity: dict) -> None:
    """Stop, naming both manifests, when ``folder``'s RUN.json comes from a run on another dataset."""
    record = Path(folder) / "RUN.json"
    if not record.exists():
        return
    theirs = json.loads(record.read_text()).get("dataset")
    if theirs is None or theirs["content"] == identity["content"]:  # older runs did not record it
        return

    def named(i):
        return f"the manifest {i['manifest']}" if i["manifest"] else "CCP"

    raise ForeignFolder(f"{folder} holds the run of {named(theirs)} (content {theirs['content'][:10]}), not of "
                        f"{named(identity)} (content {identity['content'][:10]}): give this run folders of its own "
                        "(--work-dir, --results-dir, --figures-dir) or leave them at their defaults")


def write_prepared(dataset: Dataset, folder: str | Path) -> Path:
    """The prepared dataset as a folder, rewritten whole: its table, its vocabulary files, ``dataset.json``
    (nothing of a dataset prepared there before stays)."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    for vocab in dataset.vocabularies.values():
        atomic_write(folder / Path(vocab.path).name, lambda p, src=vocab.path: shutil.copyfile(src, p))
    write_json(folder / "dataset.json", {"split": dataset.split, "warnings": dataset.warnings})
    return write_csv(folder / MANIFEST_NAME, dataset.table)


def read_prepared(folder: str | Path) -> Dataset:
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path}: no prepared dataset; run notebook 01_data_prep first")
    table = pd.read_csv(path, dtype={"id": str, "gt_map_path": str, "map_path": str}, keep_default_na=False)
    info = json.loads((folder / "dataset.json").read_text())
    return Dataset(table, read_vocabularies(folder), info["split"], info["warnings"])


def map_vocabularies(names: list[str], preferred: str) -> dict[str, str | None]:
    """Which vocabulary plays which part: ``main`` (the models' map: ``preferred`` when the dataset has it, else the
    first by name), ``oracle`` (the oracle-trained bound: the coarsest, fewest classes, as it says least about which
    label is there) and ``other`` (the other-vocabulary ablation: the first other than main; None when there is
    one). ``names`` are ordered by number of classes, then by name."""
    if not names:
        return {"main": None, "oracle": None, "other": None}
    main = preferred if preferred in names else sorted(names)[0]
    others = sorted(n for n in names if n != main)
    return {"main": main, "oracle": names[0], "other": others[0] if others else None}


def check(manifest: str | Path, map_vocabulary: str = "garments") -> str:
    """Read everything a run would read (manifest, vocabularies, every photo's header, every map) and say what the
    run will see; the first problem raises DatasetError naming its file and row."""
    dataset = prepare(manifest)
    t, vocabs = dataset.table, dataset.vocabularies
    names = sorted(vocabs, key=lambda n: (vocabs[n].num_classes, n))
    roles = map_vocabularies(names, map_vocabulary)
    kinds = set()
    for photo, gt, own in zip(t["image_path"], t["gt_map_path"], t.get("map_path", [""] * len(t))):
        photo_size(photo)
        if gt:
            read_checked_map(gt, photo, vocabs)
        if own:
            kinds.add(map_kind(own))
            if map_kind(own) == "soft":
                read_soft_map(own, photo_size(photo), vocabs[roles["main"]].num_classes)
            else:
                read_checked_map(own, photo, vocabs)
    if len(kinds) > 1:
        raise DatasetError(manifest, "map_path mixes label maps and soft maps: use one kind")
    positives = t.groupby("split")[[LABEL_PREFIX + c for c in dataset.targets]].sum().T
    positives.index = dataset.targets
    lines = [f"{manifest}: {len(t)} images ({(t.source == PIXEL_SOURCE).sum()} with a ground-truth map), "
             f"{len(dataset.targets)} targets, split: {dataset.split} "
             f"({', '.join(f'{s} {(t.split == s).sum()}' for s in SPLITS)})",
             f"map vocabularies: {', '.join(f'{n} ({vocabs[n].num_classes} classes)' for n in names) or 'none'}; "
             f"the models' map: {roles['main']}; own maps: {kinds.pop() if kinds else 'none'}",
             *(f"skipped {k}: {', '.join(v)}" for k, v in dataset.warnings.items()),
             "positive images per target and split:", positives[list(SPLITS)].to_string()]
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m sednn.data", description="Check a manifest before a run.")
    ap.add_argument("manifest", help="manifest CSV, its vocabulary-<name>.csv files beside it")
    try:
        print(check(ap.parse_args().manifest))
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
