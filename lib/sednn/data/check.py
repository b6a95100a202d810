"""Read everything a run would read of a dataset of your own and say what the run will see (`make check-data`).

    python -m sednn.data.check path/to/manifest.csv
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sednn.core.arms import vocabulary_roles
from sednn.core.io import DatasetError
from sednn.data.dataset import prepare
from sednn.data.manifest import (
    LABEL_PREFIX,
    PIXEL_SOURCE,
    SPLITS,
    map_kind,
    photo_size,
    read_checked_map,
    read_soft_map,
)


def check(manifest: str | Path, map_vocabulary: str = "garments") -> str:
    """Read everything a run would read (manifest, vocabularies, every photo's header, every map) and say what the
    run will see; the first problem raises DatasetError naming its file and row."""
    dataset = prepare(manifest)
    t, vocabs = dataset.table, dataset.vocabularies
    names = sorted(vocabs, key=lambda n: (vocabs[n].num_classes, n))
    roles = vocabulary_roles(names, map_vocabulary)
    kinds = set()
    for photo, gt, own in zip(t["image_path"], t["gt_map_path"], t.get("map_path", [""] * len(t))):
        photo_size(photo)
        if gt:
            read_checked_map(gt, photo, vocabs)
        if own:
            kinds.add(map_kind(own))
            if map_kind(own) == "soft":
                read_soft_map(own, photo_size(photo), vocabs[roles.main].num_classes)
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
             f"the models' map: {roles.main}; own maps: {kinds.pop() if kinds else 'none'}",
             *(f"skipped {k}: {', '.join(v)}" for k, v in dataset.warnings.items()),
             "positive images per target and split:", positives[list(SPLITS)].to_string()]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sednn.data.check", description="Check a manifest before a run.")
    ap.add_argument("manifest", help="manifest CSV, its vocabulary-<name>.csv files beside it")
    try:
        print(check(Path(ap.parse_args(argv).manifest)))
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
