"""Clothing Co-Parsing (CCP), one dataset among others: its files -> a manifest and its two vocabulary files, which
then run through the same path as anyone's data (``sednn.data.manifest``).

CCP holds 2,098 street photos: 1,004 with a pixel-level map of 59 fine labels (``annotations/pixel-level``, the
``pixel`` half), 1,094 with image-level tags only (the ``tags`` half). A fine label becomes a target when at least
``min_positives`` images show it, except ``null``, ``skin`` and ``hair``, present in nearly every image.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sednn.core import paths
from sednn.core.io import DatasetError, write_csv
from sednn.data.labels import CCP_DIR, FILE_PATTERN, read_vocabulary
from sednn.data.manifest import LABEL_PREFIX, PIXEL_SOURCE, TAGS_SOURCE, load_mat, photo_size, read_label_map

log = logging.getLogger(__name__)
NUM_FINE_LABELS = 59
NON_TARGET_LABELS = ("null", "skin", "hair")  # present in nearly every image
MIN_POSITIVES = 50  # default: a fine label becomes a target with at least this many positive images


# --------------------------------------------------------------------------- source
def resolve_root(data_dir: str | Path | None = None, *, clone_dir: str | Path = paths.CLONE_CCP_DIR,
                 repo_url: str = paths.CCP_REPO_URL, commit: str = paths.CCP_COMMIT) -> Path:
    """The CCP folder to read: ``data_dir`` if given, else the shared copy, else a pinned clone."""
    if data_dir is not None:
        root = Path(data_dir).expanduser().resolve()
        if not (root / "label_list.mat").exists():
            raise DatasetError(root / "label_list.mat", "not found: data_dir is not a CCP folder")
        return root
    if (paths.SHARED_CCP_DIR / "label_list.mat").exists():
        return paths.SHARED_CCP_DIR
    return clone(clone_dir, repo_url=repo_url, commit=commit)


def clone(dest: str | Path, *, repo_url: str = paths.CCP_REPO_URL, commit: str = paths.CCP_COMMIT) -> Path:
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
def read_label_list(root: str | Path) -> list[str]:
    path = Path(root) / "label_list.mat"
    cells = load_mat(path, "label_list")
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


def read_tags(path: str | Path, num_labels: int) -> np.ndarray:
    """Image-level label indices, deduplicated and sorted."""
    path = Path(path)
    tags = load_mat(path, "tags")
    if not np.issubdtype(tags.dtype, np.integer):
        raise DatasetError(path, f"'tags' must hold integer label indices, got {tags.dtype}")
    _check_label_values(path, tags, num_labels)
    return np.unique(tags.ravel())


# --------------------------------------------------------------------------- manifest
@dataclass
class Manifest:
    table: pd.DataFrame  # the manifest's rows (no split: the project's stratified split is added later)
    label_names: list[str]  # the full label list (the pixel values of the maps)
    targets: list[str]
    positives: dict[str, int]  # positive images per fine label, all images
    warnings: dict[str, list[str]] = field(default_factory=dict)


def select_targets(positives_per_label: dict[str, int], min_positives: int = MIN_POSITIVES) -> list[str]:
    """Fine labels used as targets, in label-list order."""
    return [name for name, n in positives_per_label.items()
            if n >= min_positives and name not in NON_TARGET_LABELS]


def build_manifest(root: str | Path, min_positives: int = MIN_POSITIVES) -> Manifest:
    """Read every CCP annotation (validated) into a manifest.

    Images whose tag set is empty are skipped with a warning (counted in RUN.json);
    everything else that is wrong raises :class:`DatasetError`.
    """
    root = Path(root)
    names = read_label_list(root)
    n = len(names)
    rows, skipped = [], []
    for path in sorted((root / "annotations" / "pixel-level").glob("*.mat")):
        photo = root / "photos" / f"{path.stem}.jpg"
        gt = read_label_map(path, photo_size(photo))
        _check_label_values(path, gt, n)
        rows.append((path.stem, photo, path, np.unique(gt)))
    for path in sorted((root / "annotations" / "image-level").glob("*.mat")):
        photo = root / "photos" / f"{path.stem}.jpg"
        photo_size(photo)  # exists and is an image
        rows.append((path.stem, photo, None, read_tags(path, n)))
    if not rows:
        raise DatasetError(root / "annotations", "no annotation .mat files found")

    records, label_sets = [], []
    for image_id, photo, gt, present in rows:
        fine = [i for i in present.tolist() if names[i] != "null"]
        if not fine:
            log.warning("%s: empty tag set, image skipped", gt or photo)
            skipped.append(image_id)
            continue
        records.append({"id": image_id, "image_path": str(photo), "source": PIXEL_SOURCE if gt else TAGS_SOURCE,
                        "gt_map_path": str(gt) if gt else ""})
        label_sets.append(set(present.tolist()))

    positives = {name: sum(i in s for s in label_sets) for i, name in enumerate(names)}
    targets = select_targets(positives, min_positives)
    if not targets:
        top = sorted(((n, k) for k, n in positives.items() if k not in NON_TARGET_LABELS), reverse=True)[:5]
        raise DatasetError(root / "annotations", f"no label has min_positives={min_positives} positive images, so "
                           f"there is no target; the most frequent: {', '.join(f'{k} {n}' for n, k in top)}. "
                           "Lower min_positives (profile) or add images")
    table = pd.DataFrame.from_records(records)
    hot = np.array([[names.index(t) in s for t in targets] for s in label_sets], dtype=np.uint8)
    table = pd.concat([table, pd.DataFrame(hot, columns=[LABEL_PREFIX + t for t in targets])], axis=1)
    return Manifest(table, names, targets, positives, {"empty_tag_set": skipped})


def check_vocabulary_names(names: list[str], vocab_path: Path) -> None:
    """The shipped vocabulary must name CCP's pixel values as this copy's label list does."""
    vocab = read_vocabulary(vocab_path)
    listed = dict(zip(vocab.values, vocab.value_names))
    if listed != dict(enumerate(names)):
        raise DatasetError(vocab_path, "does not name the pixel values as this CCP copy's label_list.mat does")


def write_dataset(root: str | Path, folder: str | Path, min_positives: int = MIN_POSITIVES) -> tuple[Path, dict]:
    """CCP as a dataset folder: ``manifest.csv`` (absolute paths into ``root``, no split column) beside CCP's
    vocabulary files. Returns the manifest's path and the rows skipped (``{"empty_tag_set": [ids]}``)."""
    folder = Path(folder)
    manifest = build_manifest(root, min_positives)
    for vocab in sorted(CCP_DIR.glob(FILE_PATTERN)):
        check_vocabulary_names(manifest.label_names, vocab)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(vocab, folder / vocab.name)
    path = write_csv(folder / "manifest.csv", manifest.table.drop(columns=["source"]))
    return path, manifest.warnings
