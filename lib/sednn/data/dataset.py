"""A prepared dataset: the manifest's rows subsampled and split (``sednn.data.manifest`` reads and checks them),
written to and read back from a run's work folder, and known by its content (so that no run writes over another
dataset's folders)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sednn.core import paths
from sednn.core.io import DatasetError, atomic_write, write_csv, write_json
from sednn.core.profiles import PROFILES
from sednn.data.labels import FILE_PATTERN, Vocabulary, read_vocabularies
from sednn.data.manifest import LABEL_PREFIX, MANIFEST_NAME, PIXEL_SOURCE, read_manifest


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
    # the training split's images before ``rows="pixel"`` kept fewer: a profile's epochs are epochs of these
    # (sednn.core.epochs.training_epochs), so an arm on fewer rows trains as many optimizer steps
    schedule_rows: int
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
    schedule_rows = int((table["split"] == "train").sum())
    if rows == PIXEL_SOURCE:
        table = table[table["source"] == PIXEL_SOURCE]
    table, dropped = drop_targets_without_positives(table, manifest)
    return Dataset(table.reset_index(drop=True), vocabularies, split, schedule_rows,
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
    write_json(folder / "dataset.json", {"split": dataset.split, "schedule_rows": dataset.schedule_rows,
                                         "warnings": dataset.warnings})
    return write_csv(folder / MANIFEST_NAME, dataset.table)


def read_prepared(folder: str | Path) -> Dataset:
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path}: no prepared dataset; run notebook 01_data_prep first")
    table = pd.read_csv(path, dtype={"id": str, "gt_map_path": str, "map_path": str}, keep_default_na=False)
    info = json.loads((folder / "dataset.json").read_text())
    if "schedule_rows" not in info:
        raise FileNotFoundError(f"{folder / 'dataset.json'}: prepared by older code (no schedule_rows); run notebook "
                                "01_data_prep again")
    return Dataset(table, read_vocabularies(folder), info["split"], info["schedule_rows"], info["warnings"])


def check_own_results_dir(results_dir: Path) -> None:
    """Your own data's results never go into a folder of CCP's."""
    if Path(results_dir).resolve() in {paths.results_dir_for(p).resolve() for p in PROFILES}:
        raise ValueError(f"{results_dir} holds CCP's results: give your own data another results folder")


def label_table(table: pd.DataFrame, vocabularies: dict[str, Vocabulary]) -> pd.DataFrame:
    """Per target: its class in each vocabulary (when a pixel value has its name), positives per split and per
    annotation source."""
    rows = []
    for t in target_names(table):
        col = table[LABEL_PREFIX + t]
        row = {"label": t, **{name: v.class_of_label(t) for name, v in vocabularies.items()},
               "positives": int(col.sum())}
        for key, grp in [*table.groupby("split"), *table.groupby("source")]:
            row[f"positives_{key}"] = int(col[grp.index].sum())
        rows.append(row)
    return pd.DataFrame(rows)
