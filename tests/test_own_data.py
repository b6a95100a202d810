"""The study on a second dataset: real CCP photos in a label space of our own (12 merged classes, PNG maps under
values of their own, tags-only rows, relative paths, a folder name with a space), run end to end on the smoke
profile; then the same images with maps of their own (the first run's parser maps, as .npy soft maps), and with no
maps at all."""
import json

import numpy as np
import pandas as pd
import pytest

from conftest import OWN_IDS, PART_TARGETS, PARTS, require_ccp, run_notebooks, write_own_dataset
from sednn.core.arms import AblationGroup
from sednn.core.plan import NOTEBOOKS
from sednn.pipeline import runner

pytestmark = pytest.mark.slow


def test_the_whole_study_runs_on_a_second_dataset(own_run):
    out, manifest, record = own_run
    res = out / "results"
    assert record["status"] == "ok" and list(record["notebook_seconds"]) == list(NOTEBOOKS)
    assert record["split_from"] == "stratified (seed 0)" and record["parameters"]["MANIFEST"] == str(manifest)
    splits = pd.read_csv(res / "splits.csv", dtype={"id": str})
    assert len(splits) == 48 and set(splits.source) == {"pixel", "tags"} and splits.id.str.startswith("ccp-").all()
    labels = pd.read_csv(res / "labels.csv")
    assert set(labels.label) <= set(PART_TARGETS) and (labels["parts"] == labels["label"]).all()
    iou = pd.read_csv(res / "parser_iou.csv")
    for split in ("val", "test"):  # noqa: B007  (the loop variables are read by the query)
        for parser in ("efficientnet_lite0",):  # noqa: B007
            assert iou.query("split == @split and parser == @parser")["class"].tolist() == [*PARTS, "mean (mIoU)"]
    main = pd.read_csv(res / "main_table.csv")
    assert main.model.tolist() == ["baseline", "early_fusion", "input_masking", "late_fusion", "proposed"]
    assert np.isfinite(main[["macro_auc", "map"]]).all().all() and (main.vocabulary == "parts").all()
    abl = pd.read_csv(res / "ablations.csv")
    oracle = abl[abl.group == AblationGroup.ORACLE_TRAINED.label]
    assert len(oracle) == 5 and (oracle.vocabulary == "parts").all() and oracle.macro_auc.notna().all()
    other = abl[abl.group == AblationGroup.OTHER_VOCABULARY.label]
    assert other.description.tolist() == ["not run: the dataset's maps come in one vocabulary"]
    loc = pd.read_csv(res / "localization.csv")
    assert loc.pairs.gt(0).all() and loc.energy_inside.between(0, 1).all()
    assert pd.read_csv(res / "background_swap.csv").macro_auc_swapped.notna().all()
    study = pd.read_csv(res / "map_quality.csv")
    assert (study.vocabulary == "parts").all() and np.isfinite(study.macro_auc).all()
    assert study.map_test_miou.dropna().between(0, 1).all()


def test_your_own_datas_trainings_are_counted(own_run):
    """One seed, maps of one vocabulary, notebook 07: as counted before the run."""
    from sednn.core.profiles import PROFILES

    out, _, record = own_run
    done = len((out / "work" / "progress.jsonl").read_text().splitlines())
    assert runner.planned_trainings(PROFILES["smoke_min"], out / "work", NOTEBOOKS) == done


def test_maps_of_your_own_replace_the_parser(own_run, tmp_path):
    """The first run's parser maps, saved as .npy soft maps beside a manifest that keeps its split: no parser is
    trained, the models use these maps, and their IoU (where ground truth exists) is the first run's."""
    out, manifest, _ = own_run
    first = out / "work" / "cache" / "96x64"
    maps = np.load(first / "maps_parts.npy")  # (N, K, h, w) uint8, rows in the prepared manifest's order
    prepared = pd.read_csv(out / "work" / "dataset" / "manifest.csv", dtype=str, keep_default_na=False)
    folder = tmp_path / "with own maps"
    (folder / "parser").mkdir(parents=True)
    for i, m in zip(prepared["id"], maps):
        np.save(folder / "parser" / f"{i}.npy", m.astype(np.float32) / 255)
    split = dict(zip(prepared["id"], prepared["split"]))
    own = write_own_dataset(folder, require_ccp(), OWN_IDS, split=split)
    table = pd.read_csv(own, dtype=str, keep_default_na=False)
    table.insert(3, "map_path", [f"parser/{i}.npy" for i in table["id"]])
    table.to_csv(own, index=False)

    record = run_notebooks(tmp_path, "smoke_min", manifest=own)
    res = tmp_path / "results"
    assert record["status"] == "ok" and record["split_from"] == "manifest"
    assert not (res / "parser_tuning.csv").exists() and not list((tmp_path / "work" / "checkpoints").glob("parser-*"))
    ours = pd.read_csv(res / "parser_iou.csv")
    theirs = pd.read_csv(out / "results" / "parser_iou.csv").query("parser == 'efficientnet_lite0'")
    assert (ours.parser_image_hw == "own maps").all()
    assert ours["class"].tolist() == theirs["class"].tolist() and (ours.parser == "own maps").all()
    np.testing.assert_array_equal(ours["iou"], theirs["iou"])  # the same maps, scored on the same images
    main = pd.read_csv(res / "main_table.csv")
    assert np.isfinite(main.macro_auc).all() and len(main) == 5
    assert not (res / "background_swap.csv").exists()  # swapped photos cannot be parsed again
    assert (res / "localization.csv").exists()


def test_without_any_map_the_baseline_runs_and_the_rest_says_why(tmp_path):
    manifest = write_own_dataset(tmp_path / "tags only", require_ccp(), list(range(1005, 1035)))
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False).drop(columns=["gt_map_path"])
    table.to_csv(manifest, index=False)
    (manifest.parent / "vocabulary-parts.csv").unlink()
    record = run_notebooks(tmp_path, "smoke_min", ["01_data_prep", "02_semantic_maps", "03_baseline"], manifest)
    assert record["status"] == "ok" and list(record["notebook_seconds"]) == ["01_data_prep", "03_baseline"]
    assert list(record["skipped_notebooks"]) == ["02_semantic_maps"]
    assert record["skipped_notebooks"]["02_semantic_maps"].startswith("No semantic maps: this dataset has neither")
    tuning = json.loads((tmp_path / "work" / "tuning.json").read_text())
    assert list(tuning) == ["baseline"]
