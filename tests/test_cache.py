"""The array cache: a round trip, and stale or corrupted caches detected and rebuilt."""
import numpy as np

from sednn.core.io import DatasetError
from sednn.data import ccp
from sednn.data import labels as L
from sednn.data.cache import ArrayCache, cache_fine_maps, cache_photos
from sednn.data.labels import NO_MAP


def test_round_trip_and_stale_detection(tmp_path):
    cache = ArrayCache(tmp_path)
    calls = []

    def build():
        calls.append(1)
        return np.arange(24, dtype=np.uint8).reshape(2, 3, 4)

    a = cache.get("x", {"size": 3}, build)
    b = cache.get("x", {"size": 3}, build)
    assert np.array_equal(a, b) and len(calls) == 1  # second call read the file
    cache.get("x", {"size": 4}, build)
    assert len(calls) == 2  # other parameters: rebuilt
    raw = bytearray((tmp_path / "x.npy").read_bytes())
    raw[-1] ^= 0xFF
    (tmp_path / "x.npy").write_bytes(bytes(raw))  # corrupted on disk
    assert not cache.is_valid("x", {"size": 4})
    assert np.array_equal(cache.get("x", {"size": 4}, build), a) and len(calls) == 3


def test_photo_and_map_cache_from_real_files(tmp_path, mini_ccp):
    table = ccp.build_manifest(mini_ccp, min_positives=1).table
    cache = ArrayCache(tmp_path)
    photos = cache_photos(cache, table, (48, 32))
    maps = cache_fine_maps(cache, table, (48, 32), {"regions": L.ccp_vocabulary("regions")})
    assert photos.shape == (8, 48, 32, 3) and photos.dtype == np.uint8 and photos.std() > 10
    pixel = (table["source"] == "pixel").to_numpy()
    assert (maps[~pixel] == NO_MAP).all() and (maps[pixel] < 59).all()
    again = ArrayCache(tmp_path).load("photos", {"version": 1, "image_hw": [48, 32],
                                                 "rows": table[["id", "image_path", "gt_map_path"]].to_numpy()
                                                 .tolist()})
    assert np.array_equal(again, photos)


def test_corrupt_photo_is_named_when_caching(tmp_path, mini_ccp):
    import pytest

    table = ccp.build_manifest(mini_ccp, min_positives=1).table
    photo = mini_ccp / "photos" / "0003.jpg"
    photo.write_bytes(photo.read_bytes()[:3000])
    with pytest.raises(DatasetError, match=r"0003\.jpg: corrupt or truncated"):
        cache_photos(ArrayCache(tmp_path), table, (48, 32))


def test_a_stored_prefix_is_built_once_even_before_its_photos_are_cached(tmp_path, monkeypatch):
    """The parser's first call at its own size caches the photos and the prefix together; the next call loads both
    (the fingerprint names the photos' checksum, so it must be taken after they are cached)."""
    from conftest import require_ccp, write_own_dataset
    from sednn.study.parsing import parser_run
    from sednn.study.run import Run
    from sednn.training import prefix as features

    manifest = write_own_dataset(tmp_path / "d", require_ccp(), [1, 2, 3, 4, 5, 6, 1005, 1006, 1007, 1008])
    run = Run.create("smoke", manifest=manifest, work_dir=tmp_path / "w", results_dir=tmp_path / "r",
                     figures_dir=tmp_path / "f", device="cpu")
    run.prepare_data()
    builds = []
    real = features.prefix_features
    monkeypatch.setattr(features, "prefix_features", lambda *a, **k: builds.append(1) or real(*a, **k))
    prun = parser_run(run)  # 144x96: nothing cached at that size yet
    first = prun.prefix_features("image")
    again = parser_run(run).prefix_features("image")
    assert len(builds) == 1 and np.array_equal(first, again)
