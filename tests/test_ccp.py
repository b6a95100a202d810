"""CCP into a manifest, the split, the data source and bad CCP files, checked against the real CCP files."""
import subprocess

import numpy as np
import pandas as pd
import pytest
import scipy.io

from sednn.core import paths
from sednn.core.io import DatasetError
from sednn.data import ccp
from sednn.data.dataset import add_split
from sednn.data.manifest import LABEL_PREFIX, load_photo


# ------------------------------------------------------------------ manifest vs an independent count
def test_manifest_matches_an_independent_count_of_the_raw_files(ccp_root):
    m = ccp.build_manifest(ccp_root)
    names = [str(c[0]) for c in scipy.io.loadmat(ccp_root / "label_list.mat")["label_list"][0]]
    label_sets = {}
    for f in sorted((ccp_root / "annotations/pixel-level").glob("*.mat")):
        label_sets[f.stem] = set(np.unique(scipy.io.loadmat(f)["groundtruth"]).tolist())
    for f in sorted((ccp_root / "annotations/image-level").glob("*.mat")):
        label_sets[f.stem] = set(scipy.io.loadmat(f)["tags"].ravel().tolist())
    kept = {k: v - {0} for k, v in label_sets.items() if v - {0}}
    assert len(m.table) == len(kept) == 2097  # 0536's map is all background: skipped
    assert m.warnings["empty_tag_set"] == sorted(set(label_sets) - set(kept))
    counts = {n: sum(i in s for s in kept.values()) for i, n in enumerate(names)}
    expected_targets = [n for n, c in counts.items() if c >= 50 and n not in ("null", "skin", "hair")]
    assert m.targets == expected_targets and 35 <= len(m.targets) <= 45
    table = m.table.set_index("id")
    for t in m.targets:
        truth = pd.Series({k: int(names.index(t) in v) for k, v in kept.items()})
        assert (table[LABEL_PREFIX + t] == truth.reindex(table.index)).all(), t
    assert (table["source"] == np.where(table.index.astype(int) <= 1004, "pixel", "tags")).all()
    assert (table["gt_map_path"] != "").sum() == 1003


def test_tag_files_with_repeated_indices_are_deduplicated(ccp_root):
    repeats = [f for f in sorted((ccp_root / "annotations/image-level").glob("*.mat"))
               if len(np.unique(scipy.io.loadmat(f)["tags"])) < scipy.io.loadmat(f)["tags"].size]
    assert repeats, "CCP has tag files that repeat an index"
    tags = ccp.read_tags(repeats[0], 59)
    assert len(tags) == len(set(tags.tolist()))


# ------------------------------------------------------------------ split
@pytest.fixture(scope="module")
def split_table():
    root = ccp.resolve_root()
    return add_split(ccp.build_manifest(root).table, seed=0)


def test_split_proportions_disjointness_and_balance(split_table):
    t = split_table
    frac = t["split"].value_counts(normalize=True)
    assert abs(frac["train"] - 0.7) < 0.02 and abs(frac["val"] - 0.1) < 0.02 and abs(frac["test"] - 0.2) < 0.02
    assert t["id"].is_unique and set(t["split"]) == {"train", "val", "test"}
    by_source = pd.crosstab(t["source"], t["split"], normalize="index")
    assert (by_source.sub(by_source.mean()).abs() < 0.03).all().all(), "both halves in every split"
    labels = [c for c in t.columns if c.startswith(LABEL_PREFIX)]
    test_share = t.loc[t.split == "test", labels].sum() / t[labels].sum()
    assert test_share.between(0.12, 0.28).all(), "every label stratified into the test split"


def test_split_is_deterministic(split_table):
    again = add_split(split_table, seed=0)
    assert (again["split"] == split_table["split"]).all()
    other = add_split(split_table, seed=1)
    assert (other["split"] != split_table["split"]).any()


# ------------------------------------------------------------------ data source
def test_shared_copy_is_the_default(ccp_root):
    assert ccp.resolve_root() == paths.SHARED_CCP_DIR


def test_explicit_data_dir_must_be_a_ccp_folder(tmp_path):
    with pytest.raises(DatasetError, match="label_list.mat: not found"):
        ccp.resolve_root(tmp_path)


