"""Every notebook runs end to end through papermill on the smoke profile; assertions on what they write."""
import json
import re

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from conftest import write_notebook
from sednn.core import paths
from sednn.core.arms import AblationGroup, Arm
from sednn.core.catalog import MAIN_MODELS
from sednn.core.epochs import steps_per_epoch, training_epochs
from sednn.core.plan import NOTEBOOKS
from sednn.core.profiles import PROFILES
from sednn.data import labels as L
from sednn.pipeline import machine, runner
from sednn.reporting import blocks
from sednn.study import classifiers as C
from sednn.study.run import Run

pytestmark = pytest.mark.slow


def test_run_record(smoke_run):
    out, record = smoke_run
    saved = json.loads((out / "results" / "RUN.json").read_text())
    assert saved["status"] == "ok" and saved["profile"]["name"] == "smoke" and saved["device"] == "cpu"
    assert list(saved["notebook_seconds"]) == list(NOTEBOOKS)  # the profile's, and 07
    assert saved["versions"]["torch"] == "2.14.1" and saved["model_seeds"] == [0, 1]
    assert saved["skipped_rows"]["empty_tag_set"]["count"] == 1
    assert saved["profile"]["min_positives"] == 50 and saved["cpu_model"] and saved["torch_threads"] >= 1
    assert {"float32_matmul_precision", "mkldnn", "cudnn_benchmark"} <= set(saved["torch_backends"])
    train = pd.read_csv(out / "results" / "splits.csv").query("split == 'train'")
    expected = {rows: training_epochs(1, len(train), n, 16) for rows, n in (("all", len(train)),
                                                                          ("pixel", (train.source == "pixel").sum()))}
    assert saved["training_epochs"] == expected  # smoke's 29 and 14 training images: one batch of 16 each


def test_an_arm_on_the_pixel_half_trains_the_full_splits_optimizer_steps(smoke_run, tmp_path):
    """An arm on fewer rows runs more epochs: the optimizer steps of the profile's epochs of the full training split
    (batches of 8: 3 per epoch on smoke's 29 training images, 1 on its 14 pixel-annotated ones)."""
    import dataclasses
    import shutil

    out, _ = smoke_run
    work = tmp_path / "work"
    shutil.copytree(out / "work", work, ignore=shutil.ignore_patterns("checkpoints", "predictions", "notebooks"))
    run = Run.create("smoke", work_dir=work, results_dir=tmp_path / "r", figures_dir=tmp_path / "f")
    run.profile = dataclasses.replace(run.profile, batch_size=8)
    full, pixel = (Arm("baseline", "regions", rows=rows, lr_mult=1.0) for rows in ("all", "pixel"))
    n = {a.rows: len(C.arm_indices(run, a, "train")) for a in (full, pixel)}
    assert steps_per_epoch(n["all"], 8) == 3 and steps_per_epoch(n["pixel"], 8) == 1
    assert C.arm_epochs(run, full) == 1 and C.arm_epochs(run, pixel) == 3
    assert len(C.train(run, pixel, 0)["history"]) == 3  # 3 steps, as one epoch of the full split
    blocks_record = {"profile": {"epochs": 1}, "training_epochs": {"all": 1, "pixel": 3}}
    assert blocks.epochs_text(blocks_record) == "1 epoch (3 on the pixel-annotated half: the same optimizer steps)"
    assert blocks.epochs_text({"profile": {"epochs": 8}, "training_epochs": {"all": 17, "pixel": 17}}) == (
        "17 epochs (the optimizer steps of 8 epochs of the full training split)")


def test_the_terminal_shows_each_training_as_it_finishes_and_where_the_run_stands(smoke_run):
    """One line per finished training, from the kernels, with trainings done of the profile's total
    (``sednn.core.plan.Plan.trainings``: every training the notebooks make, counted before they run) and the time
    left."""
    out, _ = smoke_run
    shown = (out / "terminal.txt").read_text().splitlines()
    total = runner.planned_trainings(PROFILES["smoke"], out / "work", NOTEBOOKS)
    done = (out / "work" / "progress.jsonl").read_text().splitlines()
    assert total == len(done) > 50  # the count is the notebooks' own
    trainings = [line for line in shown if " trainings" in line]
    assert len(trainings) == total
    assert trainings[0].startswith("[sednn] parser regions efficientnet_lite0 lr 0.001: 2 epochs, kept epoch ")
    assert any(t.startswith("[sednn] baseline-garments-m1_s0: 1 epochs, kept epoch 1 (validation ") for t in trainings)
    assert trainings[0].endswith(f"| 1/{total} trainings")  # the rate is measured from the first one on
    assert re.search(rf"\| 2/{total} trainings, about \d+ min left$", trainings[1])
    assert trainings[-1].endswith(f"| {total}/{total} trainings")
    notebook_lines = [line for line in shown if line.endswith("(smoke) ...")]
    assert len(notebook_lines) == len(NOTEBOOKS)


