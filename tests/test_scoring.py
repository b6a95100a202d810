"""Which labels a set of test images scores (sednn.core.scoring), and what that rule leaves alone."""
import numpy as np
import pandas as pd
import pytest

from sednn.core import paths, scoring
from sednn.core.profiles import PROFILES, TEST_PROFILES
from sednn.training.fingerprint import PACKAGE_DIR, training_files


def test_a_label_is_scored_with_enough_positives_and_at_least_one_negative():
    y = np.zeros((12, 5), int)
    y[:2, 1] = 1  # 2 positives
    y[:10, 2] = 1  # 10 positives
    y[:, 3] = 1  # on every image: no negative, no AUC
    y[:9, 4] = 1  # 9 positives
    assert scoring.scored_labels(y, 10).tolist() == [False, False, True, False, False]
    assert scoring.scored_labels(y, 2).tolist() == [False, True, True, False, True]
    assert scoring.scored_labels(y, 1).tolist() == [False, True, True, False, True]


def test_bad_input_is_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match="images, labels"):
        scoring.scored_labels(np.zeros(5), 10)
    with pytest.raises(ValueError, match="at least 1"):
        scoring.scored_labels(np.zeros((5, 2)), 0)


def test_every_profile_that_is_committed_scores_at_ten_positives_and_the_test_profiles_at_one():
    for name, profile in PROFILES.items():
        expected = scoring.TEST_PROFILE_MIN_TEST_POSITIVES if name in TEST_PROFILES else 10
        assert scoring.min_test_positives(profile) == expected, name


def test_the_rule_is_evaluation_only_so_changing_it_retrains_nothing():
    """The checkpoints' code fingerprint covers the training code: the scoring rule and the tables that apply it
    stay outside it."""
    trained = {f.relative_to(PACKAGE_DIR).as_posix() for f in training_files()}
    assert "core/metrics.py" in trained  # validation scores during training: part of it
    assert not {"core/scoring.py", "study/tables.py", "study/map_quality.py", "study/cam.py"} & trained


def committed_labels(profile: str) -> pd.DataFrame:
    return pd.read_csv(paths.results_dir_for(profile) / "labels.csv")


def test_on_all_ccp_test_images_every_target_label_is_scored():
    """The full-data comparisons keep every target label: their tables are what they were before the rule."""
    labels = committed_labels("cpu")
    assert (labels.positives_test >= scoring.MIN_TEST_POSITIVES).all()


def test_the_map_quality_study_scores_the_pixel_test_labels_with_ten_positives():
    labels = committed_labels("map_quality")
    study = pd.read_csv(paths.RESULTS_DIR / "map_quality" / "map_quality.csv")
    scored = int((labels.positives_test >= scoring.MIN_TEST_POSITIVES).sum())
    assert 0 < scored < len(labels)  # CCP's pixel half: some of the 42 targets have one to nine test positives
    assert (study["labels"] == scored).all() and (study["min_test_positives"] == scoring.MIN_TEST_POSITIVES).all()