def test_clone_path_checks_out_the_pinned_commit(tmp_path, mini_ccp, monkeypatch):
    """Without the shared copy, the dataset is cloned and checked out at the pinned commit."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(mini_ccp)]
    subprocess.run(["git", "init", "-q", str(mini_ccp)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pinned"], check=True)
    pinned = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    (mini_ccp / "later.txt").write_text("a later commit")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "later"], check=True)

    monkeypatch.setattr(paths, "SHARED_CCP_DIR", tmp_path / "absent")
    dest = tmp_path / "data" / "raw" / "ccp"
    root = ccp.resolve_root(clone_dir=dest, repo_url=str(mini_ccp), commit=pinned)
    assert root == dest
    head = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert head == pinned and not (dest / "later.txt").exists()
    assert len(ccp.build_manifest(root, min_positives=1).table) == 8
    assert ccp.resolve_root(clone_dir=dest, repo_url=str(mini_ccp), commit=pinned) == dest  # idempotent


# ------------------------------------------------------------------ bad input
def _expect(root, match):
    with pytest.raises(DatasetError, match=match) as e:
        ccp.build_manifest(root, min_positives=1)
    return e.value


def test_missing_mat_file_is_named(mini_ccp):
    (mini_ccp / "label_list.mat").unlink()
    err = _expect(mini_ccp, "file not found")
    assert err.path.name == "label_list.mat"


def test_not_a_mat_file(mini_ccp):
    (mini_ccp / "annotations/pixel-level/0002.mat").write_bytes(b"garbage")
    _expect(mini_ccp, r"0002\.mat: not a readable \.mat file")


def test_wrong_key(mini_ccp):
    scipy.io.savemat(mini_ccp / "annotations/image-level/1006.mat", {"labels": np.array([[1, 2]], np.uint8)})
    _expect(mini_ccp, r"1006\.mat: missing key 'tags' \(found \['labels'\]\)")


def test_wrong_dtype(mini_ccp):
    path = mini_ccp / "annotations/pixel-level/0003.mat"
    gt = scipy.io.loadmat(path)["groundtruth"]
    scipy.io.savemat(path, {"groundtruth": gt.astype(np.float64)})
    _expect(mini_ccp, r"0003\.mat: a label map must be a 2-D uint8 array, got float64")
    scipy.io.savemat(mini_ccp / "annotations/image-level/1005.mat", {"tags": np.array([[1.5]])})
    scipy.io.savemat(path, {"groundtruth": gt})
    _expect(mini_ccp, r"1005\.mat: 'tags' must hold integer label indices")


def test_label_index_out_of_range(mini_ccp):
    path = mini_ccp / "annotations/pixel-level/0004.mat"
    gt = scipy.io.loadmat(path)["groundtruth"]
    gt[0, 0] = 59
    scipy.io.savemat(path, {"groundtruth": gt})
    _expect(mini_ccp, r"0004\.mat: label index 59 out of range \(label list has 59\)")
    gt[0, 0] = 0
    scipy.io.savemat(path, {"groundtruth": gt})
    scipy.io.savemat(mini_ccp / "annotations/image-level/1007.mat", {"tags": np.array([[3, 200]], np.uint8)})
    _expect(mini_ccp, r"1007\.mat: label index 200 out of range")


def test_map_size_differs_from_photo(mini_ccp):
    path = mini_ccp / "annotations/pixel-level/0001.mat"
    gt = scipy.io.loadmat(path)["groundtruth"]
    scipy.io.savemat(path, {"groundtruth": gt[:-10]})
    _expect(mini_ccp, r"0001\.mat: map size \(\d+, 550\) differs from its photo's \(\d+, 550\)")


def test_empty_tag_set_is_skipped_and_counted(mini_ccp):
    scipy.io.savemat(mini_ccp / "annotations/image-level/1008.mat", {"tags": np.array([[0]], np.uint8)})
    m = ccp.build_manifest(mini_ccp, min_positives=1)
    assert m.warnings["empty_tag_set"] == ["1008"] and "1008" not in set(m.table["id"])


def test_corrupt_and_truncated_jpeg_are_named(mini_ccp):
    photo = mini_ccp / "photos/1005.jpg"
    raw = photo.read_bytes()
    photo.write_bytes(raw[: len(raw) // 2])  # truncated: header readable, pixels not
    with pytest.raises(DatasetError, match=r"1005\.jpg: corrupt or truncated image"):
        load_photo(photo)
    photo.write_bytes(b"not a jpeg at all")
    _expect(mini_ccp, r"1005\.jpg: not a readable image")


def test_missing_photo_is_named(mini_ccp):
    (mini_ccp / "photos/0002.jpg").unlink()
    _expect(mini_ccp, r"0002\.jpg: photo not found")


def test_no_label_reaching_min_positives_says_so_with_the_counts(mini_ccp):
    """A small dataset: the threshold is named, with the most frequent labels, instead of an empty manifest."""
    err = _expect_threshold(mini_ccp, 50)
    assert "min_positives=50" in str(err) and err.path == mini_ccp / "annotations"
    counts = dict(item.rsplit(" ", 1) for item in str(err).split("most frequent: ")[1].split(". ")[0].split(", "))
    assert len(counts) == 5 and all(1 <= int(n) < 50 for n in counts.values())
    assert len(ccp.build_manifest(mini_ccp, min_positives=int(max(counts.values(), key=int))).targets) >= 1


def _expect_threshold(root, k):
    with pytest.raises(DatasetError, match="no label has min_positives") as e:
        ccp.build_manifest(root, min_positives=k)
    return e.value