def test_kernels_open_no_tcp_port(tmp_path, capfd):
    """papermill's kernels talk over IPC: ipykernel's warning about an unencrypted TCP kernel never shows."""
    write_notebook(tmp_path / "nbs" / "01_a.ipynb", "from ipykernel.connect import get_connection_info\n"
                   "print(get_connection_info(unpack=True)['transport'])")
    runner.run_notebooks("smoke", notebooks=["01_a"], notebooks_dir=tmp_path / "nbs", work_dir=tmp_path / "w",
                         results_dir=tmp_path / "r", figures_dir=tmp_path / "f", device="cpu")
    executed = nbformat.read(tmp_path / "w" / "notebooks" / "01_a.ipynb", as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "ipc\n"
    seen = capfd.readouterr()
    assert "[sednn] 01_a (smoke) ..." in seen.out and "without encryption" not in seen.out + seen.err
    assert [p.name for p in (tmp_path / "nbs").iterdir()] == ["01_a.ipynb"]  # no socket beside the notebook


def test_rendered_notebooks_are_written_for_readers_with_outputs(smoke_run):
    """results/notebooks/ holds every executed notebook with its tables, figures and closing summary."""
    out, _ = smoke_run
    total = 0
    for name in NOTEBOOKS:
        path = out / "results" / "notebooks" / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        total += path.stat().st_size
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert sum(bool(c.get("outputs")) for c in code) >= 3, name  # run.profile, tables, the summary
        closing = code[-1]["outputs"]
        assert any("text/markdown" in o.get("data", {}) for o in closing), f"{name} ends with a generated summary"
        text = path.read_text()
        assert str(paths.REPO_ROOT) not in text and '"input_path": "notebooks/' in text  # repo-relative paths
    assert total < 15e6


def test_data_prep_outputs(smoke_run):
    out, _ = smoke_run
    splits = pd.read_csv(out / "results" / "splits.csv", dtype={"id": str})
    assert len(splits) == 48 and set(splits.split) == {"train", "val", "test"}
    assert set(splits.source) == {"pixel", "tags"}
    labels = pd.read_csv(out / "results" / "labels.csv")
    record = json.loads((out / "results" / "RUN.json").read_text())
    dropped = record["skipped_rows"]["targets_without_positives"]
    assert len(labels) + dropped["count"] == 42 and not set(dropped["ids"]) & set(labels.label)  # counted, not scored
    assert record["split_from"] == "stratified (seed 0)" and list(labels.columns[1:3]) == ["regions", "garments"]


def test_parser_iou_and_its_schedule_chosen_on_validation(smoke_run):
    out, _ = smoke_run
    iou = pd.read_csv(out / "results" / "parser_iou.csv")
    for vocab, classes in [(v, L.ccp_vocabulary(v).classes) for v in ("regions", "garments")]:  # noqa: B007
        for split in ("val", "test"):  # noqa: B007  (the loop variables are read by the query)
            for parser in ("efficientnet_lite0", "efficientnet_lite2"):  # noqa: B007  (the profile's, the other)
                part = iou.query("vocabulary == @vocab and split == @split and parser == @parser")
                assert part["class"].tolist() == [*classes, "mean (mIoU)"]
                assert part.iou.dropna().between(0, 1).all()
    tuning = pd.read_csv(out / "results" / "parser_tuning.csv")
    assert set(tuning.parser) == {"efficientnet_lite0", "efficientnet_lite2"}
    for _, t in tuning.groupby(["vocabulary", "parser"]):
        assert t.chosen.sum() == 1 and t.loc[t.chosen, "val_miou"].iloc[0] == t.val_miou.max()


def test_parser_trains_on_train_split_pixel_images_only(smoke_run, tmp_path, monkeypatch):
    """For both vocabularies, every row the parser's training batches contain is a train-split pixel image."""
    from sednn.study import parsing
    from sednn.study.run import Run

    out, _ = smoke_run
    run = Run.create("smoke", work_dir=out / "work", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                     device="cpu")
    seen = []

    def fake_fit(model, cfg, ckpt_dir, *, batches, **kw):

        for x, _y, _start in batches(torch.Generator().manual_seed(0)):
            seen.append(len(x))
        return []

    real_views = run.data().__class__.views

    def spy_views(self, idx, generator=None, part=slice(None)):
        rows, v = real_views(self, idx, generator, part)
        seen_rows.extend(rows.tolist())
        return rows, v

    seen_rows = []
    monkeypatch.setattr(parsing, "fit", fake_fit)
    monkeypatch.setattr(run.data().__class__, "views", spy_views)
    allowed = set(run.indices("train", "pixel"))
    for vocab in ("regions", "garments"):
        seen_rows.clear()
        parsing.train_parser(run, vocab, 1e-3)
        assert seen_rows and set(seen_rows) <= allowed, vocab
    assert not allowed & set(run.indices("val")) and not allowed & set(run.indices("test"))


def test_parser_sees_its_own_size_and_the_classifiers_get_maps_at_theirs(smoke_run, tmp_path):
    """smoke's parser sees 144x96 photos, its classifiers 96x64: maps are resized to 24x16, IoU is scored there,
    and parsing a photo of the wrong size is refused with both sizes named."""
    from sednn.study import parsing
    from sednn.study.run import Run

    out, _ = smoke_run
    run = Run.create("smoke", work_dir=out / "work", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                     device="cpu")
    prun = parsing.parser_run(run)
    assert run.profile.image_hw == (96, 64) and prun.profile.image_hw == (144, 96) and run.map_hw == (24, 16)
    assert prun.photos.shape[1:3] == (144, 96) and prun.work_dir == run.work_dir and prun.table.equals(run.table)
    assert prun.gt_labels_at_map_size("regions").shape[1:] == (36, 24)
    for vocab in ("garments", "regions"):
        maps = parsing.predicted_maps(run, vocab)
        assert maps.shape == (len(run.table), run.vocab(vocab).num_classes, 24, 16)
        rows = run.indices("test", "pixel")[:3]
        again = parsing.parse(run, prun.photos[rows], vocab)  # from the photos, not the stored prefix
        assert again.shape == (3, run.vocab(vocab).num_classes, 24, 16)
        assert np.abs(again.astype(int) - maps[rows]).mean() < 1.0
        # soft maps: probabilities over classes sum to 1 (255 up to rounding) after resizing
        assert np.abs(maps[rows].astype(int).sum(1) - 255).max() <= run.vocab(vocab).num_classes
    with pytest.raises(ValueError, match="photos are 96x64, the parser sees 144x96"):
        parsing.parse(run, run.photos[:2], "garments")
    iou = pd.read_csv(out / "results" / "parser_iou.csv")
    assert set(iou.map_hw) == {"24x16"} and set(iou.parser_image_hw) == {"144x96"}


def test_result_tables_have_a_finite_row_per_model(smoke_run):
    out, _ = smoke_run
    main = pd.read_csv(out / "results" / "main_table.csv")
    assert main.model.tolist() == list(MAIN_MODELS) and (main.seeds == 2).all()
    assert np.isfinite(main[["macro_auc", "macro_auc_std", "map", "rel_auc_improvement_pct"]].to_numpy()).all()
    assert np.isfinite(main.query("model != 'baseline'")[["delta_ci_low", "delta_ci_high"]].to_numpy()).all()
    others = main.query("model != 'baseline'")
    assert (others.rel_ci_low_pct <= others.rel_auc_improvement_pct).all()
    assert (others.rel_auc_improvement_pct <= others.rel_ci_high_pct).all()
    f1 = main[["cp", "cr", "cf1", "op", "or", "of1"]].to_numpy()
    assert np.isfinite(f1).all() and (f1 >= 0).all() and (f1 <= 1).all() and (main.of1 > 0).all()
    per_label = pd.read_csv(out / "results" / "per_label_auc.csv")
    assert {"precision", "recall"} <= set(per_label.columns) and per_label.precision.between(0, 1).all()
    study = pd.read_csv(out / "results" / "map_quality.csv")
    assert np.isfinite(study[["cf1", "of1"]].to_numpy()).all()
    assert np.isfinite(study.query("model != 'baseline'")[["rel_ci_low_pct", "rel_ci_high_pct"]].to_numpy()).all()
    gap = pd.read_csv(out / "results" / "presence_vs_ground_truth.csv")
    assert gap.delta_ci_low.iloc[0] <= gap.delta_macro_auc.iloc[0] <= gap.delta_ci_high.iloc[0]
    assert (out / "results" / "main_table.md").read_text().count("\n") == len(MAIN_MODELS) + 2
    per_seed = pd.read_csv(out / "results" / "per_seed.csv")
    assert len(per_seed) == 2 * (len(MAIN_MODELS) + 2)
    for model, rows in per_seed.groupby("model"):  # the table's mean is the mean of the kept per-seed numbers
        if model in MAIN_MODELS:
            assert np.isclose(rows.test_macro_auc.mean(), main.set_index("model").loc[model, "macro_auc"])
    verdict = (out / "results" / "verdict.md").read_text()
    assert "The proposed model" in verdict and "+15.27 %" in verdict


def test_tuning_chooses_on_validation_with_the_same_grid_for_every_model(smoke_run):
    out, _ = smoke_run
    tuning = pd.read_csv(out / "results" / "tuning.csv")
    assert set(tuning.model) == {*MAIN_MODELS, "se_only", "no_gate"}
    for _model, t in tuning.groupby("model"):
        grid = t[t.used_for_choice]
        assert sorted(grid.lr_mult.unique()) == [1.0, 10.0]  # the same budget for every model
        means = grid.groupby("lr_mult").val_macro_auc.mean()
        assert t.loc[t.chosen, "lr_mult"].unique().tolist() == [means.idxmax()]
        assert sorted(t.loc[t.chosen, "seed"]) == [0, 1]
    assert "test" not in " ".join(tuning.columns)
    per_label = pd.read_csv(out / "results" / "per_label_auc.csv")
    assert set(per_label.model) == set(MAIN_MODELS) and set(per_label.source) == {"all", "pixel", "tags"}
    abl = pd.read_csv(out / "results" / "ablations.csv")
    assert {"se_only", "no_gate", "proposed@2", "proposed@4"} <= set(abl.model)
    assert np.isfinite(abl.macro_auc).all()
    assert (abl.query("model in ['se_only', 'no_gate']").seeds == 2).all()


def test_oracle_rows_are_labelled_as_ground_truth_in_every_table(smoke_run):
    out, _ = smoke_run
    abl = pd.read_csv(out / "results" / "ablations.csv")
    trained = abl[abl.group == AblationGroup.ORACLE_TRAINED.label]
    assert set(trained.images) == {"pixel-annotated test"} and (trained.vocabulary == "regions").all()
    assert trained.maps.value_counts()["ground truth (oracle-trained)"] == 2  # proposed + best alternative
    assert "ground truth at test time only" in set(abl[abl.group == AblationGroup.ORACLE_AT_TEST.label].maps)
    gt_rows = abl[abl.maps.str.contains("ground truth")]
    assert gt_rows.group.str.contains("oracle").all()
    md = (out / "results" / "ablations.md").read_text()
    assert md.count("ground truth (oracle-trained)") == 2 and "ground truth at test time only" in md


def test_attention_tables(smoke_run):
    out, _ = smoke_run
    loc = pd.read_csv(out / "results" / "localization.csv")
    assert loc.model.tolist() == list(MAIN_MODELS) and loc.energy_inside.between(0, 1).all()
    assert loc.pointing_hit_rate.between(0, 1).all() and (loc.pairs > 0).all()
    swap = pd.read_csv(out / "results" / "background_swap.csv")
    assert swap.model.tolist() == list(MAIN_MODELS)
    assert np.isfinite(swap[["macro_auc_original", "macro_auc_swapped", "drop"]].to_numpy()).all()


def test_every_figure_is_written(smoke_run):
    out, _ = smoke_run
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"label_frequency.png", "label_cooccurrence.png", "example_photos.png", "semantic_map_overlays.png",
            "semantic_map_overlays_regions.png",
            "per_label_auc.png", "relative_improvement.png", "training_curves.png", "cam_grid_good.png",
            "cam_grid_failure.png", "channel_gates.png", "localization.png"} <= figures


