"""Your own data: the manifest format, its vocabulary files, your own maps, and every kind of bad input named."""
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import PART_TARGETS, PART_VALUE
from sednn.core import paths
from sednn.core.io import DatasetError
from sednn.data.check import check
from sednn.data.dataset import ForeignFolder, dataset_content, dataset_name, prepare, read_prepared, write_prepared
from sednn.data.manifest import LABEL_PREFIX, SPLITS, MapsUnavailable, photo_size, read_manifest


def rewrite(manifest, edit):
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    edit(table)
    table.to_csv(manifest, index=False)


def test_relative_paths_sources_and_the_projects_split(own_data):
    table = read_manifest(own_data)
    assert table["image_path"].str.startswith(str(own_data.parent)).all()
    assert (table["source"] == ["pixel"] * 4 + ["tags"] * 4).all()
    assert table.loc[table.source == "pixel", "gt_map_path"].str.endswith(".png").all()
    dataset = prepare(own_data, seed=0)
    assert dataset.split == "stratified (seed 0)" and set(dataset.table["split"]) == set(SPLITS)
    assert list(dataset.vocabularies) == ["parts"] and dataset.vocabularies["parts"].num_classes == 12
    dropped = dataset.warnings.get("targets_without_positives", [])
    assert sorted(dataset.targets + dropped) == sorted(PART_TARGETS)  # dropped ones counted, never scored 0.5
    counts = dataset.table.groupby("split")[[LABEL_PREFIX + t for t in dataset.targets]].sum()
    assert (counts.loc["train"] > 0).all() and (counts.loc["test"] > 0).all()


def test_a_manifest_with_a_split_keeps_it(own_data):
    split = {"ccp-0001": "train", "ccp-0002": "train", "ccp-0003": "val", "ccp-0004": "test",
             "ccp-1005": "train", "ccp-1006": "train", "ccp-1007": "val", "ccp-1008": "test"}
    rewrite(own_data, lambda t: t.insert(2, "split", t["id"].map(split)))
    dataset = prepare(own_data)
    assert dataset.split == "manifest" and dict(zip(dataset.table["id"], dataset.table["split"])) == split


def test_check_reads_every_file_and_says_what_a_run_will_see(own_data):
    text = check(own_data)
    assert "8 images (4 with a ground-truth map)" in text and "parts (12 classes)" in text
    assert "the models' map: parts" in text and "positive images per target and split" in text


# ------------------------------------------------------------------ bad input, named
@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.pop("image_path"), r"manifest.csv: missing columns 'image_path': a manifest has"),
    (lambda t: t.insert(1, "splt", "train"), r"manifest.csv: unknown columns 'splt': a manifest has"),
    (lambda t: [t.pop(c) for c in list(t) if c.startswith("label:")], "no target columns"),
    (lambda t: t.insert(2, "split", ["train"] * 7 + ["training"]),
     r"unknown split values \['training'\] in row 9 \(id 'ccp-1008'\)"),
    (lambda t: t.insert(2, "split", ["train"] * 7 + ["test"]), "the split has no val rows"),
    (lambda t: t.__setitem__("label:bag", ["0", "yes"] + ["0"] * 6), r"row 3 \(id 'ccp-0002'\): label:bag is 'yes', "
                                                                       "targets must be 0 or 1"),
    (lambda t: t.__setitem__("id", ["ccp-0001"] * 2 + list(t["id"][2:])), r"duplicate ids in row 2 \(id 'ccp-0001'\), "
                                                                          r"row 3"),
    (lambda t: t.__setitem__("image_path", ["photos/9999.jpg"] + list(t["image_path"][1:])),
     r"row 2 \(id 'ccp-0001'\): image_path 'photos/9999.jpg' does not exist"),
    (lambda t: t.__setitem__("gt_map_path", ["maps/none.png"] + list(t["gt_map_path"][1:])),
     r"row 2 \(id 'ccp-0001'\): gt_map_path 'maps/none.png' does not exist"),
    (lambda t: t.insert(3, "map_path", [""] + list(t["gt_map_path"][1:])), r"row 2 \(id 'ccp-0001'\): empty map_path"),
])
def test_bad_manifests_name_the_row_and_the_problem(own_data, edit, problem):
    rewrite(own_data, edit)
    with pytest.raises(DatasetError, match=problem) as e:
        prepare(own_data)
    assert e.value.path == own_data


def test_bad_maps_and_vocabularies_are_named(own_data):
    folder = own_data.parent
    gt = np.asarray(Image.open(folder / "maps/0002.png"))
    Image.fromarray(gt[:-8]).save(folder / "maps/0002.png")
    with pytest.raises(DatasetError, match=r"0002\.png: map size \(\d+, 550\) differs from its photo's"):
        check(own_data)
    bad = gt.copy()
    bad[0, 0] = 7
    Image.fromarray(bad).save(folder / "maps/0002.png")
    with pytest.raises(DatasetError, match=r"0002\.png: map values \[7\] are not in the vocabulary .*vocabulary-parts"):
        check(own_data)
    Image.fromarray(gt).save(folder / "maps/0002.png")
    vocab = folder / "vocabulary-parts.csv"
    lines = vocab.read_text().splitlines()
    vocab.write_text("\n".join(line for line in lines if not line.startswith(f"{PART_VALUE['top']},")) + "\n")
    with pytest.raises(DatasetError, match=rf"map values \[{PART_VALUE['top']}\] are not in the vocabulary"):
        check(own_data)
    vocab.unlink()
    with pytest.raises(DatasetError, match="no vocabulary file"):
        check(own_data)


