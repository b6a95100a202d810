"""Metrics against scikit-learn on random data; undefined AUCs are NaN, never 0."""
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from sednn.core import metrics as M


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 6)) < [0.1, 0.3, 0.5, 0.05, 0.0, 1.0]).astype(int)  # label 4: no positives, 5: no negatives
    scores = np.round(rng.random((200, 6)) + 0.4 * y, 1)  # rounding makes ties
    return y, scores


def test_per_label_auc_and_ap_match_sklearn(data):
    y, s = data
    table = M.per_label_auc(y, s)
    for j in range(4):
        assert table.auc[j] == pytest.approx(roc_auc_score(y[:, j], s[:, j]))
        assert table.ap[j] == pytest.approx(average_precision_score(y[:, j], s[:, j]))
    assert np.isnan(table.auc[4]) and np.isnan(table.auc[5]) and np.isnan(table.ap[4])
    assert table.n_pos.tolist() == y.sum(0).tolist() and (table.n_pos + table.n_neg == 200).all()


def test_rank_auc_equals_sklearn_with_ties(data):
    y, s = data
    fast = M.auc_by_ranks(y, s)
    assert np.allclose(fast[:4], [roc_auc_score(y[:, j], s[:, j]) for j in range(4)])
    assert np.isnan(fast[4:]).all()


def test_macro_auc_and_map_skip_undefined_labels(data):
    y, s = data
    assert M.macro_auc(y, s) == pytest.approx(np.mean([roc_auc_score(y[:, j], s[:, j]) for j in range(4)]))
    assert M.mean_ap(y, s) == pytest.approx(np.mean([average_precision_score(y[:, j], s[:, j]) for j in range(4)]))
    assert np.isnan(M.macro_auc(np.zeros((5, 2)), np.ones((5, 2))))


def test_relative_improvement_is_the_papers_formula():
    base, model = np.array([0.5, 0.8, np.nan]), np.array([0.6, 0.8, 0.9])
    assert M.relative_improvement(model, base) == pytest.approx(np.mean([0.1 / 0.5, 0.0]))


def test_bootstrap_interval_brackets_the_difference(data):
    y, s = data
    y, s = y[:, :4], s[:, :4]
    noisy = s + np.random.default_rng(1).normal(0, 0.5, s.shape)
    d, lo, hi = M.bootstrap_macro_auc_difference(y, [s], [noisy], 300, seed=0)
    assert d == pytest.approx(M.macro_auc(y, s) - M.macro_auc(y, noisy))
    assert lo < d < hi and lo > 0  # the clean scores are clearly better
    d0, lo0, hi0 = M.bootstrap_macro_auc_difference(y, [s], [s], 100, seed=0)
    assert d0 == lo0 == hi0 == 0


def test_summarize_breaks_down_by_source(data):
    y, s = data
    src = np.array(["pixel", "tags"] * 100)
    out = M.summarize(y, s, src)
    assert out["macro_auc_pixel"] == pytest.approx(M.macro_auc(y[src == "pixel"], s[src == "pixel"]))
    assert set(out) == {"macro_auc", "map", "macro_auc_pixel", "map_pixel", "macro_auc_tags", "map_tags"}


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        M.per_label_auc(np.zeros((3, 2)), np.zeros((3, 3)))


def _three_seed_scores(y, spread, seed=0):
    """Three training runs of a model (``spread``: how much their signal differs) and of a baseline."""
    rng = np.random.default_rng(seed)
    noise, base_noise = rng.random(y.shape), rng.random(y.shape)
    model = [y * (0.5 + spread * k) + noise for k in (-1, 0, 1)]
    base = [y * 0.5 + base_noise] * 3
    return model, base


def test_two_level_bootstrap_widens_when_seeds_disagree(data):
    y = data[0]
    agree, base = _three_seed_scores(y, 0.0)
    disagree, _ = _three_seed_scores(y, 0.4)
    _, lo_a, hi_a = M.bootstrap_macro_auc_difference(y, agree, base, 300, seed=0)
    _, lo_d, hi_d = M.bootstrap_macro_auc_difference(y, disagree, base, 300, seed=0)
    assert hi_d - lo_d > 1.5 * (hi_a - lo_a)
    _, lo_i, hi_i = M.bootstrap_macro_auc_difference(y, disagree, base, 300, seed=0, resample_seeds=False)
    assert hi_d - lo_d > hi_i - lo_i  # the spread between training runs is in the interval, not only the images