def test_a_failing_notebook_is_named_with_its_cell(tmp_path):
    write_notebook(tmp_path / "nbs" / "99_broken.ipynb", "x = 1", "raise ValueError('broken on purpose')")
    failed = r"notebook 99_broken failed in cell \d+ .*ValueError: broken on purpose"
    with pytest.raises(runner.NotebookFailed, match=failed):
        runner.run_notebooks("smoke", notebooks=["99_broken"], notebooks_dir=tmp_path / "nbs",
                             work_dir=tmp_path / "w", results_dir=tmp_path / "r", figures_dir=tmp_path / "f")
    assert json.loads((tmp_path / "w" / "RUN.json").read_text())["status"] == "failed"
    assert not (tmp_path / "r" / "RUN.json").exists()


def test_a_resumed_run_adds_up_the_time_of_every_invocation(tmp_path):
    """An invocation killed in 02_b (RUN.json left "running") and a second one that finishes: RUN.json and the
    README run line give each notebook's time over both, the partial one up to its copy's last save."""
    import datetime as dt
    import os

    from sednn.reporting import blocks

    for name in ("01_a", "02_b"):
        write_notebook(tmp_path / "nbs" / f"{name}.ipynb", "x = 1")
    work = tmp_path / "w"
    (work / "notebooks").mkdir(parents=True)
    since = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=100)
    killed = {"status": "running", "git_commit": machine.git_state()["git_commit"], "profile": {"name": "smoke"},
              **machine.device_info("cpu"), "started": since.isoformat(), "notebook_seconds": {"01_a": 5.0},
              "in_progress": {"notebook": "02_b", "since": since.isoformat()}}
    (work / "RUN.json").write_text(json.dumps(killed))
    copy = write_notebook(work / "notebooks" / "02_b.ipynb", "x = 1")
    os.utime(copy, (since.timestamp() + 40, since.timestamp() + 40))
    record = runner.run_notebooks("smoke", notebooks=["01_a", "02_b"], notebooks_dir=tmp_path / "nbs", work_dir=work,
                                  results_dir=tmp_path / "r", figures_dir=tmp_path / "f", device="cpu")
    (earlier,) = record["earlier_invocations"]
    assert earlier["status"] == "interrupted" and earlier["partial_seconds"] == {"02_b": 40.0}
    over, now = record["notebook_seconds_all_invocations"], record["notebook_seconds"]
    assert over == {"01_a": round(5.0 + now["01_a"], 1), "02_b": round(40.0 + now["02_b"], 1)}
    saved = json.loads((tmp_path / "r" / "RUN.json").read_text())
    assert saved["status"] == "ok" and "in_progress" not in saved
    assert "Resumed after 1 stopped invocation(s)" in blocks.run_line(tmp_path / "r")
    # a finished run, or one of another commit, is not resumed: its times are not added
    for change in ({"status": "ok"}, {"git_commit": "0" * 40}):
        (work / "RUN.json").write_text(json.dumps({**killed, **change}))
        this = {"git_commit": killed["git_commit"], "profile": {"name": "smoke"}}
        assert runner.earlier_invocations(work, this) == []
    # one stopped on another kind of CPU is not resumed here: the error names the file and what differs
    (work / "RUN.json").write_text(json.dumps({**killed, "cpu_model": "Another CPU"}))
    with pytest.raises(runner.MachineChanged, match=r"RUN\.json.*'cpu_model': \('Another CPU'"):
        runner.earlier_invocations(work, {**killed, **machine.device_info("cpu")})