def test_own_soft_maps_must_fit_the_vocabulary_and_the_photo(own_data):
    folder = own_data.parent
    rewrite(own_data, lambda t: t.insert(3, "map_path", [f"own/{i}.npy" for i in t["id"]]))
    (folder / "own").mkdir()
    for i in pd.read_csv(own_data)["id"]:
        np.save(folder / "own" / f"{i}.npy", np.full((12, 30, 20), 1 / 12, np.float32))
    assert "own maps: soft" in check(own_data)
    np.save(folder / "own" / "ccp-0003.npy", np.full((8, 30, 20), 1 / 8, np.float32))
    with pytest.raises(DatasetError, match=r"ccp-0003\.npy: soft maps must be \(K, h, w\) with K = 12"):
        check(own_data)
    np.save(folder / "own" / "ccp-0003.npy", np.full((12, 30, 30), 1 / 12, np.float32))
    with pytest.raises(DatasetError, match=r"ccp-0003\.npy: map size 30x30 has not the photo's aspect ratio"):
        check(own_data)
    np.save(folder / "own" / "ccp-0003.npy", np.full((12, 30, 20), 2.0, np.float32))
    with pytest.raises(DatasetError, match=r"ccp-0003\.npy: soft map values must lie in \[0, 1\]"):
        check(own_data)


def test_targets_without_any_positive_in_train_and_test_stop_with_a_sentence(own_data):
    rewrite(own_data, lambda t: [t.__setitem__(f"label:{p}", "0") for p in PART_TARGETS])
    with pytest.raises(DatasetError, match="no target label has a positive image in both the train and the test"):
        prepare(own_data)


# ------------------------------------------------------------------ through a Run
def test_own_data_gets_folders_of_its_own_never_ccps(own_data, tmp_path):
    from sednn.study.run import Run

    name = dataset_name(own_data)
    assert name == "my_data-" + dataset_content(own_data)[:10]
    assert paths.results_dir_for("smoke", dataset=name) == paths.RESULTS_DIR / "datasets" / name / "smoke"
    assert paths.work_dir_for("cpu", name) == paths.RUNS_DIR / "datasets" / name / "cpu"
    for ccp_results in (paths.RESULTS_DIR, paths.RESULTS_DIR / "smoke"):
        with pytest.raises(ValueError, match="holds CCP's results"):
            Run.create("smoke", manifest=own_data, results_dir=ccp_results, work_dir=tmp_path / "w",
                       figures_dir=tmp_path / "f", device="cpu")


def test_a_bad_map_leaves_the_results_folder_untouched(own_data, tmp_path):
    from sednn.study.run import Run

    gt = np.asarray(Image.open(own_data.parent / "maps/0004.png")).copy()
    gt[5, 5] = 9
    Image.fromarray(gt).save(own_data.parent / "maps/0004.png")
    run = Run.create("smoke", manifest=own_data, work_dir=tmp_path / "w", results_dir=tmp_path / "r",
                     figures_dir=tmp_path / "f", device="cpu")
    with pytest.raises(DatasetError, match=r"0004\.png: map values \[9\]"):
        run.prepare_data()
    assert not any((tmp_path / "r").iterdir()) and not (run.dataset_dir / "manifest.csv").exists()


def test_own_label_maps_are_used_as_they_are(own_data, tmp_path):
    """Own maps equal to the ground truth: the models' maps are the ground-truth soft maps; no parser needed."""
    from sednn.study import parsing
    from sednn.study.run import Run

    folder = own_data.parent
    for i in (1005, 1006, 1007, 1008):  # tags-only images: an all-background map of their own
        h, w = photo_size(folder / f"photos/{i}.jpg")
        Image.fromarray(np.zeros((h, w), np.uint8)).save(folder / f"maps/own-{i}.png")
    rewrite(own_data, lambda t: t.insert(3, "map_path", [g or f"maps/own-{i[4:]}.png"
                                                         for g, i in zip(t["gt_map_path"], t["id"])]))
    run = Run.create("smoke", manifest=own_data, work_dir=tmp_path / "w", results_dir=tmp_path / "r",
                     figures_dir=tmp_path / "f", device="cpu")
    run.prepare_data()
    assert run.own_map_kind == "label" and run.maps_missing() is None
    maps, pixel = parsing.predict_maps(run, "parts"), run.indices("test", "pixel")
    assert np.array_equal(maps[pixel], run.gt_soft_maps("parts")[pixel])
    assert np.array_equal(parsing.predicted_maps(run, "parts"), maps)
    info = json.loads((run.dataset_dir / "dataset.json").read_text())
    assert info["split"] == "stratified (seed 0)"
    labels = pd.read_csv(tmp_path / "r" / "labels.csv")
    assert (labels["parts"] == labels["label"]).all()  # each target is named like its class


