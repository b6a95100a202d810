"""The object every notebook starts from: a ``Run`` (profile, split seed, device, folders) and its data:
the manifest, the cached photos and ground-truth maps, the stored backbone prefix.

The parser lives in ``sednn.parsing``, the classifiers (tuning, seeds, ablation arms) in
``sednn.classifiers``, the tables in ``sednn.report``; each takes a ``Run``.
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
import torch.nn.functional as F

from . import ccp
from . import data as D
from . import paths
from .cache import ArrayCache, cache_fine_maps, cache_photos, cache_soft_maps
from .features import stored_prefix
from .io import sha256_array, sha256_file, sha256_json, write_csv
from .labels import NO_MAP, Vocabulary
from .models import create_backbone
from .profiles import PROFILES, Profile, get_profile
from .train import TensorData, configure_device, resolve_device, seed_everything, view_thetas

log = logging.getLogger(__name__)


# The modules whose code a training runs: what these import within the package, followed to the end.
TRAINING_ENTRY_POINTS = ("classifiers", "parsing")


def imported_modules(module: str, package_dir: Path) -> set[str]:
    """``module`` (dotted, relative to the package) and every package module it imports, at the top or inside a
    function, followed transitively; read from the source, nothing is imported."""
    import ast

    def source(name):
        path = package_dir.joinpath(*name.split("."))
        return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")

    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen or not source(name).exists():
            continue
        seen.add(name)
        here = source(name)
        parent = name.split(".")[:-1] if here.name != "__init__.py" else name.split(".")
        for node in ast.walk(ast.parse(here.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = parent[:len(parent) - (node.level - 1)] if node.level > 1 else parent
            target = [*base, *node.module.split(".")] if node.module else base
            todo.append(".".join(target)) if target else None
            todo.extend(".".join([*target, alias.name]) for alias in node.names)  # `from . import data`
    return seen


def training_files() -> list[Path]:
    """The source files that shape a trained model (``TRAINING_ENTRY_POINTS`` and all they import)."""
    here = Path(__file__).parent
    names = set().union(*(imported_modules(m, here) for m in TRAINING_ENTRY_POINTS))
    files = {here.joinpath(*n.split(".")) for n in names}
    return sorted(f / "__init__.py" if f.is_dir() else f.with_suffix(".py") for f in files)


def code_fingerprint() -> str:
    """Hash of the source that shapes a trained model: a checkpoint trained by other code is not reused.
    (Reporting and plotting code is not imported by training, so changing a figure does not retrain anything.)"""
    here = Path(__file__).parent
    return sha256_json([(f.relative_to(here).as_posix(), sha256_file(f)) for f in training_files()])


def check_own_results_dir(results_dir: Path) -> None:
    """Your own data's results never go into a folder of CCP's."""
    if Path(results_dir).resolve() in {paths.results_dir_for(p).resolve() for p in PROFILES}:
        raise ValueError(f"{results_dir} holds CCP's results: give your own data another results folder")


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
    manifest: Path | None = None  # a dataset of your own (sednn.data); None: CCP
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, profile: str = "cpu", seed: int = 0, data_dir=None, device: str = "auto",
               backbone: str = "efficientnet_lite0", work_dir=None, results_dir=None, figures_dir=None,
               compile: bool = False, manifest=None) -> "Run":
        """A run on CCP (``data_dir``: its folder) or, with ``manifest``, on your own data; the folders default to
        the profile's (``sednn.paths``), for your own data under ``datasets/<its folder's name>-<its content's hash>/`` (``sednn.data.dataset_name``)."""
        prof, dev = get_profile(profile), resolve_device(device)
        configure_device(dev)
        manifest = Path(manifest).resolve() if manifest else None
        dataset = D.dataset_name(manifest) if manifest else None
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

    def prepare_data(self) -> D.Dataset:
        """The dataset (``manifest``, else CCP) checked, subsampled and split; every photo and map read, checked and
        cached; then the prepared dataset (work dir), splits.csv and labels.csv (results) written."""
        manifest, skipped = self.manifest, {}
        if manifest is None:
            manifest, skipped = ccp.write_dataset(ccp.resolve_root(self.data_dir), self.work_dir / "ccp",
                                                  self.profile.min_positives)
        dataset = D.prepare(manifest, self.profile.max_images, self.seed, self.profile.rows)
        dataset.warnings = {**skipped, **dataset.warnings}
        for name in ("dataset", "vocabularies", "photos", "gt_fine", "thetas", "own_map_kind"):
            self.__dict__.pop(name, None)
        self._cache.clear()
        self.__dict__["dataset"] = dataset
        self.photos, self.gt_fine  # read and check every photo and map before anything is written
        if self.own_map_kind:
            for vocab in self.vocabularies:
                self.own_soft_maps(vocab)
        D.write_prepared(dataset, self.dataset_dir)
        write_csv(self.results_dir / "splits.csv", self.table[["id", "source", "split"]])
        write_csv(self.results_dir / "labels.csv", self.label_table())
        self.prefix_features("image")  # build the stored prefix now
        return dataset

    def label_table(self) -> pd.DataFrame:
        """Per target: its class in each vocabulary (when a pixel value has its name), positives per split and
        per annotation source."""
        rows = []
        for t in self.targets:
            col = self.table[D.LABEL_PREFIX + t]
            row = {"label": t, **{name: v.class_of_label(t) for name, v in self.vocabularies.items()},
                   "positives": int(col.sum())}
            for key, grp in [*self.table.groupby("split"), *self.table.groupby("source")]:
                row[f"positives_{key}"] = int(col[grp.index].sum())
            rows.append(row)
        return pd.DataFrame(rows)

    @cached_property
    def dataset(self) -> D.Dataset:
        return D.read_prepared(self.dataset_dir)

    @property
    def table(self) -> pd.DataFrame:
        return self.dataset.table

    @property
    def targets(self) -> list[str]:
        return D.target_names(self.table)

    @property
    def y(self) -> np.ndarray:
        return self.table[[D.LABEL_PREFIX + t for t in self.targets]].to_numpy(np.float32)

    def indices(self, split: str, source: str | None = None) -> np.ndarray:
        sel = self.table["split"] == split
        if source is not None:
            sel &= self.table["source"] == source
        return np.flatnonzero(sel.to_numpy())

    # ------------------------------------------------------------------ map vocabularies and maps
    @cached_property
    def own_map_kind(self) -> str | None:
        """``label`` or ``soft`` when the dataset brings maps of its own (``map_path``), else None."""
        return D.map_kind(self.table["map_path"].iloc[0]) if "map_path" in self.table else None

    @cached_property
    def vocabularies(self) -> dict[str, Vocabulary]:
        """The dataset's map vocabularies, coarsest first. Own soft maps are in the map vocabulary's classes: then
        it is the only one."""
        vocabs = sorted(self.dataset.vocabularies.values(), key=lambda v: (v.num_classes, v.name))
        main = D.map_vocabularies([v.name for v in vocabs], self.profile.vocabulary)["main"]
        return {v.name: v for v in vocabs if self.own_map_kind != "soft" or v.name == main}

    @property
    def map_roles(self) -> dict[str, str | None]:
        return D.map_vocabularies(list(self.vocabularies), self.profile.vocabulary)

    @property
    def map_vocabulary(self) -> str | None:
        """The map of the main comparison: the profile's vocabulary when the dataset has it."""
        return self.map_roles["main"]

    @property
    def oracle_vocabulary(self) -> str | None:
        return self.map_roles["oracle"]

    @property
    def other_vocabulary(self) -> str | None:
        return self.map_roles["other"]

    def vocab(self, name: str) -> Vocabulary:
        if name not in self.vocabularies:
            raise ValueError(f"no map vocabulary {name!r} in this dataset; it has {sorted(self.vocabularies)}")
        return self.vocabularies[name]

    @property
    def pixel_annotated_splits(self) -> bool:
        """Whether train, val and test each hold images with a ground-truth map (the oracle ablations need them)."""
        return all(len(self.indices(s, D.PIXEL_SOURCE)) for s in D.SPLITS)

    def maps_missing(self) -> str | None:
        """Why the map-using models cannot run here, in one sentence (None when they can)."""
        if self.own_map_kind or not self.vocabularies:
            return None if self.own_map_kind else (
                "No semantic maps: this dataset has neither pixel annotations (gt_map_path) with a vocabulary file "
                "to train the parser on nor maps of its own (map_path), so the baseline runs and the map-using "
                "models do not.")
        n_train, n_val = (len(self.indices(s, D.PIXEL_SOURCE)) for s in ("train", "val"))
        if n_train and n_val:
            return None
        return (f"No semantic maps: the parser learns from pixel-annotated images (gt_map_path) in the train and val "
                f"splits, and this dataset has {n_train} and {n_val}; give them maps of their own (map_path) or "
                "annotate some. The baseline runs without maps.")

    def require_maps(self) -> None:
        """Raise :class:`sednn.data.MapsUnavailable` with :meth:`maps_missing`'s sentence."""
        reason = self.maps_missing()
        if reason:
            raise D.MapsUnavailable(reason)

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

    def class_of_fine(self, vocab: str) -> np.ndarray:
        """uint8 lookup: pixel value (and NO_MAP) -> class index of ``vocab`` (NO_MAP stays NO_MAP)."""
        return self.vocab(vocab).lookup()

    def gt_classes(self, vocab: str) -> np.ndarray:
        """(N, H, W) uint8 class of ``vocab`` per pixel, NO_MAP where the image has no pixel annotation."""
        if ("gt", vocab) not in self._cache:
            self._cache[("gt", vocab)] = self.class_of_fine(vocab)[self.gt_fine]
        return self._cache[("gt", vocab)]

    def gt_labels_at_map_size(self, vocab: str) -> np.ndarray:
        """(N, h, w) ground-truth classes at map resolution (nearest): the parser's training target."""
        s = self.profile.map_stride
        return self.gt_classes(vocab)[:, s // 2::s, s // 2::s]

    def gt_soft_maps(self, vocab: str) -> np.ndarray:
        """Ground-truth maps (N, K, h, w) uint8: one-hot classes area-pooled to map size. Images without a pixel
        annotation have none: all zeros, so any use of them outside the pixel-annotated rows shows."""
        return self.pooled_maps(self.gt_classes(vocab), vocab)

    def pooled_maps(self, classes: np.ndarray, vocab: str) -> np.ndarray:
        """(N, H, W) class indices of ``vocab`` -> (N, K, h, w) uint8 one-hot area-pooled to map size (zeros for an
        image with a NO_MAP pixel)."""
        k, s = self.vocab(vocab).num_classes, self.profile.map_stride
        has_map = (classes != NO_MAP).all((1, 2))
        out = np.zeros((len(classes), k, classes.shape[1] // s, classes.shape[2] // s), np.uint8)
        for i in np.flatnonzero(has_map):  # one image at a time: the one-hot of all of them is large
            onehot = F.one_hot(torch.from_numpy(classes[i].astype(np.int64)), k).permute(2, 0, 1).float()[None]
            out[i] = (F.avg_pool2d(onehot, s)[0] * 255).round().to(torch.uint8).numpy()
        return out

    def own_soft_maps(self, vocab: str) -> np.ndarray:
        """The dataset's own maps (``map_path``) as (N, K, h, w) uint8 soft maps of ``vocab`` at map size."""
        if self.own_map_kind == "soft":
            return cache_soft_maps(self.array_cache, self.table, self.map_hw, self.vocab(vocab))
        own = cache_fine_maps(self.array_cache, self.table, self.profile.image_hw, self.dataset.vocabularies,
                              column="map_path")
        return self.pooled_maps(self.class_of_fine(vocab)[own], vocab)

    # ------------------------------------------------------------------ stored views and prefix
    @cached_property
    def thetas(self) -> torch.Tensor:
        """(N, V, 2, 3) the stored augmented views of every image (fixed by the split seed)."""
        return view_thetas(len(self.table), self.profile.views, self.seed)

    @cached_property
    def norm_stats(self) -> tuple[tuple, tuple]:
        """The backbone's input mean and std."""
        spec = create_backbone(self.backbone, pretrained=False).spec
        return spec.mean, spec.std

    def prefix_features(self, kind: str, maps: np.ndarray | None = None) -> np.ndarray | None:
        """The stored frozen prefix (``sednn.features``) of the photos ("image") or of the photos masked with
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
