"""The work a profile is, and its projected time from measured rates, checked against a measured run."""
import numpy as np
import pandas as pd
import pytest

from sednn.core import paths, workload
from sednn.core.profiles import PROFILES


def test_the_gpu_profile_is_86_classifier_trainings_and_6_parsers():
    """Tuning grid 3 lr x 3 seeds for 7 models (63), 2 single-stage variants, 15 oracle-trained and 6
    other-vocabulary trainings; 2 vocabularies x 3 lrs of parsers; about 2.5 M training passes at 384x256 (the
    oracle-trained arms on the pixel half run 44 epochs: the full data's steps)."""
    s = workload.summary(PROFILES["gpu"])
    assert s["classifier_trainings"] == 63 + 2 + 15 + 6 == 86 and s["parser_trainings"] == 6
    assert s["image_hw"] == "384x256" and s["epochs"] == 20
    assert 2.5e6 < s["training_passes"] < 2.6e6
    w = workload.work(PROFILES["gpu"])
    assert (w.loc[w.model == "parser", "image_hw"] == "384x256").all()
    assert not (w.model == workload.PREFIX).any()  # nothing frozen: no stored prefix


def test_the_cpu_profile_counts_its_prefix_stores_and_its_parser_at_its_own_size():
    w = workload.work(PROFILES["cpu"])
    stores = w[w.model == workload.PREFIX]
    # photos at both sizes; photos masked with garments (04), regions predicted and ground truth (05), and
    # the other vocabulary's maps (05): every image x 8 views each
    views = len(workload.default_splits()) * 8
    assert stores.groupby("notebook").images.sum().to_dict() == {
        "01_data_prep": views, "02_semantic_maps": views, "04_alternatives": views, "05_proposed": 3 * views}
    assert set(w.loc[w.model == "parser", "image_hw"]) == {"288x192"}
    # one training of the parser: 20 epochs of the 699 train pixel images in full batches of 32
    parser_train = w.query("model == 'parser' and `pass` == 'train'").images.sum()
    assert parser_train == 2 * 2 * 20 * (699 // 32) * 32


def test_a_subsampled_profile_needs_its_own_split():
    with pytest.raises(ValueError, match="pass its splits table"):
        workload.work(PROFILES["smoke"])


def test_the_projection_holds_against_a_measured_run():
    """cpu_hr's committed benchmark (no parser row then) and its measured run, on the same kind of CPU: the
    classifier notebooks' projected time is within 10 % of the measured one, notebook by notebook."""
    study = paths.RESULTS_DIR / "cpu_hr_bench"
    bench = pd.read_csv(study / "bench.csv")
    projected = workload.projection(PROFILES["cpu_hr"], bench, notebooks=("03_baseline", "04_alternatives",
                                                                           "05_proposed"))
    check = workload.against_run(projected, study / "RUN.json")
    assert check.cpu_model.iloc[0] == "Intel(R) Xeon(R) Processor" and check.run_commit.iloc[0].startswith("699a187")
    assert check.measured_over_projected.between(0.9, 1.1).all(), check


def test_projection_is_work_over_rates_and_names_a_missing_rate():
    prof = PROFILES["gpu"]
    w = workload.work(prof)
    models = sorted(set(w.model))
    bench = pd.DataFrame({"model": models, "image_hw": "384x256", "train_img_per_s": 1000.0,
                          "infer_img_per_s": 4000.0})
    p = workload.projection(prof, bench).set_index("notebook")
    train, infer = w.groupby("pass").images.sum()[["train", "infer"]]
    assert np.isclose(p.loc["all projected", "projected_s"], train / 1000 + infer / 4000)
    assert p.loc["all projected", "trainings"] == 92
    with pytest.raises(KeyError, match="no train rate for 'parser' at 384x256"):
        workload.projection(prof, bench[bench.model != "parser"])
