"""The objects the notebooks work with: a ``Run`` (profile, seed, device, folders) that prepares
data, trains the parser and the classifiers, and stores their predictions.
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
from . import distributed as dist
from . import labels as L
from . import paths
from .cache import NO_MAP, ArrayCache, cache_fine_maps, cache_photos
from .io import atomic_write, sha256_file, sha256_json, write_csv, write_json
from .metrics import macro_auc
from .models import create_backbone, create_model
from .profiles import Profile, get_profile
from .train import (TensorData, TrainConfig, epoch_batches, fit, load_best, multilabel_loss, predict,
                    random_affine, resolve_device, seed_everything, steps_per_epoch, warp)

log = logging.getLogger(__name__)


TRAINING_CODE = ("models", "train.py", "distributed.py", "experiment.py", "data.py", "cache.py", "labels.py",
                 "profiles.py")


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
        prof = get_profile(profile)
        run = cls(prof, seed, data_dir, str(resolve_device(device)), backbone, compile,
                  Path(work_dir) if work_dir else paths.work_dir_for(prof.name),
                  Path(results_dir) if results_dir else paths.RESULTS_DIR,
                  Path(figures_dir) if figures_dir else paths.FIGURES_DIR)
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
        manifest = D.build_ccp_manifest(root)
        table = D.add_split(D.subsample(manifest.table, self.profile.max_images, self.seed), self.seed)
        manifest.table = table
        write_csv(self.manifest_path, table)
        write_json(self.work_dir / "labels.json", {"label_names": manifest.label_names, "targets": manifest.targets,
                                                   "positives": manifest.positives, "data_root": str(root)})
        write_json(self.work_dir / "data_warnings.json",
                   {k: {"count": len(v), "ids": v} for k, v in manifest.warnings.items()})
        write_csv(self.results_dir / "splits.csv", table[["id", "source", "split"]])
        write_csv(self.results_dir / "labels.csv", self.label_table(table, manifest.targets))
        for name in ("table", "label_info", "photos", "gt_fine", "gt_regions", "maps_pred"):
            self.__dict__.pop(name, None)
        self._cache.clear()
        self.photos, self.gt_fine  # build the caches now
        return manifest

    @staticmethod
    def label_table(table: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
        rows = []
        for t in targets:
            col = table[D.LABEL_PREFIX + t]
            row = {"label": t, "region": L.REGION_OF_LABEL[t], "positives": int(col.sum())}
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

    @cached_property
    def region_of_fine(self) -> np.ndarray:
        """uint8 lookup: fine label index (and NO_MAP) -> region index (NO_MAP stays NO_MAP)."""
        lut = np.full(256, NO_MAP, np.uint8)
        names = self.label_info["label_names"]
        lut[: len(names)] = L.region_lookup(names)
        return lut

    @cached_property
    def gt_regions(self) -> np.ndarray:
        """(N, H, W) uint8 coarse region per pixel, NO_MAP where the image has no pixel annotation."""
        return self.region_of_fine[self.gt_fine]

    def gt_region_maps(self) -> np.ndarray:
        """Ground-truth soft maps (N, K, h, w) uint8 for the oracle: one-hot regions area-pooled to map size."""
        k, s = len(L.REGIONS), self.profile.map_stride
        reg = torch.from_numpy(self.gt_regions.astype(np.int64))
        onehot = F.one_hot(reg.clamp_max(k - 1), k).permute(0, 3, 1, 2).float()  # (N, K, H, W)
        pooled = F.avg_pool2d(onehot, s)
        out = (pooled * 255).round().to(torch.uint8).numpy()
        has_gt = (self.gt_regions != NO_MAP).all((1, 2))
        out[~has_gt] = self.maps_pred[~has_gt]
        return out

    # ------------------------------------------------------------------ parser (notebook 02)
    def parser_config(self) -> TrainConfig:
        p = self.profile
        return TrainConfig(p.parser_epochs, p.batch_size, p.lr, p.new_module_lr_mult, p.weight_decay, self.seed,
                           self.device, self.compile)

    def _parser(self, pretrained: bool):
        from .models import SemanticParser

        seed_everything(self.seed)
        parser = SemanticParser(create_backbone(self.backbone, pretrained), len(L.REGIONS))
        parser.backbone.freeze(self.profile.freeze_stages)
        return parser

    @property
    def parser_dir(self) -> Path:
        return self.work_dir / "checkpoints" / "parser"

    def parser_signature(self) -> str:
        return self.parser_config().signature(model="parser", backbone=self.backbone, code=code_fingerprint(),
                                              photos=self.array_cache.sha256("photos"),
                                              rows=self.table[["id", "split"]].to_numpy().tolist())

    def train_parser(self):
        """Train on train-split pixel-annotated images only; val and test images are never seen."""
        device = torch.device(self.device)
        train_idx = self.indices("train", D.PIXEL_SOURCE)
        if len(train_idx) == 0:
            raise ValueError("no pixel-annotated training images: the parser cannot be trained")
        s = self.profile.map_stride
        labels = torch.from_numpy(self.gt_regions[:, s // 2::s, s // 2::s].copy())  # (N, h, w) nearest
        data, cfg = self.photo_data(), self.parser_config()

        def batches(gen):
            for idx in epoch_batches(train_idx, cfg.batch_size, gen):
                part = dist.local_part(len(idx))  # all of it in a single process
                theta, idx = random_affine(len(idx), gen)[part], idx[part]
                x = data.normalize(data.images[idx].to(device))
                y = warp(labels[idx][:, None].float().to(device), theta, mode="nearest")[:, 0].long()
                yield warp(x, theta).contiguous(memory_format=torch.channels_last), y

        def loss_fn(model, batch):
            x, y = batch
            return F.cross_entropy(model(x), y, ignore_index=NO_MAP)

        parser = self._parser(pretrained=True)
        history = fit(parser, cfg, self.parser_dir, batches=batches,
                      steps_per_epoch=steps_per_epoch(len(train_idx), cfg.batch_size), loss_fn=loss_fn,
                      score_fn=None, signature=self.parser_signature(), desc="parser")
        return parser, history

    @cached_property
    def norm_stats(self) -> tuple[tuple, tuple]:
        """The backbone's input mean and std."""
        spec = create_backbone(self.backbone, pretrained=False).spec
        return spec.mean, spec.std

    def photo_data(self, photos: np.ndarray | None = None) -> TensorData:
        """Photos only (the parser's input; default: every cached photo), a placeholder map per image."""
        photos = self.photos if photos is None else photos
        return TensorData.from_arrays(photos, np.zeros((len(photos), 1, 1, 1), np.uint8),
                                      np.zeros((len(photos), 0), np.float32), *self.norm_stats)

    def load_parser(self):
        """The trained parser; a missing checkpoint raises."""
        return load_best(self._parser(pretrained=False), self.parser_dir, self.device)

    def parse(self, photos: np.ndarray, parser=None) -> np.ndarray:
        """Soft region maps (N, K, h, w) uint8 (probability * 255) of uint8 photos (N, H, W, 3)."""
        probs = predict(parser or self.load_parser(), self.photo_data(photos), np.arange(len(photos)),
                        torch.device(self.device), self.profile.batch_size * 2,
                        output=lambda z: torch.softmax(z.float(), 1))
        return (probs * 255).round().astype(np.uint8)

    def predict_maps(self, parser=None) -> np.ndarray:
        """Soft region maps for every image, from the trained parser (cached)."""
        params = {"parser": self.parser_signature()}
        maps = self.array_cache.get("maps_pred", params, lambda: self.parse(self.photos, parser))
        self.__dict__["maps_pred"] = maps
        return maps

    @cached_property
    def maps_pred(self) -> np.ndarray:
        return self.array_cache.load("maps_pred", {"parser": self.parser_signature()})

    # ------------------------------------------------------------------ classifiers (notebooks 03-05)
    def tensor_data(self) -> TensorData:
        if "tensor_data" not in self._cache:
            self._cache["tensor_data"] = TensorData.from_arrays(self.photos, self.maps_pred, self.y, *self.norm_stats,
                                                                device=self.device)
        return self._cache["tensor_data"]

    def classifier_config(self, seed: int) -> TrainConfig:
        p = self.profile
        return TrainConfig(p.epochs, p.batch_size, p.lr, p.new_module_lr_mult, p.weight_decay, seed, self.device,
                           self.compile)

    def build_model(self, name: str, seed: int, pretrained: bool = True):
        seed_everything(seed)
        model = create_model(name, len(self.targets), len(L.REGIONS), self.backbone, pretrained)
        model.freeze_backbone(self.profile.freeze_stages)
        return model

    def checkpoint_dir(self, name: str, seed: int) -> Path:
        return self.work_dir / "checkpoints" / f"{name}_s{seed}"

    def prediction_path(self, name: str, seed: int) -> Path:
        return self.work_dir / "predictions" / f"{name}_s{seed}.npz"

    def train_classifier(self, name: str, seed: int) -> dict:
        """Train one model with the shared recipe; store val/test probabilities and the history."""
        device = torch.device(self.device)
        data, cfg = self.tensor_data(), self.classifier_config(seed)
        train_idx, val_idx, test_idx = (self.indices(s) for s in ("train", "val", "test"))
        y_val = self.y[val_idx]
        model = self.build_model(name, seed)

        def batches(gen):  # under torchrun each process takes its part of every batch
            return (data.batch(idx, device, gen, part=dist.local_part(len(idx)))
                    for idx in epoch_batches(train_idx, cfg.batch_size, gen))

        def score_fn(model):
            return macro_auc(y_val, predict(model, data, val_idx, device, cfg.batch_size * 2))

        signature = cfg.signature(model=name, backbone=self.backbone, code=code_fingerprint(),
                                  maps=self.array_cache.sha256("maps_pred"),
                                  rows=self.table[["id", "split"]].to_numpy().tolist(),
                                  freeze=self.profile.freeze_stages)
        history = fit(model, cfg, self.checkpoint_dir(name, seed), batches=batches,
                      steps_per_epoch=steps_per_epoch(len(train_idx), cfg.batch_size), loss_fn=multilabel_loss,
                      score_fn=score_fn, signature=signature, desc=f"{name} s{seed}")
        val = predict(model, data, val_idx, device, cfg.batch_size * 2)
        test = predict(model, data, test_idx, device, cfg.batch_size * 2)  # the one use of the test split
        if dist.is_main():
            atomic_write(self.prediction_path(name, seed),
                         lambda p: np.savez(p.open("wb"), val=val, test=test, val_idx=val_idx, test_idx=test_idx,
                                            history=json.dumps(history)))
        dist.barrier()
        return {"model": name, "seed": seed, "history": history}

    def train_all(self, names: list[str]) -> list[dict]:
        return [self.train_classifier(n, s) for n in names for s in self.profile.seeds]

    def load_model(self, name: str, seed: int):
        """A trained model; a missing checkpoint raises (never untrained weights)."""
        return load_best(self.build_model(name, seed, pretrained=False), self.checkpoint_dir(name, seed), self.device)

    def predictions(self, name: str, seed: int) -> dict:
        path = self.prediction_path(name, seed)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no predictions for {name} seed {seed}; train it first")
        with np.load(path) as z:
            out = {k: z[k] for k in z.files}
        out["history"] = json.loads(str(out["history"]))
        return out

    def trained_models(self) -> list[str]:
        return sorted({p.stem.rsplit("_s", 1)[0] for p in (self.work_dir / "predictions").glob("*.npz")})