def test_torchrun_trains_a_classifier_on_the_smoke_run(smoke_run, tmp_path):
    """`torchrun -m sednn.pipeline.launch` with 2 CPU processes retrains the baseline on the notebooks' data;
    the validation score in its history is the macro AUC of the predictions gathered from both processes."""
    import shutil
    import subprocess
    import sys

    from sednn.core.metrics import macro_auc
    from sednn.study.run import Run

    out, _ = smoke_run
    work = tmp_path / "work"
    from sednn.study import classifiers as C

    shutil.copytree(out / "work", work, ignore=shutil.ignore_patterns("baseline-*", "notebooks"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
           "sednn.pipeline.launch", "--profile", "smoke", "--device", "cpu", "--work-dir", str(work),
           "--models", "baseline"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "[sednn] baseline: lr mult" in r.stdout and "2 processes)" in r.stdout
    run = Run.create("smoke", work_dir=work, results_dir=tmp_path / "r", figures_dir=tmp_path / "f", device="cpu")
    pred = C.predictions(run, C.main_arm(run, "baseline"), 0)
    assert pred["val"].shape == (len(run.indices("val")), len(run.targets))
    assert pred["test"].shape == (len(run.indices("test")), len(run.targets))
    assert np.isclose(pred["history"][0]["val_score"], macro_auc(run.y[pred["val_idx"]], pred["val"]), atol=1e-6)


def test_localization_does_not_depend_on_the_chunk_size(smoke_run, tmp_path):
    from sednn.study import cam
    from sednn.study.run import Run

    out, _ = smoke_run
    run = Run.create("smoke", work_dir=out / "work", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                     device="cpu")
    whole = cam.localization(run, ["baseline"], 0, max_images=4)[2]
    chunked = cam.localization(run, ["baseline"], 0, max_images=4, chunk=3)[2]
    assert len(whole) > 3  # more than one chunk
    np.testing.assert_allclose(chunked["energy"], whole["energy"], atol=1e-5)
    assert (chunked["hit"] == whole["hit"]).all()


def test_every_metric_is_of_the_labels_the_test_rows_score(smoke_run, tmp_path, monkeypatch):
    """``tables.compare`` with the scoring rule raised until it leaves labels out: macro AUC, the paper's metric and
    OF1 are those of the scored labels alone, for every arm alike (scikit-learn's AUC)."""
    from sklearn.metrics import roc_auc_score

    from sednn.core import metrics as M
    from sednn.core import scoring
    from sednn.study import tables

    out, _ = smoke_run
    run = Run.create("smoke", work_dir=out / "work", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                     device="cpu")
    base, prop = C.main_arm(run, "baseline"), C.main_arm(run, "proposed")
    y = run.y[C.arm_indices(run, base, "test")]
    positives = y.sum(0)
    defined = (positives > 0) & (positives < len(y))
    k = int(positives[defined].max())  # only the most frequent labels stay
    monkeypatch.setattr(scoring, "min_test_positives", lambda profile: k)
    scored = defined & (positives >= k)
    assert 0 < scored.sum() < defined.sum()
    row = tables.compare(run, {"proposed": prop}, base).iloc[0]

    def scores(arm):
        return [C.predictions(run, arm, s) for s in run.profile.seeds]

    def auc(p):
        return np.array([roc_auc_score(y[:, j], p["test"][:, j]) for j in np.flatnonzero(scored)])

    assert np.isclose(row.macro_auc, np.mean([auc(p).mean() for p in scores(prop)]))
    prop_auc, base_auc = (np.mean([auc(p) for p in scores(a)], 0) for a in (prop, base))
    assert np.isclose(row.rel_auc_improvement_pct, 100 * np.mean((prop_auc - base_auc) / base_auc))
    f1 = [M.thresholded_f1(y[:, scored], p["test"][:, scored], tables.validation_thresholds(run, p)[scored])
          for p in scores(prop)]
    assert np.isclose(row.of1, np.mean([f["of1"] for f in f1]))


def test_explorer_update_draws_photo_map_and_one_cam_per_model(smoke_run, tmp_path):
    """The widget's update function, driven once without a browser."""
    from sednn.study.explore import Explorer
    from sednn.study.run import Run

    out, _ = smoke_run
    run = Run.create("smoke", work_dir=out / "work", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                     device="cpu")
    ex = Explorer(run, ["baseline", "proposed"], 0)
    row = int(ex.rows[0])
    label = ex.labels_of(row)[0]
    fig = ex.update(row, label)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 4 and label in titles[0] and titles[2].startswith("baseline\np=")
    p = float(titles[3].split("p=")[1])
    assert np.isclose(p, ex.scores(row)["proposed"][run.targets.index(label)], atol=5e-3)
    widget = ex.widget()
    assert widget.children[0].children[1].options == tuple(ex.labels_of(row))


def test_ablations_a_profile_does_not_run_are_listed_as_not_run(smoke_run, tmp_path):
    """The cpu profile's ablation table: single stages and the other vocabulary are named, without numbers."""
    from dataclasses import replace

    from sednn.reporting import prose
    from sednn.study import tables as report
    from sednn.study.run import Run

    out, _ = smoke_run
    run = Run.create("smoke", work_dir=out / "work", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                     device="cpu")
    run.profile = replace(run.profile, stage_variants=False, other_vocabulary=False)
    abl = report.ablation_table(run)
    missing = abl[abl.macro_auc.isna()]
    assert missing.group.tolist() == ["(d) single stage", "(f) other vocabulary"]
    assert missing.description.str.contains("not run in this profile").all()
    assert "not run in this profile" in prose.markdown_summary(abl)
    assert "(e) oracle-trained bound" in set(abl.group) and not abl.model.str.contains("@").any()


def test_a_profile_with_fewer_models_reports_only_them(smoke_run, tmp_path):
    """cpu_hr's knobs (one alternative, no argument ablations, no oracle training) on the smoke run's models."""
    from dataclasses import replace

    from sednn.core.plan import argument_ablations, main_models
    from sednn.core.profiles import PROFILES
    from sednn.study import classifiers as C
    from sednn.study import parsing
    from sednn.study import tables as report
    from sednn.study.run import Run

    out, _ = smoke_run
    run = Run.create("smoke", work_dir=out / "work", results_dir=tmp_path / "r", figures_dir=tmp_path / "f",
                     device="cpu")
    hr = PROFILES["cpu_hr"]
    run.profile = replace(run.profile, alternatives=hr.alternatives, argument_ablations=hr.argument_ablations,
                          oracle_training=hr.oracle_training, other_vocabulary=hr.other_vocabulary,
                          stage_variants=hr.stage_variants)
    assert main_models(run.profile) == ["baseline", "input_masking", "proposed"]
    assert C.best_alternative(run) == "input_masking" and argument_ablations(run.profile) == []
    assert parsing.vocabularies(run) == ["garments"]
    main = report.comparison_table(run, main_models(run.profile))
    assert main.model.tolist() == ["baseline", "input_masking", "proposed"]
    assert np.isfinite(main.set_index("model").loc["proposed", ["delta_ci_low", "delta_ci_high"]].astype(float)).all()
    abl = report.ablation_table(run)
    missing = abl[abl.macro_auc.isna()]
    assert missing.group.tolist() == ["(a) SE gate, no map", "(b) no gate", "(d) single stage",
                                      "(e) oracle-trained bound", "(f) other vocabulary"]
    assert missing.set_index("group").loc["(e) oracle-trained bound", "description"] == \
        "not run in this profile (cpu and gpu profiles only)"
    assert abl[abl.macro_auc.notna()].group.tolist() == ["main", "main", "(c) oracle at test time",
                                                         "(c) oracle at test time"]


def test_table_and_figure_across_resolutions(smoke_run, tmp_path):
    """Two profiles' results (the smoke run's, the second relabelled as a larger size) -> one main table with a
    resolution column, per-label changes that are differences of the two per-label tables, small items flagged."""
    import shutil

    from sednn.reporting import resolution

    out, _ = smoke_run
    root = tmp_path / "results"
    shutil.copytree(out / "results", root, ignore=shutil.ignore_patterns("notebooks"))
    shutil.copytree(out / "results", root / "cpu_hr", ignore=shutil.ignore_patterns("notebooks"))
    for name, hw, sub in [("cpu", [192, 128], root), ("cpu_hr", [288, 192], root / "cpu_hr")]:
        run = json.loads((sub / "RUN.json").read_text())
        run["profile"].update(name=name, image_hw=hw)
        (sub / "RUN.json").write_text(json.dumps(run))
    hi = pd.read_csv(root / "cpu_hr" / "per_label_auc.csv")
    hi.loc[(hi.model == "baseline") & (hi.label == "bag"), "auc"] += 0.1  # a known change
    hi.to_csv(root / "cpu_hr" / "per_label_auc.csv", index=False)
    assert resolution.available(root).keys() == {"cpu", "cpu_hr"}
    t = resolution.write(root, tmp_path / "figures")
    assert (t.groupby("model").resolution.apply(list) == [["192x128", "288x192"]] * 5).all()
    md = (root / "resolution_table.md").read_text()
    assert "resolution" in md.splitlines()[0]
    assert "The verdict on the `proposed` model holds at every resolution" in md  # identical runs: same claim
    assert "The verdict on the `input_masking` model holds at every resolution" in md  # every model at both sizes
    n_small = int(pd.read_csv(root / "resolution_per_label.csv").small_item.sum())
    assert n_small > 0 and f"on the {n_small} small items" in md
    per_label = pd.read_csv(root / "resolution_per_label.csv").set_index("label")
    assert per_label.loc["bag", "baseline 192x128 -> 288x192"] == pytest.approx(0.1)
    assert per_label.drop("bag")["baseline 192x128 -> 288x192"].abs().max() < 1e-12
    lo = pd.read_csv(root / "per_label_auc.csv").query("source == 'all'").pivot(index="label", columns="model",
                                                                                 values="auc")
    assert np.allclose(per_label["proposed - baseline at 192x128"], (lo.proposed - lo.baseline).loc[per_label.index],
                       equal_nan=True)
    assert per_label.small_item.sum() == len(set(resolution.SMALL_ITEMS) & set(per_label.index)) > 0
    assert (tmp_path / "figures" / "per_label_resolution.png").stat().st_size > 10_000


def test_other_profiles_write_beside_the_default_one():
    from sednn.core import paths

    assert paths.results_dir_for("cpu") == paths.RESULTS_DIR
    assert paths.results_dir_for("cpu_hr") == paths.RESULTS_DIR / "cpu_hr"
    assert paths.figures_dir_for("cpu_hr") == paths.FIGURES_DIR / "cpu_hr"


def test_map_quality_study_on_the_smoke_run(smoke_run):
    """Notebook 07 after the smoke run: every curve and control arm with both seeds, each condition's own map mIoU,
    the parser and ground-truth points those of ablation (e), and the generated sentence."""
    out, record = smoke_run
    assert "07_map_quality" in record["notebook_seconds"]
    study = pd.read_csv(out / "results" / "map_quality.csv")
    curve_conditions = ["predicted", "blend:0.25", "blend:0.5", "blend:0.75", "ground_truth",
                        "parser:efficientnet_lite2"]
    assert study.condition.tolist() == ["predicted", *curve_conditions, "predicted", "ground_truth", "presence",
                                        "foreground", "shuffled"]
    assert study.model.tolist() == ["baseline", *["proposed"] * 6, *["input_masking"] * 2, *["proposed"] * 3]
    curve = study[study.kind.isin(["parser", "blend", "ground truth"])]
    assert len(curve) == 8 and (curve.vocabulary == "regions").all() and (study.seeds == 2).all()
    prop = curve[curve.model == "proposed"].set_index("condition")
    miou = prop.loc[["predicted", "blend:0.25", "blend:0.5", "blend:0.75", "ground_truth"], "map_test_miou"]
    assert (miou.iloc[1:] > miou.iloc[0]).all() and miou["ground_truth"] > 0.6  # blends move toward the truth
    assert np.isfinite(study.query("model != 'baseline'")[["delta_ci_low", "delta_ci_high"]]).all().all()
    iou = pd.read_csv(out / "results" / "parser_iou.csv").query("vocabulary == 'regions' and split == 'test' and "
                                                                "`class` == 'mean (mIoU)'").set_index("parser")["iou"]
    assert np.isclose(prop.loc["predicted", "map_test_miou"], iou["efficientnet_lite0"])  # the same maps, scored alike
    assert np.isclose(prop.loc["parser:efficientnet_lite2", "map_test_miou"], iou["efficientnet_lite2"])
    abl = pd.read_csv(out / "results" / "ablations.csv").query("group == '(e) oracle-trained bound'")
    same = abl[(abl.model == "proposed")].set_index("maps")["macro_auc"]
    assert np.isclose(prop.loc["predicted", "macro_auc"], same["predicted"])  # the same arms as (e)
    assert np.isclose(prop.loc["ground_truth", "macro_auc"], same["ground truth (oracle-trained)"])
    seeds = pd.read_csv(out / "results" / "map_quality_per_seed.csv")  # the table's mean is the seeds' mean
    assert len(seeds) == 2 * len(study)
    means = seeds.groupby(["model", "condition"]).test_macro_auc.mean()
    for r in study.itertuples():
        assert np.isclose(means[(r.model, r.condition)], r.macro_auc)
    text = (out / "results" / "map_quality_verdict.md").read_text()
    assert text.startswith("**What in the map helps.**") and "presence" in text
    assert (out / "figures" / "map_quality.png").stat().st_size > 10_000


def test_a_partial_rerun_keeps_the_provenance_of_what_it_did_not_run(tmp_path):
    """A full run writes a table per notebook; a rerun of the first notebook only at another commit: RUN.json keeps
    the second notebook's commit and table, the README run line says the results come from two runs, and the
    table across resolutions dates the main table by the notebook that wrote it."""
    from sednn.core import provenance
    from sednn.reporting import blocks

    for name, table in (("01_a", "a.csv"), ("02_b", "main_table.csv")):
        write_notebook(tmp_path / "nbs" / f"{name}.ipynb", f"open(RESULTS_DIR + '/{table}', 'w').write('x\\n1\\n')",
                       parameters="RESULTS_DIR = None")
    kw = dict(notebooks_dir=tmp_path / "nbs", work_dir=tmp_path / "w", results_dir=tmp_path / "r",
              figures_dir=tmp_path / "f", device="cpu")
    runner.run_notebooks("smoke", notebooks=["01_a", "02_b"], **kw)
    first = json.loads((tmp_path / "r" / "RUN.json").read_text())
    assert [e["tables"] for e in first["notebooks"].values()] == [["a.csv"], ["main_table.csv"]]
    assert "runs**" not in blocks.run_line(tmp_path / "r")
    old = "0" * 40  # the first run, as if made at an earlier commit
    first["notebooks"]["02_b"]["git_commit"] = first["notebooks"]["01_a"]["git_commit"] = old
    (tmp_path / "r" / "RUN.json").write_text(json.dumps(first))
    record = runner.run_notebooks("smoke", notebooks=["01_a"], **kw)
    saved = json.loads((tmp_path / "r" / "RUN.json").read_text())
    assert list(saved["notebooks"]) == ["01_a", "02_b"]
    assert saved["notebooks"]["01_a"]["git_commit"] == record["git_commit"] != old
    assert saved["notebooks"]["02_b"]["git_commit"] == old
    assert provenance.made_by(saved, "main_table.csv")["git_commit"] == old
    assert provenance.runs(saved) == [(record["git_commit"], ["01_a"]), (old, ["02_b"])]
    assert f"These results come from 2 runs**: 01_a at `{record['git_commit'][:7]}`; 02_b at `0000000`" \
        in blocks.run_line(tmp_path / "r")


def test_the_carried_dataset_is_the_smoke_runs_rows_and_split(smoke_run, tmp_path):
    from sednn.pipeline import gpu_check

    manifest = gpu_check.prepare_data(tmp_path / "data")
    carried = pd.read_csv(manifest, dtype={"id": str}, keep_default_na=False)
    smoke, _ = smoke_run
    splits = pd.read_csv(smoke / "results" / "splits.csv", dtype={"id": str})
    assert carried[["id", "split"]].equals(splits[["id", "split"]])
    assert not carried.image_path.str.startswith("/").any() and (manifest.parent / carried.image_path[0]).exists()
    assert sorted(p.name for p in manifest.parent.glob("vocabulary-*.csv")) == ["vocabulary-garments.csv",
                                                                              "vocabulary-regions.csv"]