def test_two_level_bootstrap_with_identical_seeds_is_the_image_bootstrap(data):
    y, s = data[0], data[1]
    noisy = np.clip(s + np.random.default_rng(1).normal(0, 0.3, s.shape), 0, 1)
    single = M.bootstrap_macro_auc_difference(y, [s], [noisy], 200, seed=3, resample_seeds=False)
    repeated = M.bootstrap_macro_auc_difference(y, [s, s, s], [noisy, noisy], 200, seed=3)
    assert np.allclose(single, repeated)


def test_training_epochs_give_every_arm_the_full_splits_optimizer_steps():
    from sednn.core.epochs import steps_per_epoch, training_epochs

    # the cpu profile: 1453 training images, 699 of them pixel-annotated, batches of 32
    assert training_epochs(8, 1453, 1453, 32) == 8
    assert training_epochs(8, 1453, 699, 32) == 17  # 17 x 21 = 357 steps against 8 x 45 = 360
    assert abs(17 * steps_per_epoch(699, 32) - 8 * steps_per_epoch(1453, 32)) < steps_per_epoch(699, 32)
    assert training_epochs(1, 40, 10, 16) == 2 and training_epochs(1, 10, 10, 16) == 1


def test_the_bootstrap_interval_of_the_papers_metric(data):
    y, s = data
    y, s = y[:, :4], s[:, :4]
    rng = np.random.default_rng(1)
    noisy = [s + rng.normal(0, 0.5, s.shape) for _ in range(3)]
    clean = [s + rng.normal(0, 0.05, s.shape) for _ in range(3)]
    b = M.bootstrap_comparison(y, clean, noisy, 300, seed=0)
    per_label = [np.mean([M.per_label_auc(y, x)["auc"] for x in xs], 0) for xs in (clean, noisy)]
    assert b.rel_auc_improvement == pytest.approx(M.relative_improvement(*per_label))
    assert 0 < b.rel_low < b.rel_auc_improvement < b.rel_high
    assert (b.delta_macro_auc, b.delta_low, b.delta_high) == M.bootstrap_macro_auc_difference(y, clean, noisy, 300, 0)
    same = M.bootstrap_comparison(y, clean, clean, 50, seed=0)
    assert same.rel_auc_improvement == 0 and same.rel_low <= 0 <= same.rel_high


def test_relative_improvements_along_the_last_axis_match_the_papers_formula():
    base = np.array([[0.5, 0.8, np.nan], [0.6, np.nan, np.nan]])
    model = np.array([[0.6, 0.8, 0.9], [0.9, 0.7, np.nan]])
    out = M.relative_improvements(model, base)
    assert out == pytest.approx([M.relative_improvement(m, b) for m, b in zip(model, base)])
    assert np.isnan(M.relative_improvements(np.array([np.nan]), np.array([0.5])))


def test_f1_thresholds_are_the_best_validation_f1_and_cf1_of1_match_sklearn(data):
    from sklearn.metrics import f1_score, precision_score, recall_score

    y, s = data
    y, s = y[:, :4], s[:, :4]
    th = M.f1_thresholds(y[:100], s[:100])
    for j in range(4):  # no other threshold among the scores does better on validation
        best = f1_score(y[:100, j], s[:100, j] >= th[j])
        assert all(f1_score(y[:100, j], s[:100, j] >= t) <= best + 1e-12 for t in np.unique(s[:100, j]))
    out = M.thresholded_f1(y[100:], s[100:], th)
    pred = s[100:] >= th
    assert out["of1"] == pytest.approx(f1_score(y[100:], pred, average="micro"))
    assert out["op"] == pytest.approx(precision_score(y[100:], pred, average="micro"))
    assert out["cp"] == pytest.approx(precision_score(y[100:], pred, average="macro", zero_division=0))
    assert out["cr"] == pytest.approx(recall_score(y[100:], pred, average="macro", zero_division=0))
    assert out["cf1"] == pytest.approx(2 * out["cp"] * out["cr"] / (out["cp"] + out["cr"]))
    assert M.f1_thresholds(np.zeros((5, 1)), np.ones((5, 1))).tolist() == [0.5]  # no positive: 0.5
    none = M.thresholded_f1(np.array([[0, 1], [0, 0]]), np.array([[0.9, 0.1], [0.1, 0.2]]), np.array([0.5, 0.5]))
    assert np.isnan(none["recall"][0]) and none["cr"] == 0.0 and none["precision"].tolist() == [0.0, 0.0]
