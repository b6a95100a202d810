import numpy as np

from sednn import data as D
from sednn import labels as L


def test_every_ccp_label_has_a_region(ccp_root):
    names = D.read_label_list(ccp_root)
    assert len(names) == L.NUM_FINE_LABELS
    lut = L.region_lookup(names)
    assert lut[names.index("null")] == L.BACKGROUND
    assert set(lut.tolist()) == set(range(len(L.REGIONS)))


def test_no_region_stands_for_exactly_one_target(ccp_root):
    """The map says where to look, never which fine label is there."""
    targets = D.build_ccp_manifest(ccp_root).targets
    per_region = L.targets_per_region(targets)
    assert all(len(ts) != 1 for ts in per_region.values()), per_region
    garment_regions = [r for r in L.REGIONS if r not in ("background", "skin", "hair")]
    assert all(len(per_region[r]) >= 2 for r in garment_regions)


def test_region_lookup_rejects_unknown_names():
    import pytest

    with pytest.raises(ValueError, match="without a coarse region"):
        L.region_lookup(["null", "spacesuit"])


def test_select_targets_excludes_background_skin_hair():
    counts = {"null": 999, "skin": 999, "hair": 999, "dress": 50, "tie": 49}
    assert L.select_targets(counts) == ["dress"]
    assert np.array_equal(L.region_lookup(["null", "dress"]), [0, L.REGIONS.index("whole_body")])
