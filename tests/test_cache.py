"""The array cache: a round trip, and stale or corrupted caches detected and rebuilt."""
import numpy as np

from sednn import ccp
from sednn import data as D
from sednn import labels as L
from sednn.cache import NO_MAP, ArrayCache, cache_fine_maps, cache_photos


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
                                                 "rows": table[["id", "image_path", "gt_map_path"]].to_numpy().tolist()})
    assert np.array_equal(again, photos)


def test_corrupt_photo_is_named_when_caching(tmp_path, mini_ccp):
    import pytest

    table = ccp.build_manifest(mini_ccp, min_positives=1).table
    photo = mini_ccp / "photos" / "0003.jpg"
    photo.write_bytes(photo.read_bytes()[:3000])
    with pytest.raises(D.DatasetError, match=r"0003\.jpg: corrupt or truncated"):
        cache_photos(ArrayCache(tmp_path), table, (48, 32))
