"""Which labels a set of test images scores. A label with one to a few positive test images has an AUC that is
little more than the rank of those images, so it moves with every training run and no number of seeds settles it.
A label is therefore scored on a comparison's test images only where it has at least ``MIN_TEST_POSITIVES``
positive images among them: fixed from the labels alone, before any prediction is read, and the same for every
arm of the comparison. The rule is evaluation only: a trained model never depends on it (this module is not part
of the training code, ``sednn.training.fingerprint``).
"""
from __future__ import annotations

import numpy as np

from sednn.core.profiles import TEST_PROFILES, Profile

MIN_TEST_POSITIVES = 10
# The test profiles' test splits hold a handful of images: every label with a positive image is scored there, so
# that each table's path runs (tests check the rule itself on its own).
TEST_PROFILE_MIN_TEST_POSITIVES = 1


def min_test_positives(profile: Profile) -> int:
    """The positive test images a label needs to be scored in ``profile``'s tables."""
    return TEST_PROFILE_MIN_TEST_POSITIVES if profile.name in TEST_PROFILES else MIN_TEST_POSITIVES


def scored_labels(y_true: np.ndarray, min_positives: int) -> np.ndarray:
    """(N, L) 0/1 labels of the test images -> (L,) bool: the labels with at least ``min_positives`` positive
    images among them (and at least one negative: a label on every image has no AUC)."""
    y_true = np.asarray(y_true)
    if y_true.ndim != 2:
        raise ValueError(f"y_true must be (images, labels), got shape {y_true.shape}")
    if min_positives < 1:
        raise ValueError(f"min_positives must be at least 1, got {min_positives}")
    positives = y_true.sum(0)
    return (positives >= min_positives) & (positives < len(y_true))