def test_without_maps_the_map_using_models_stop_with_one_sentence(own_data, tmp_path):
    from sednn.study import classifiers as C
    from sednn.study.run import Run

    rewrite(own_data, lambda t: t.__setitem__("gt_map_path", ""))
    run = Run.create("smoke", manifest=own_data, work_dir=tmp_path / "w", results_dir=tmp_path / "r",
                     figures_dir=tmp_path / "f", device="cpu")
    run.prepare_data()
    assert set(run.table["source"]) == {"tags"}
    with pytest.raises(MapsUnavailable, match=r"^No semantic maps: the parser learns from pixel-annotated images "
                                                r"\(gt_map_path\) in the train and val splits, and this dataset has 0 "
                                                r"and 0; .* The baseline runs without maps\.$"):
        C.arm_maps(run, C.main_arm(run, "proposed"))
    assert C.arm_maps(run, C.main_arm(run, "baseline")) is None  # the baseline needs none


def test_datasets_in_folders_of_the_same_name_never_share_folders(tmp_path):
    """projA/data and projB/data: each is known by its content and gets folders of its own; a run pointed at the
    other one's folders stops with a sentence naming both manifests; preparing rewrites the prepared folder whole."""
    from conftest import require_ccp, write_notebook, write_own_dataset
    from sednn.pipeline import runner

    a = write_own_dataset(tmp_path / "projA" / "data", require_ccp(), [1, 2, 3, 4, 1005, 1006, 1007, 1008])
    b = write_own_dataset(tmp_path / "projB" / "data", require_ccp(), [5, 6, 7, 8, 1009, 1010, 1011, 1012])
    assert dataset_name(a) != dataset_name(b) and dataset_name(a).startswith("data-")
    assert dataset_name(a) == dataset_name(a)  # the same content, the same folders
    write_notebook(tmp_path / "nbs" / "01_a.ipynb")
    kw = dict(notebooks=["01_a"], notebooks_dir=tmp_path / "nbs", work_dir=tmp_path / "w", results_dir=tmp_path / "r",
              figures_dir=tmp_path / "f", device="cpu")
    record = runner.run_notebooks("smoke", manifest=a, **kw)
    assert record["dataset"] == {"manifest": str(a), "content": dataset_content(a)}
    with pytest.raises(ForeignFolder, match=f"holds the run of the manifest {a} .* not of the manifest {b}"):
        runner.run_notebooks("smoke", manifest=b, **kw)
    with pytest.raises(ForeignFolder, match=f"holds the run of the manifest {a} .* not of CCP"):
        runner.run_notebooks("smoke", **kw)
    runner.run_notebooks("smoke", manifest=a, **kw)  # its own folders: resumed as before

    b.with_name("vocabulary-parts.csv").unlink()  # b without maps of any vocabulary
    pd.read_csv(b, dtype=str, keep_default_na=False).drop(columns=["gt_map_path"]).to_csv(b, index=False)
    prepared = tmp_path / "prepared"
    write_prepared(prepare(a), prepared)
    assert (prepared / "vocabulary-parts.csv").exists()
    write_prepared(prepare(b), prepared)
    assert not list(prepared.glob("vocabulary-*.csv")) and read_prepared(prepared).vocabularies == {}


def test_make_check_data_prints_only_its_answer(own_data):
    """`python -m sednn.data.check` (what `make check-data` runs): the answer on stdout and nothing else; a bad manifest
    gets one line naming the file and what is wrong."""
    import subprocess
    import sys

    def check():
        return subprocess.run([sys.executable, "-m", "sednn.data.check", str(own_data)], capture_output=True, text=True)

    ok = check()
    assert ok.returncode == 0 and ok.stderr == "" and "the models' map: parts" in ok.stdout
    rewrite(own_data, lambda t: t.insert(1, "splt", "train"))
    bad = check()
    assert bad.returncode == 1 and bad.stdout == "" and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith(f"error: {own_data}: unknown columns 'splt': a manifest has")
    assert "[]" not in bad.stderr


def test_pixel_rows_keep_the_full_training_split_as_their_schedule(own_data, tmp_path):
    """``rows="pixel"`` keeps fewer training rows, not fewer optimizer steps: the schedule counts the full split's."""
    full, pixel = prepare(own_data, seed=0), prepare(own_data, seed=0, rows="pixel")
    assert (pixel.table["source"] == "pixel").all() and len(pixel.table) < len(full.table)
    assert pixel.schedule_rows == full.schedule_rows == int((full.table["split"] == "train").sum())
    assert read_prepared(write_prepared(pixel, tmp_path / "p").parent).schedule_rows == full.schedule_rows
