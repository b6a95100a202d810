"""Clothing Co-Parsing (CCP) -> one manifest table, a split, and validated readers.

Manifest format (any dataset in this form runs through the pipeline unchanged):
one row per image with columns ``id``, ``image_path`` (absolute, or relative to
the data root), ``source`` (annotation half: ``pixel`` or ``tags``), ``gt_map_path``
(a per-pixel fine-label map in the label list's index space, or empty),
``split`` (``train``/``val``/``test``) and one 0/1 column ``label:<name>`` per target.
"""
from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
from PIL import Image

from . import labels as L
from . import paths

log = logging.getLogger(__name__)
LABEL_PREFIX = "label:"
PIXEL_SOURCE, TAGS_SOURCE = "pixel", "tags"


class DatasetError(ValueError):
    """Bad input. The message names the file and the problem."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


# --------------------------------------------------------------------------- source
def resolve_ccp_root(data_dir: str | Path | None = None, *, clone_dir: str | Path = paths.CLONE_CCP_DIR,
                     repo_url: str = paths.CCP_REPO_URL, commit: str = paths.CCP_COMMIT) -> Path:
    """The CCP folder to read: ``data_dir`` if given, else the shared copy, else a pinned clone."""
    if data_dir is not None:
        root = Path(data_dir).expanduser().resolve()
        if not (root / "label_list.mat").exists():
            raise DatasetError(root / "label_list.mat", "not found: data_dir is not a CCP folder")
        return root
    if (paths.SHARED_CCP_DIR / "label_list.mat").exists():
        return paths.SHARED_CCP_DIR
    return clone_ccp(clone_dir, repo_url=repo_url, commit=commit)


def clone_ccp(dest: str | Path, *, repo_url: str = paths.CCP_REPO_URL, commit: str = paths.CCP_COMMIT) -> Path:
    """``git clone`` the dataset repository into ``dest`` and check out ``commit`` (idempotent)."""
    dest = Path(dest)
    if not (dest / ".git").exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        log.info("cloning %s into %s", repo_url, dest)
        subprocess.run(["git", "clone", "--quiet", repo_url, str(dest)], check=True)
    head = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    if head != commit:
        subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", commit], check=True)
    return dest


# --------------------------------------------------------------------------- readers
def _loadmat(path: Path, key: str) -> np.ndarray:
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


def read_label_list(root: str | Path) -> list[str]:
    path = Path(root) / "label_list.mat"
    cells = _loadmat(path, "label_list")
    try:
        names = [str(np.asarray(c).ravel()[0]) for c in np.asarray(cells).ravel()]
    except Exception as e:
        raise DatasetError(path, f"'label_list' is not a cell array of names ({e})") from e
    if not names or names[0] != "null":
        raise DatasetError(path, f"expected 'null' at index 0, got {names[:1]}")
    return names


def _check_label_values(path: Path, values: np.ndarray, num_labels: int) -> None:
    if values.size and int(values.max()) >= num_labels:
        raise DatasetError(path, f"label index {int(values.max())} out of range (label list has {num_labels})")


def read_pixel_map(path: str | Path, num_labels: int, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """A per-pixel fine label map: 2-D uint8, values < num_labels, optionally of the photo's size."""
    path = Path(path)
    if path.suffix == ".png":
        if not path.exists():
            raise DatasetError(path, "file not found")
        gt = np.asarray(Image.open(path))
    else:
        gt = _loadmat(path, "groundtruth")
    if gt.dtype != np.uint8 or gt.ndim != 2:
        raise DatasetError(path, f"'groundtruth' must be a 2-D uint8 map, got {gt.dtype} {gt.shape}")
    _check_label_values(path, gt, num_labels)
    if expected_hw is not None and tuple(gt.shape) != tuple(expected_hw):
        raise DatasetError(path, f"map size {gt.shape} differs from its photo's {tuple(expected_hw)}")
    return gt


def read_tags(path: str | Path, num_labels: int) -> np.ndarray:
    """Image-level label indices, deduplicated and sorted."""
    path = Path(path)
    tags = _loadmat(path, "tags")
    if not np.issubdtype(tags.dtype, np.integer):
        raise DatasetError(path, f"'tags' must hold integer label indices, got {tags.dtype}")
    _check_label_values(path, tags, num_labels)
    return np.unique(tags.ravel())


