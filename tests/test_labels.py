"""Vocabulary files: CCP's two against its label list, and bad files named."""
import numpy as np
import pytest

from sednn.core.io import DatasetError
from sednn.core.plan import CCP_VOCABULARIES
from sednn.data import ccp
from sednn.data import labels as L


@pytest.mark.parametrize("name", ["garments", "regions"])
def test_each_ccp_vocabulary_places_every_ccp_label_exactly_once(ccp_root, name):
    names = ccp.read_label_list(ccp_root)
    vocab = L.ccp_vocabulary(name)
    assert sorted(vocab.values) == list(range(ccp.NUM_FINE_LABELS)) == list(range(len(names)))
    assert [vocab.value_names[vocab.values.index(i)] for i in range(len(names))] == names
    lut = vocab.lookup()
    assert lut[names.index("null")] == L.BACKGROUND == vocab.classes.index("background")
    assert set(lut[: len(names)].tolist()) == set(range(vocab.num_classes))  # no empty class
    assert (lut[len(names):] == L.NO_MAP).all()  # values it does not cover have no class


def test_ccp_vocabularies_are_listed_coarsest_first():
    assert sorted(L.read_vocabularies(L.CCP_DIR)) == sorted(CCP_VOCABULARIES)
    assert [L.ccp_vocabulary(n).num_classes for n in CCP_VOCABULARIES] == [8, 17]


def test_garments_is_a_human_parser_like_vocabulary():
    garments = L.ccp_vocabulary("garments").classes
    assert 15 <= len(garments) <= 20
    for lip_atr_class in ("hat", "hair", "sunglasses", "upper_clothes", "coat", "dress", "pants", "skirt", "socks",
                          "shoes", "belt", "bag", "scarf", "gloves", "skin"):
        assert lip_atr_class in garments


def test_no_region_stands_for_exactly_one_target(ccp_root):
    """The map says where to look, never which fine label is there."""
    targets = ccp.build_manifest(ccp_root).targets
    regions = L.ccp_vocabulary("regions")
    per_region = regions.targets_per_class(targets)
    assert all(len(ts) != 1 for ts in per_region.values()), per_region
    assert all(len(per_region[r]) >= 2 for r in regions.classes if r not in ("background", "skin", "hair"))
    assert regions.class_of_label("dress") == "whole_body" and regions.class_of_label("spacesuit") == ""


def test_select_targets_excludes_background_skin_hair():
    counts = {"null": 999, "skin": 999, "hair": 999, "dress": 50, "tie": 49}
    assert ccp.select_targets(counts) == ["dress"]


def test_classes_are_numbered_in_order_of_first_appearance(tmp_path):
    path = tmp_path / "vocabulary-parts.csv"
    path.write_text("value,class\n0,background\n7,top\n3,bottom\n9,top\n")
    vocab = L.read_vocabulary(path)
    assert vocab.name == "parts" and vocab.classes == ("background", "top", "bottom")
    lut = vocab.lookup()
    assert (lut[0], lut[7], lut[3], lut[9], lut[1]) == (0, 1, 2, 1, L.NO_MAP)
    with pytest.raises(DatasetError, match=r"map\.png: map values \[5\] are not in the vocabulary .*vocabulary-parts"):
        vocab.check_covers(np.array([[0, 5], [7, L.NO_MAP]]), tmp_path / "map.png")


@pytest.mark.parametrize("text, problem", [
    ("value,klass\n0,background\n", r"columns must be value, class and optionally name; missing \['class'\]"),
    ("value,class\n0,background\nx,top\n", r"row 3: value 'x' is not an integer in 0-254"),
    ("value,class\n0,background\n255,top\n", r"row 3: value '255' is not an integer"),
    ("value,class\n0,background\n0,top\n", r"values listed twice: \[0\]"),
    ("value,class\n0,background\n1,\n", r"row 3: empty class"),
    ("value,class\n", r"no rows"),
])
def test_bad_vocabulary_files_are_named_with_the_row(tmp_path, text, problem):
    path = tmp_path / "vocabulary-bad.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=problem) as e:
        L.read_vocabulary(path)
    assert e.value.path == path


def test_vocabularies_of_one_dataset_must_agree(tmp_path):
    (tmp_path / "vocabulary-a.csv").write_text("value,name,class\n0,null,background\n1,shirt,top\n")
    (tmp_path / "vocabulary-b.csv").write_text("value,name,class\n0,null,background\n2,shirt,top\n")
    with pytest.raises(DatasetError, match=r"vocabulary-b\.csv: covers values \[1, 2\]"):
        L.read_vocabularies(tmp_path)
    (tmp_path / "vocabulary-b.csv").write_text("value,name,class\n0,null,background\n1,blouse,top\n")
    with pytest.raises(DatasetError, match=r"vocabulary-b\.csv: names value 1 'blouse'"):
        L.read_vocabularies(tmp_path)
    with pytest.raises(DatasetError, match="vocabulary-<name>.csv"):
        L.vocabulary_name(tmp_path / "vocab.csv")
