"""The object every notebook starts from: a ``Run`` (profile, split seed, device, folders) and its data:
the manifest, the cached photos and ground-truth maps, the stored backbone prefix.

What it trains is its plan (``Run.plan``, ``sednn.core.plan``); what it computes once is in its ``Memo``, each
field filled by one function. The parser lives in ``sednn.study.parsing``, the classifiers (tuning, seeds, arms) in
``sednn.study.classifiers``, the tables in ``sednn.study.tables``; each takes a ``Run``.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sednn.core import paths
from sednn.core.arms import MapCondition, VocabularyRoles, vocabulary_roles
from sednn.core.catalog import NORMALIZATION
from sednn.core.io import sha256_array, write_csv
from sednn.core.plan import DatasetShape, Plan, make_plan
from sednn.core.profiles import Profile, get_profile
from sednn.data import ccp
from sednn.data.cache import ArrayCache, cache_fine_maps, cache_photos, cache_soft_maps
from sednn.data.dataset import (
    Dataset,
    check_own_results_dir,
    dataset_name,
    label_table,
    prepare,
    read_prepared,
    target_names,
    write_prepared,
)
from sednn.data.labels import Vocabulary
from sednn.data.manifest import LABEL_PREFIX, PIXEL_SOURCE, SPLITS, MapsUnavailable, map_kind
from sednn.training.device import configure_device, resolve_device, seed_everything
from sednn.training.prefix import stored_prefix
from sednn.training.tensors import TensorData, area_resized, pooled_one_hot, view_thetas

log = logging.getLogger(__name__)


@dataclass
class Memo:
    """What a run computes once and reuses, each field filled by the one function named beside it (a new dataset,
    ``Run.prepare_data``, starts a new memo)."""

    gt_classes: dict[str, np.ndarray] = field(default_factory=dict)  # Run.gt_classes
    parser_runs: dict[str, Run] = field(default_factory=dict)  # sednn.study.parsing.parser_run
    predicted_maps: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # ...parsing.predicted_maps
    condition_maps: dict[tuple[str, MapCondition], np.ndarray] = field(default_factory=dict)  # ...classifiers.arm_maps
    tensors: dict[tuple, TensorData] = field(default_factory=dict)  # ...classifiers.arm_data
    photo_tensors: dict[str, TensorData] = field(default_factory=dict)  # ...cam.photo_data


@dataclass
class Run:
    profile: Profile
    seed: int = 0
    data_dir: str | None = None
    device: str = "auto"
    backbone: str = "efficientnet_lite0"
    compile: bool = False  # torch.compile training steps (same weights up to float rounding, not in signatures)
    work_dir: Path = None
    results_dir: Path = paths.RESULTS_DIR
    figures_dir: Path = paths.FIGURES_DIR
    manifest: Path | None = None  # a dataset of your own (sednn.data.manifest); None: CCP
    memo: Memo = field(default_factory=Memo, repr=False)

    @classmethod
    def create(cls, profile: str = "cpu", seed: int = 0, data_dir=None, device: str = "auto",
               backbone: str = "efficientnet_lite0", work_dir=None, results_dir=None, figures_dir=None,
               compile: bool = False, manifest=None) -> "Run":
        """A run on CCP (``data_dir``: its folder) or, with ``manifest``, on your own data; the folders default to
        the profile's (``sednn.core.paths``), for your own data under ``datasets/<its folder's name>-<its content's
        hash>/`` (``sednn.data.dataset.dataset_name``)."""
        prof, dev = get_profile(profile), resolve_device(device)
        configure_device(dev)
        manifest = Path(manifest).resolve() if manifest else None
        dataset = dataset_name(manifest) if manifest else None
        run = cls(prof, seed, data_dir, str(dev), backbone, compile,
                  Path(work_dir) if work_dir else paths.work_dir_for(prof.name, dataset),
                  Path(results_dir) if results_dir else paths.results_dir_for(prof.name, dataset=dataset),
                  Path(figures_dir) if figures_dir else paths.figures_dir_for(prof.name, dataset), manifest)
        if manifest:
            check_own_results_dir(run.results_dir)
        for d in (run.work_dir, run.results_dir, run.figures_dir):
            d.mkdir(parents=True, exist_ok=True)
        # one line per training, on stdout: a notebook shows it as plain output, not as a red error box
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        seed_everything(seed)
        return run

    # ------------------------------------------------------------------ data (notebook 01)
    @property
    def dataset_dir(self) -> Path:
        return self.work_dir / "dataset"

    def prepare_data(self) -> Dataset:
        """The dataset (``manifest``, else CCP) checked, subsampled and split; every photo and map read, checked and
        cached; then the prepared dataset (work dir), splits.csv and labels.csv (results) written."""
        manifest, skipped = self.manifest, {}
        if manifest is None:
            manifest, skipped = ccp.write_dataset(ccp.resolve_root(self.data_dir), self.work_dir / "ccp",
                                                  self.profile.min_positives)
        dataset = prepare(manifest, self.profile.max_images, self.seed, self.profile.rows)
        dataset.warnings = {**skipped, **dataset.warnings}
        for name in ("dataset", "vocabularies", "photos", "gt_fine", "thetas", "own_map_kind"):
            self.__dict__.pop(name, None)
        self.memo = Memo()
        self.__dict__["dataset"] = dataset
        _ = self.photos, self.gt_fine  # read and check every photo and map before anything is written
        if self.own_map_kind:
            for vocab in self.vocabularies:
                self.own_soft_maps(vocab)
        write_prepared(dataset, self.dataset_dir)
        write_csv(self.results_dir / "splits.csv", self.table[["id", "source", "split"]])
        write_csv(self.results_dir / "labels.csv", label_table(self.table, self.vocabularies))
        self.prefix_features("image")  # build the stored prefix now
        return dataset

    @cached_property
    def dataset(self) -> Dataset:
        return read_prepared(self.dataset_dir)

    @property
    def table(self) -> pd.DataFrame:
        return self.dataset.table

    @property
    def targets(self) -> list[str]:
        return target_names(self.table)

    @property
    def y(self) -> np.ndarray:
        return self.table[[LABEL_PREFIX + t for t in self.targets]].to_numpy(np.float32)

    def indices(self, split: str, source: str | None = None) -> np.ndarray:
        sel = self.table["split"] == split
        if source is not None:
            sel &= self.table["source"] == source
        return np.flatnonzero(sel.to_numpy())

    # ------------------------------------------------------------------ map vocabularies and maps
    @cached_property
    def own_map_kind(self) -> str | None:
        """``label`` or ``soft`` when the dataset brings maps of its own (``map_path``), else None."""
        return map_kind(self.table["map_path"].iloc[0]) if "map_path" in self.table else None

    @cached_property
    def vocabularies(self) -> dict[str, Vocabulary]:
        """The dataset's map vocabularies, coarsest first. Own soft maps are in the map vocabulary's classes: then
        it is the only one."""
        vocabs = sorted(self.dataset.vocabularies.values(), key=lambda v: (v.num_classes, v.name))
        main = vocabulary_roles([v.name for v in vocabs], self.profile.vocabulary).main
        return {v.name: v for v in vocabs if self.own_map_kind != "soft" or v.name == main}

    @property
    def shape(self) -> DatasetShape:
        """What the plan needs to know of this dataset (``sednn.core.plan``)."""
        return DatasetShape(() if self.maps_missing() else tuple(self.vocabularies), parser=not self.own_map_kind,
                            pixel_splits=self.pixel_annotated_splits,
                            only_pixel_rows=bool((self.table["source"] == PIXEL_SOURCE).all()))

    def plan(self, best_alternative: str | None = None) -> Plan:
        """What this run's notebooks train (``best_alternative``: for notebook 05's oracle and other-vocabulary
        arms, ``sednn.study.classifiers.best_alternative``)."""
        return make_plan(self.profile, self.shape, self.backbone, best_alternative)

    @property
    def map_roles(self) -> VocabularyRoles:
        return vocabulary_roles(list(self.vocabularies), self.profile.vocabulary)

    @property
    def map_vocabulary(self) -> str | None:
        """The map of the main comparison: the profile's vocabulary when the dataset has it."""
        return self.map_roles.main

    @property
    def oracle_vocabulary(self) -> str | None:
        return self.map_roles.oracle

    @property
    def other_vocabulary(self) -> str | None:
        return self.map_roles.other

    def vocab(self, name: str) -> Vocabulary:
        if name not in self.vocabularies:
            raise ValueError(f"no map vocabulary {name!r} in this dataset; it has {sorted(self.vocabularies)}")
        return self.vocabularies[name]

    @property
    def pixel_annotated_splits(self) -> bool:
        """Whether train, val and test each hold images with a ground-truth map (the oracle ablations need them)."""
        return all(len(self.indices(s, PIXEL_SOURCE)) for s in SPLITS)

    def maps_missing(self) -> str | None:
        """Why the map-using models cannot run here, in one sentence (None when they can)."""
        if self.own_map_kind or not self.vocabularies:
            return None if self.own_map_kind else (
                "No semantic maps: this dataset has neither pixel annotations (gt_map_path) with a vocabulary file "
                "to train the parser on nor maps of its own (map_path), so the baseline runs and the map-using "
                "models do not.")
        n_train, n_val = (len(self.indices(s, PIXEL_SOURCE)) for s in ("train", "val"))
        if n_train and n_val:
            return None
        return (f"No semantic maps: the parser learns from pixel-annotated images (gt_map_path) in the train and val "
                f"splits, and this dataset has {n_train} and {n_val}; give them maps of their own (map_path) or "
                "annotate some. The baseline runs without maps.")

    def require_maps(self) -> None:
        """Raise :class:`sednn.data.manifest.MapsUnavailable` with :meth:`maps_missing`'s sentence."""
        reason = self.maps_missing()
        if reason:
            raise MapsUnavailable(reason)

    def require_ground_truth(self, study: str) -> None:
        """Raise :class:`sednn.data.manifest.MapsUnavailable` when ``study`` cannot run: it needs ground-truth maps
        in the train, val and test splits."""
        if not self.pixel_annotated_splits:
            raise MapsUnavailable(f"{study} needs ground-truth maps in the train, val and test splits.")

    @property
    def array_cache(self) -> ArrayCache:
        h, w = self.profile.image_hw
        return ArrayCache(self.work_dir / "cache" / f"{h}x{w}")

    @property
    def map_hw(self) -> tuple[int, int]:
        h, w = self.profile.image_hw
        return h // self.profile.map_stride, w // self.profile.map_stride

    @cached_property
    def photos(self) -> np.ndarray:
        return cache_photos(self.array_cache, self.table, self.profile.image_hw)

    @cached_property
    def gt_fine(self) -> np.ndarray:
        """(N, H, W) uint8 ground-truth pixel values, NO_MAP where an image has none."""
        return cache_fine_maps(self.array_cache, self.table, self.profile.image_hw, self.dataset.vocabularies)

    def gt_classes(self, vocab: str) -> np.ndarray:
        """(N, H, W) uint8 class of ``vocab`` per pixel, NO_MAP where the image has no pixel annotation."""
        if vocab not in self.memo.gt_classes:
            self.memo.gt_classes[vocab] = self.vocab(vocab).lookup()[self.gt_fine]  # NO_MAP stays NO_MAP
        return self.memo.gt_classes[vocab]

    def gt_labels_at_map_size(self, vocab: str) -> np.ndarray:
        """(N, h, w) ground-truth classes at map resolution (nearest): the parser's training target."""
        s = self.profile.map_stride
        return self.gt_classes(vocab)[:, s // 2::s, s // 2::s]

    def gt_soft_maps(self, vocab: str) -> np.ndarray:
        """Ground-truth maps (N, K, h, w) uint8: one-hot classes area-pooled to map size. Images without a pixel
        annotation have none: all zeros, so any use of them outside the pixel-annotated rows shows."""
        return pooled_one_hot(self.gt_classes(vocab), self.vocab(vocab).num_classes, self.profile.map_stride)

    def own_soft_maps(self, vocab: str) -> np.ndarray:
        """The dataset's own maps (``map_path``) as (N, K, h, w) uint8 soft maps of ``vocab`` at map size."""
        if self.own_map_kind == "soft":
            return cache_soft_maps(self.array_cache, self.table, self.map_hw, self.vocab(vocab), area_resized)
        own = cache_fine_maps(self.array_cache, self.table, self.profile.image_hw, self.dataset.vocabularies,
                              column="map_path")
        return pooled_one_hot(self.vocab(vocab).lookup()[own], self.vocab(vocab).num_classes, self.profile.map_stride)

    # ------------------------------------------------------------------ stored views and prefix
    @cached_property
    def thetas(self) -> torch.Tensor:
        """(N, V, 2, 3) the stored augmented views of every image (fixed by the split seed)."""
        return view_thetas(len(self.table), self.profile.views, self.seed)

    @property
    def norm_stats(self) -> tuple[tuple, tuple]:
        """The backbone's input mean and std."""
        return NORMALIZATION[self.backbone]

    def prefix_features(self, kind: str, maps: np.ndarray | None = None) -> np.ndarray | None:
        """The stored frozen prefix (``sednn.training.prefix``) of the photos ("image") or of the photos masked with
        ``maps`` ("masked"); None when the profile freezes nothing or ``kind`` is None (prefix learns)."""
        stop = self.profile.freeze_stages
        if stop == 0 or kind is None:
            return None
        masked = kind == "masked"
        data = self.data(maps if masked else None, with_prefix=None)  # caches the photos first: the fingerprint names
        fingerprint = {"photos": self.array_cache.sha256("photos"), "views": [self.profile.views, self.seed],
                       "maps": sha256_array(maps) if masked else None}  # them (else the next call rebuilds the store)
        return stored_prefix(self.array_cache, data, self.backbone, stop, torch.device(self.device),
                             self.profile.batch_size * 2, masked, fingerprint)

    def data(self, maps: np.ndarray | None = None, with_prefix: str | None = "image") -> TensorData:
        """Photos, ``maps`` (None: a placeholder per image), targets and views as tensors; ``with_prefix``:
        which stored prefix batches carry instead of the photo ("image", "masked", or None for the photo)."""
        maps = np.zeros((len(self.photos), 1, 1, 1), np.uint8) if maps is None else maps
        features = self.prefix_features(with_prefix, maps) if with_prefix else None
        return TensorData.from_arrays(self.photos, maps, self.y, *self.norm_stats, device=self.device,
                                      thetas=self.thetas, features=features,
                                      start=self.profile.freeze_stages if features is not None else 0)
