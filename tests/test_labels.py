import numpy as np
import pytest

from sednn import data as D
from sednn import labels as L


@pytest.mark.parametrize("vocab", sorted(L.VOCABULARIES))
def test_each_vocabulary_places_every_ccp_label_exactly_once(ccp_root, vocab):
    names = D.read_label_list(ccp_root)
    classes, of_label = L.vocabulary(vocab)
    assert sorted(of_label) == sorted(names) and len(of_label) == L.NUM_FINE_LABELS  # a dict: once each
    lut = L.class_lookup(names, vocab)
    assert lut[names.index("null")] == L.BACKGROUND == classes.index("background")
    assert set(lut.tolist()) == set(range(len(classes)))  # no empty class


def test_garments_is_a_human_parser_like_vocabulary():
    assert 15 <= len(L.GARMENTS) <= 20
    for lip_atr_class in ("hat", "hair", "sunglasses", "upper_clothes", "coat", "dress", "pants", "skirt", "socks",
                          "shoes", "belt", "bag", "scarf", "gloves", "skin"):
        assert lip_atr_class in L.GARMENTS


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
    with pytest.raises(ValueError, match="without a class in the 'regions' vocabulary"):
        L.region_lookup(["null", "spacesuit"])
    with pytest.raises(ValueError, match="unknown map vocabulary"):
        L.vocabulary("colours")


def test_select_targets_excludes_background_skin_hair():
    counts = {"null": 999, "skin": 999, "hair": 999, "dress": 50, "tie": 49}
    assert L.select_targets(counts) == ["dress"]
    assert np.array_equal(L.region_lookup(["null", "dress"]), [0, L.REGIONS.index("whole_body")])


def test_other_vocabulary_is_the_one_that_is_not_named():
    assert L.other_vocabulary("garments") == "regions" and L.other_vocabulary("regions") == "garments"
    with pytest.raises(ValueError, match="unknown map vocabulary"):
        L.other_vocabulary("colours")
