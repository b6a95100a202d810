"""The object every notebook starts from: a ``Run`` (profile, split seed, device, folders) and its data:
the manifest, the cached photos and ground-truth maps, the stored backbone prefix.

The parser lives in ``sednn.parsing``, the classifiers (tuning, seeds, ablation arms) in
``sednn.classifiers``, the tables in ``sednn.report``; each takes a ``Run``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import data as D
from . import labels as L
from . import paths
from .cache import NO_MAP, ArrayCache, cache_fine_maps, cache_photos
from .features import stored_prefix
from .io import sha256_array, sha256_file, sha256_json, write_csv, write_json
from .models import create_backbone
from .profiles import Profile, get_profile
from .train import TensorData, configure_device, resolve_device, seed_everything, view_thetas

log = logging.getLogger(__name__)


TRAINING_CODE = ("models", "train.py", "distributed.py", "experiment.py", "data.py", "cache.py", "labels.py",
                 "profiles.py", "features.py", "parsing.py", "classifiers.py")


def code_fingerprint() -> str:
    """Hash of the source that shapes a trained model: a checkpoint trained by other code is not reused.
    (Reporting and plotting code is left out, so changing a figure does not retrain anything.)"""
    here = Path(__file__).parent
    files = sorted(f for name in TRAINING_CODE for f in ((here / name).rglob("*.py") if (here / name).is_dir()
                                                            else [here / name]))
    return sha256_json([(f.relative_to(here).as_posix(), sha256_file(f)) for f in files])


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
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, profile: str = "cpu", seed: int = 0, data_dir=None, device: str = "auto",
               backbone: str = "efficientnet_lite0", work_dir=None, results_dir=None, figures_dir=None,
               compile: bool = False) -> "Run":
        prof, dev = get_profile(profile), resolve_device(device)
        configure_device(dev)
        run = cls(prof, seed, data_dir, str(dev), backbone, compile,
                  Path(work_dir) if work_dir else paths.work_dir_for(prof.name),
                  Path(results_dir) if results_dir else paths.results_dir_for(prof.name),
                  Path(figures_dir) if figures_dir else paths.figures_dir_for(prof.name))
        for d in (run.work_dir, run.results_dir, run.figures_dir):
            d.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        seed_everything(seed)
        return run

    # ------------------------------------------------------------------ data (notebook 01)
    @property
    def manifest_path(self) -> Path:
        return self.work_dir / "manifest.csv"

    def prepare_data(self) -> D.Manifest:
        """CCP -> manifest with split (work dir), splits.csv and labels.csv (results), photo cache."""
        root = D.resolve_ccp_root(self.data_dir)
        manifest = D.build_ccp_manifest(root, self.profile.min_positives)
        table = D.add_split(D.subsample(manifest.table, self.profile.max_images, self.seed), self.seed)
        manifest.table = table
        write_csv(self.manifest_path, table)
        write_json(self.work_dir / "labels.json", {"label_names": manifest.label_names, "targets": manifest.targets,
                                                   "positives": manifest.positives, "data_root": str(root)})
        write_json(self.work_dir / "data_warnings.json",
                   {k: {"count": len(v), "ids": v} for k, v in manifest.warnings.items()})
        write_csv(self.results_dir / "splits.csv", table[["id", "source", "split"]])
        write_csv(self.results_dir / "labels.csv", self.label_table(table, manifest.targets))
        for name in ("table", "label_info", "photos", "gt_fine", "thetas"):
            self.__dict__.pop(name, None)
        self._cache.clear()
        self.photos, self.gt_fine, self.prefix_features("image")  # build the caches now
        return manifest

    @staticmethod
    def label_table(table: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
        rows = []
        for t in targets:
            col = table[D.LABEL_PREFIX + t]
            row = {"label": t, "region": L.REGION_OF_LABEL[t], "garment": L.GARMENT_OF_LABEL[t],
                   "positives": int(col.sum())}
            for key, grp in [*table.groupby("split"), *table.groupby("source")]:
                row[f"positives_{key}"] = int(col[grp.index].sum())
            rows.append(row)
        return pd.DataFrame(rows)

    @cached_property
    def table(self) -> pd.DataFrame:
        if not self.manifest_path.exists():
            raise FileNotFoundError(f"{self.manifest_path}: no manifest; run notebook 01_data_prep first")
        return D.read_manifest(self.manifest_path)

    @cached_property
    def label_info(self) -> dict:
        return json.loads((self.work_dir / "labels.json").read_text())

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
        return cache_fine_maps(self.array_cache, self.table, self.profile.image_hw,
                               len(self.label_info["label_names"]))

    def class_of_fine(self, vocab: str) -> np.ndarray:
        """uint8 lookup: fine label index (and NO_MAP) -> class index of ``vocab`` (NO_MAP stays NO_MAP)."""
        lut = np.full(256, NO_MAP, np.uint8)
        names = self.label_info["label_names"]
        lut[: len(names)] = L.class_lookup(names, vocab)
        return lut

    def gt_classes(self, vocab: str) -> np.ndarray:
        """(N, H, W) uint8 class of ``vocab`` per pixel, NO_MAP where the image has no pixel annotation."""
        if ("gt", vocab) not in self._cache:
            self._cache[("gt", vocab)] = self.class_of_fine(vocab)[self.gt_fine]
        return self._cache[("gt", vocab)]

    @property
    def gt_regions(self) -> np.ndarray:
        return self.gt_classes("regions")

    def gt_labels_at_map_size(self, vocab: str) -> np.ndarray:
        """(N, h, w) ground-truth classes at map resolution (nearest): the parser's training target."""
        s = self.profile.map_stride
        return self.gt_classes(vocab)[:, s // 2::s, s // 2::s]

    def gt_soft_maps(self, vocab: str) -> np.ndarray:
        """Ground-truth maps (N, K, h, w) uint8: one-hot classes area-pooled to map size. Images without a pixel
        annotation have none: all zeros, so any use of them outside the pixel-annotated rows shows."""
        k, s = len(L.vocabulary(vocab)[0]), self.profile.map_stride
        gt = self.gt_classes(vocab)
        has_gt = (gt != NO_MAP).all((1, 2))
        out = np.zeros((len(gt), k, gt.shape[1] // s, gt.shape[2] // s), np.uint8)
        for i in np.flatnonzero(has_gt):  # one image at a time: the one-hot of all of them is large
            onehot = F.one_hot(torch.from_numpy(gt[i].astype(np.int64)), k).permute(2, 0, 1).float()[None]
            out[i] = (F.avg_pool2d(onehot, s)[0] * 255).round().to(torch.uint8).numpy()
        return out

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
        fingerprint = {"photos": self.array_cache.sha256("photos"), "views": [self.profile.views, self.seed],
                       "maps": sha256_array(maps) if masked else None}
        data = self.data(maps if masked else None, with_prefix=None)
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
