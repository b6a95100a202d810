"""Per-profile array cache: photos and maps are decoded and resized once, never per epoch.

Each array is a .npy beside ``cache.json``, which records the parameters it was built
with and the sha256 of every file. A cache whose parameters differ, or whose files do
not match their checksums, is stale: it is rebuilt, never used.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from sednn.core.io import save_array, sha256_file, write_json
from sednn.data.labels import NO_MAP, Vocabulary
from sednn.data.manifest import load_photo, photo_size, read_checked_map, read_soft_map

log = logging.getLogger(__name__)
CACHE_VERSION = 1


@dataclass
class ArrayCache:
    folder: Path

    @property
    def index_path(self) -> Path:
        return self.folder / "cache.json"

    def _index(self) -> dict:
        try:
            return json.loads(self.index_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def sha256(self, name: str) -> str | None:
        """Recorded checksum of ``name`` (None if never built): a cheap fingerprint of its content."""
        return self._index().get(name, {}).get("sha256")

    def is_valid(self, name: str, params: dict) -> bool:
        """True when ``name`` was built with ``params`` and its file matches the recorded checksum."""
        entry = self._index().get(name)
        path = self.folder / f"{name}.npy"
        if not entry or entry.get("params") != json.loads(json.dumps(params)) or not path.exists():
            return False
        if sha256_file(path) != entry["sha256"]:
            log.warning("%s: checksum mismatch, cache is stale and will be rebuilt", path)
            return False
        return True

    def save(self, name: str, array: np.ndarray, params: dict) -> np.ndarray:
        digest = save_array(self.folder / f"{name}.npy", array)
        index = self._index()
        index[name] = {"params": params, "sha256": digest, "shape": list(array.shape), "dtype": str(array.dtype)}
        write_json(self.index_path, index)
        return array

    def load(self, name: str, params: dict) -> np.ndarray:
        if not self.is_valid(name, params):
            raise FileNotFoundError(f"{self.folder / name}.npy: missing or stale for {params}; rebuild it")
        return np.load(self.folder / f"{name}.npy")

    def get(self, name: str, params: dict, build) -> np.ndarray:
        """Load ``name`` if valid, else ``build()`` it, save it and return it."""
        if self.is_valid(name, params):
            return np.load(self.folder / f"{name}.npy")
        log.info("building cache %s/%s.npy", self.folder, name)
        return self.save(name, build(), params)


def _fingerprint(table: pd.DataFrame) -> list:
    return table[["id", "image_path", "gt_map_path"]].to_numpy().tolist()


def cache_photos(cache: ArrayCache, table: pd.DataFrame, image_hw: tuple[int, int]) -> np.ndarray:
    """uint8 (N, H, W, 3) photos resized to ``image_hw``."""
    h, w = image_hw
    params = {"version": CACHE_VERSION, "image_hw": [h, w], "rows": _fingerprint(table)}

    def build():
        out = np.empty((len(table), h, w, 3), np.uint8)
        for i, path in enumerate(tqdm(table["image_path"], desc="photos", leave=False)):
            out[i] = np.asarray(load_photo(path).resize((w, h), Image.BILINEAR))
        return out

    return cache.get("photos", params, build)


def _covered(vocabularies: dict[str, Vocabulary]) -> list[int]:
    return sorted(set().union(*(v.values for v in vocabularies.values())))


def cache_fine_maps(cache: ArrayCache, table: pd.DataFrame, image_hw: tuple[int, int],
                    vocabularies: dict[str, Vocabulary], column: str = "gt_map_path") -> np.ndarray:
    """uint8 (N, H, W) label maps of ``column`` (nearest resize), NO_MAP where a row has none; every value must be
    in every vocabulary (DatasetError naming the map otherwise)."""
    h, w = image_hw
    params = {"version": CACHE_VERSION, "image_hw": [h, w], "rows": _fingerprint(table),
              "maps": table[column].tolist(), "values": _covered(vocabularies)}

    def build():
        out = np.full((len(table), h, w), NO_MAP, np.uint8)
        for i, (img, path) in enumerate(zip(table["image_path"], table[column])):
            if path:
                fine = read_checked_map(path, img, vocabularies)
                out[i] = np.asarray(Image.fromarray(fine).resize((w, h), Image.NEAREST))
        return out

    return cache.get("gt_fine" if column == "gt_map_path" else "own_fine", params, build)


def cache_soft_maps(cache: ArrayCache, table: pd.DataFrame, map_hw: tuple[int, int], vocab: Vocabulary,
                    resize) -> np.ndarray:
    """uint8 (N, K, h, w) soft maps of own ``map_path`` files, ``resize``d to ``map_hw`` (a (K, H, W) float map ->
    (K, h, w) in [0, 1]; the caller's area resize, ``sednn.training.tensors.area_resized``), probability * 255."""
    params = {"version": CACHE_VERSION, "map_hw": list(map_hw), "rows": _fingerprint(table),
              "maps": table["map_path"].tolist(), "classes": list(vocab.classes)}

    def build():
        out = np.empty((len(table), vocab.num_classes, *map_hw), np.uint8)
        for i, (img, path) in enumerate(zip(table["image_path"], table["map_path"])):
            out[i] = resize(read_soft_map(path, photo_size(img), vocab.num_classes), map_hw)
        return out

    return cache.get("own_soft", params, build)