def photo_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the JPEG header; full decoding happens in the cache step."""
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
    """Fully decoded RGB photo; a corrupt or truncated JPEG raises DatasetError naming it."""
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
@dataclass
class Manifest:
    table: pd.DataFrame
    label_names: list[str]  # the full label list (index space of the maps)
    targets: list[str]
    positives: dict[str, int]  # positive images per fine label, all images
    warnings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def target_columns(self) -> list[str]:
        return [LABEL_PREFIX + t for t in self.targets]

    def y(self) -> np.ndarray:
        return self.table[self.target_columns].to_numpy(np.float32)


def build_ccp_manifest(root: str | Path, min_positives: int = L.MIN_POSITIVES) -> Manifest:
    """Read every CCP annotation (validated) into a manifest; split is added by :func:`add_split`.

    Images whose tag set is empty are skipped with a warning (counted in RUN.json);
    everything else that is wrong raises :class:`DatasetError`.
    """
    root = Path(root)
    names = read_label_list(root)
    n = len(names)
    rows, skipped = [], []
    for path in sorted((root / "annotations" / "pixel-level").glob("*.mat")):
        photo = root / "photos" / f"{path.stem}.jpg"
        present = np.unique(read_pixel_map(path, n, photo_size(photo)))
        rows.append((path.stem, photo, PIXEL_SOURCE, path, present))
    for path in sorted((root / "annotations" / "image-level").glob("*.mat")):
        photo = root / "photos" / f"{path.stem}.jpg"
        photo_size(photo)  # exists and is an image
        rows.append((path.stem, photo, TAGS_SOURCE, None, read_tags(path, n)))
    if not rows:
        raise DatasetError(root / "annotations", "no annotation .mat files found")

    records, label_sets = [], []
    for image_id, photo, source, gt, present in rows:
        fine = [i for i in present.tolist() if names[i] != "null"]
        if not fine:
            log.warning("%s: empty tag set, image skipped", gt or photo)
            skipped.append(image_id)
            continue
        records.append({"id": image_id, "image_path": str(photo), "source": source,
                        "gt_map_path": str(gt) if gt else ""})
        label_sets.append(set(present.tolist()))

    positives = {name: sum(i in s for s in label_sets) for i, name in enumerate(names)}
    targets = L.select_targets(positives, min_positives)
    if not targets:
        top = sorted(((n, k) for k, n in positives.items() if k not in L.NON_TARGET_LABELS), reverse=True)[:5]
        raise DatasetError(root / "annotations", f"no label has min_positives={min_positives} positive images, so "
                           f"there is no target; the most frequent: {', '.join(f'{k} {n}' for n, k in top)}. "
                           "Lower min_positives (profile) or add images")
    table = pd.DataFrame.from_records(records)
    hot = np.array([[names.index(t) in s for t in targets] for s in label_sets], dtype=np.uint8)
    table = pd.concat([table, pd.DataFrame(hot, columns=[LABEL_PREFIX + t for t in targets])], axis=1)
    return Manifest(table, names, targets, positives, {"empty_tag_set": skipped})


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
    out.insert(4, "split", split)
    return out


def subsample(table: pd.DataFrame, max_images: int | None, seed: int) -> pd.DataFrame:
    """A fixed, source-balanced subset for small profiles (None keeps everything)."""
    if max_images is None or max_images >= len(table):
        return table
    per_source = max_images // table["source"].nunique()
    parts = [g.sample(n=min(per_source, len(g)), random_state=seed) for _, g in table.groupby("source")]
    return pd.concat(parts).sort_values("id").reset_index(drop=True)


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and validate a manifest CSV (see the module docstring for the format)."""
    path = Path(path)
    table = pd.read_csv(path, dtype={"id": str, "gt_map_path": str}, keep_default_na=False)
    required = ["id", "image_path", "source", "gt_map_path", "split"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DatasetError(path, f"manifest lacks columns {missing}")
    label_cols = [c for c in table.columns if c.startswith(LABEL_PREFIX)]
    if not label_cols:
        raise DatasetError(path, f"manifest has no target columns (named '{LABEL_PREFIX}<name>'); when it was "
                           "built from CCP, no label reached the profile's min_positives")
    values = table[label_cols].to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise DatasetError(path, "target columns must hold 0 or 1")
    bad_split = set(table["split"]) - {"train", "val", "test"}
    if bad_split:
        raise DatasetError(path, f"unknown split values {sorted(bad_split)}")
    if table["id"].duplicated().any():
        raise DatasetError(path, f"duplicate ids {table['id'][table['id'].duplicated()].tolist()[:5]}")
    return table


def target_names(table: pd.DataFrame) -> list[str]:
    return [c[len(LABEL_PREFIX):] for c in table.columns if c.startswith(LABEL_PREFIX)]
