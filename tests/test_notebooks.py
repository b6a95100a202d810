"""Every notebook runs end to end through papermill on the smoke profile; assertions on what they write."""
import json

import nbformat
import numpy as np
import pandas as pd
import pytest

from sednn import runner
from sednn.report import MAIN_MODELS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    from conftest import require_ccp

    require_ccp()
    out = tmp_path_factory.mktemp("smoke")
    record = runner.run_notebooks("smoke", work_dir=out / "work", results_dir=out / "results",
                                  figures_dir=out / "figures", device="cpu")
    return out, record


def test_run_record(smoke_run):
    out, record = smoke_run
    saved = json.loads((out / "results" / "RUN.json").read_text())
    assert saved["status"] == "ok" and saved["profile"]["name"] == "smoke" and saved["device"] == "cpu"
    assert list(saved["notebook_seconds"]) == runner.NOTEBOOKS
    assert saved["versions"]["torch"] == "2.14.1" and saved["model_seeds"] == [0]
    assert saved["skipped_rows"]["empty_tag_set"]["count"] == 1
    for name in runner.NOTEBOOKS:
        nb = nbformat.read(out / "work" / "notebooks" / f"{name}.ipynb", as_version=4)
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "executed copy has outputs"


def test_data_prep_outputs(smoke_run):
    out, _ = smoke_run
    splits = pd.read_csv(out / "results" / "splits.csv", dtype={"id": str})
    assert len(splits) == 48 and set(splits.split) == {"train", "val", "test"}
    assert set(splits.source) == {"pixel", "tags"}
    labels = pd.read_csv(out / "results" / "labels.csv")
    assert 35 <= len(labels) <= 45


def test_parser_iou_table(smoke_run):
    out, _ = smoke_run
    iou = pd.read_csv(out / "results" / "parser_iou.csv")
    assert len(iou) == 9 and iou.iou.dropna().between(0, 1).all()
    assert iou.region.iloc[-1] == "mean (mIoU)"


def test_result_tables_have_a_finite_row_per_model(smoke_run):
    out, _ = smoke_run
    main = pd.read_csv(out / "results" / "main_table.csv")
    assert main.model.tolist() == MAIN_MODELS
    assert np.isfinite(main[["macro_auc", "map", "rel_auc_improvement_pct"]].to_numpy()).all()
    assert np.isfinite(main.query("model != 'baseline'")[["delta_ci_low", "delta_ci_high"]].to_numpy()).all()
    assert (out / "results" / "main_table.md").read_text().count("\n") == len(MAIN_MODELS) + 2
    per_label = pd.read_csv(out / "results" / "per_label_auc.csv")
    assert set(per_label.model) == set(MAIN_MODELS) and set(per_label.source) == {"all", "pixel", "tags"}
    abl = pd.read_csv(out / "results" / "ablations.csv")
    assert {"se_only", "no_gate", "proposed@2", "proposed@4"} <= set(abl.model)
    assert set(abl["maps"]) >= {"predicted", "ground truth (oracle)"}
    assert np.isfinite(abl.macro_auc).all()


def test_attention_tables(smoke_run):
    out, _ = smoke_run
    loc = pd.read_csv(out / "results" / "localization.csv")
    assert loc.model.tolist() == MAIN_MODELS and loc.energy_inside.between(0, 1).all()
    assert loc.pointing_hit_rate.between(0, 1).all() and (loc.pairs > 0).all()
    swap = pd.read_csv(out / "results" / "background_swap.csv")
    assert swap.model.tolist() == MAIN_MODELS
    assert np.isfinite(swap[["macro_auc_original", "macro_auc_swapped", "drop"]].to_numpy()).all()


def test_every_figure_is_written(smoke_run):
    out, _ = smoke_run
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"label_frequency.png", "label_cooccurrence.png", "example_photos.png", "semantic_map_overlays.png",
            "per_label_auc.png", "relative_improvement.png", "training_curves.png", "cam_grid_good.png",
            "cam_grid_failure.png", "channel_gates.png", "localization.png"} <= figures


def test_a_failing_notebook_is_named_with_its_cell(tmp_path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("PROFILE = 'smoke'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("raise ValueError('broken on purpose')")]
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "99_broken.ipynb")
    with pytest.raises(runner.NotebookFailed, match=r"notebook 99_broken failed in cell \d+ .*ValueError: broken on purpose"):
        runner.run_notebooks("smoke", notebooks=["99_broken"], notebooks_dir=tmp_path / "nbs",
                             work_dir=tmp_path / "w", results_dir=tmp_path / "r", figures_dir=tmp_path / "f")
    assert json.loads((tmp_path / "w" / "RUN.json").read_text())["status"] == "failed"
    assert not (tmp_path / "r" / "RUN.json").exists()


def test_torchrun_trains_a_classifier_on_the_smoke_run(smoke_run, tmp_path):
    """`torchrun -m sednn.distributed` with 2 CPU processes retrains the baseline on the notebooks' data;
    the validation score in its history is the macro AUC of the predictions gathered from both processes."""
    import shutil
    import subprocess
    import sys

    from sednn.experiment import Run
    from sednn.metrics import macro_auc

    out, _ = smoke_run
    work = tmp_path / "work"
    shutil.copytree(out / "work", work, ignore=shutil.ignore_patterns("baseline_s0*", "notebooks"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
           "sednn.distributed", "--profile", "smoke", "--device", "cpu", "--work-dir", str(work),
           "--models", "baseline"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "baseline seed 0: best val macro AUC" in r.stdout and "2 processes)" in r.stdout
    run = Run.create("smoke", work_dir=work, results_dir=tmp_path / "r", figures_dir=tmp_path / "f", device="cpu")
    pred = run.predictions("baseline", 0)
    assert pred["val"].shape == (len(run.indices("val")), len(run.targets))
    assert pred["test"].shape == (len(run.indices("test")), len(run.targets))
    assert np.isclose(pred["history"][0]["val_score"], macro_auc(run.y[pred["val_idx"]], pred["val"]), atol=1e-6)


def test_localization_does_not_depend_on_the_chunk_size(smoke_run, tmp_path):
    from sednn import cam
    from sednn.experiment import Run

    out, _ = smoke_run
    run = Run.create("smoke", work_dir=out / "work", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                     device="cpu")
    whole = cam.localization(run, ["baseline"], 0, max_images=4)[2]
    chunked = cam.localization(run, ["baseline"], 0, max_images=4, chunk=3)[2]
    assert len(whole) > 3  # more than one chunk
    np.testing.assert_allclose(chunked["energy"], whole["energy"], atol=1e-5)
    assert (chunked["hit"] == whole["hit"]).all()
