"""The map-quality study: each map condition keeps what it claims to keep, and its sentence follows the numbers."""
import numpy as np
import pandas as pd
import pytest

from sednn.core.arms import Arm, MapCondition
from sednn.core.plan import curve_models
from sednn.reporting.prose import map_quality_summary
from sednn.study import map_conditions as MC


@pytest.fixture
def maps():
    """Two kinds of soft maps (N=6, K=4, 8x6): one-hot 'ground truth' and random 'parser' probabilities."""
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, (6, 8, 6))
    gt = (np.eye(4)[classes].transpose(0, 3, 1, 2) * 255).astype(np.uint8)
    p = rng.random((6, 4, 8, 6))
    parser = np.round(255 * p / p.sum(1, keepdims=True)).astype(np.uint8)
    return gt, parser


def test_blends_run_from_the_parser_to_the_ground_truth(maps):
    gt, parser = maps
    assert np.array_equal(MC.blend(gt, parser, 0), parser) and np.array_equal(MC.blend(gt, parser, 1), gt)
    half = MC.blend(gt, parser, 0.5).astype(int)
    assert np.abs(half - (gt.astype(int) + parser) / 2).max() <= 0.5
    with pytest.raises(ValueError, match="outside"):
        MC.blend(gt, parser, 1.5)


def test_presence_keeps_which_classes_and_drops_the_layout(maps):
    gt, _ = maps
    p = MC.presence(gt)
    assert (p == p[:, :, :1, :1]).all()  # the same at every position
    share = gt.astype(float).mean((2, 3))
    assert np.abs(p[:, :, 0, 0] - share).max() <= 0.5


def test_foreground_keeps_where_and_drops_which(maps):
    gt, _ = maps
    f = MC.foreground(gt)
    assert np.array_equal(f[:, 0], gt[:, 0])  # background as it is
    assert (f[:, 1:] == f[:, 1:2]).all()  # every other class alike
    assert np.abs(f[:, 1].astype(int) * 3 - (gt[:, 1:].sum(1).astype(int))).max() <= 2


def test_shuffled_gives_every_row_another_rows_map_within_its_group(maps):
    gt, _ = maps
    groups = [np.array([0, 2, 4]), np.array([1, 5])]
    s = MC.shuffled(gt, groups, seed=3)
    assert np.array_equal(s[3], gt[3])  # outside every group: unchanged
    for rows in groups:
        for r in rows:
            donor = [d for d in rows if np.array_equal(s[r], gt[d])]
            assert donor and r not in donor
    assert np.array_equal(s, MC.shuffled(gt, groups, seed=3))  # fixed by the seed
    with pytest.raises(ValueError, match="at least two"):
        MC.shuffled(gt, [np.array([1])], 0)


def test_every_condition_has_its_kind():
    names = ("predicted", "parser:efficientnet_lite2", "blend:0.5", "ground_truth", "presence")
    assert [MapCondition.parse(c).kind for c in names] == ["parser", "parser", "blend", "ground truth", "control"]


def test_conditions_by_name_and_their_checkpoint_names(maps):
    gt, parser = maps
    groups = [np.arange(6)]
    def made(text):
        return MC.condition_maps(MapCondition.parse(text), gt, parser, groups, 0)

    assert made("predicted") is parser and made("ground_truth") is gt
    assert np.array_equal(made("blend:0.25"), MC.blend(gt, parser, 0.25))
    with pytest.raises(ValueError, match="unknown map condition 'noise'"):
        MapCondition.parse("noise")
    with pytest.raises(ValueError, match="a blend has a weight"):
        MapCondition("blend")
    with pytest.raises(ValueError, match="not made from the ground truth"):
        made("parser:efficientnet_lite2")  # another parser's maps are that parser's own
    assert [str(MapCondition.parse(t)) for t in ("blend:0.25", "parser:efficientnet_lite2", "shuffled")] \
        == ["blend:0.25", "parser:efficientnet_lite2", "shuffled"]
    blend = MapCondition.parse("blend:0.25")
    assert Arm("proposed", "regions", blend, "pixel", 1.0).key(1) == "proposed-regions-blend-0.25-pixel-m1_s1"
    assert Arm("proposed", "regions", MapCondition("ground_truth"), "pixel", 1.0).key(0) \
        == "proposed-regions-gt-pixel-m1_s0"
    assert Arm("proposed", "garments", stages=(2,), lr_mult=10.0).key(0) == "proposedat2-garments-m10_s0"


def study(curve_lows, presence, gt=(0.06, 0.02, 0.10)):
    """A study table: the proposed model's curve (mIoU 0.5 .. 0.95) and its controls."""
    rows = []
    for (cond, miou), lo in zip([("predicted", 0.5), ("blend:0.25", 0.6), ("blend:0.5", 0.7), ("blend:0.75", 0.8)],
                                curve_lows):
        rows.append(("proposed", cond, miou, lo + 0.02, lo, lo + 0.04))
    rows.append(("proposed", "ground_truth", 0.95, *gt))
    rows.append(("proposed", "presence", 0.1, *presence))
    rows += [("proposed", c, 0.2, 0.0, -0.03, 0.03) for c in ("foreground", "shuffled")]
    table = pd.DataFrame(rows, columns=["model", "condition", "map_test_miou", "delta_macro_auc", "delta_ci_low",
                                        "delta_ci_high"])
    return table.assign(kind=[MapCondition.parse(c).kind for c in table.condition], seeds=7, labels=25,
                        min_test_positives=10)


def test_the_sentence_names_where_the_gain_first_excludes_zero_or_that_it_never_does():
    s = map_quality_summary(study([-0.05, -0.02, 0.01, 0.02], (0.0, -0.02, 0.02)), (0.06, 0.02, 0.1))
    assert "first excludes 0 at map test mIoU 0.70 (`blend:0.5`" in s
    assert s.endswith("With 7 seeds per arm, on the 25 labels with at least 10 positive test images, the intervals' "
                      "half-widths run from 0.020 to 0.040.")
    s = map_quality_summary(study([-0.05, -0.04, -0.03, -0.02], (0.0, -0.02, 0.02)), (0.06, 0.02, 0.1))
    assert "Below ground truth the proposed model's gain never excludes 0" in s and "mIoU 0.95" in s
    seeds = pd.DataFrame({"model": ["baseline"] * 3 + ["proposed"] * 3, "test_macro_auc": [0.60, 0.62, 0.64] * 2,
                          "test_macro_auc_every_label": [0.60, 0.70, 0.65] * 2})
    s = map_quality_summary(study([-0.05, -0.04, -0.03, -0.02], (0.0, -0.02, 0.02)), (0.06, 0.02, 0.1), seeds)
    assert s.endswith("The baseline's test macro AUC has a seed std of 0.0163 on those labels (0.0408 on every "
                      "target label).")


def test_the_sentence_says_label_information_only_when_presence_matches_the_oracle():
    matches = map_quality_summary(study([-0.05] * 4, (0.05, 0.01, 0.09)), (0.01, -0.02, 0.04))
    assert "the oracle's gain is label information, not spatial guidance" in matches
    short = map_quality_summary(study([-0.05] * 4, (0.0, -0.02, 0.02)), (0.06, 0.02, 0.1))
    assert "more than label information, so where the classes are matters" in short
    unresolved = map_quality_summary(study([-0.05] * 4, (0.0, -0.02, 0.02)), (0.01, -0.02, 0.04))
    assert "Neither presence-only maps" in unresolved


def test_input_masking_joins_the_curve_only_where_the_profile_trains_it():
    from sednn.core.profiles import get_profile

    assert curve_models(get_profile("cpu")) == ["proposed", "input_masking"]
    assert curve_models(get_profile("map_quality")) == ["proposed"]  # its ends are the cpu run's ablation (e)
    assert curve_models(get_profile("cpu", alternatives=("late_fusion",))) == ["proposed"]
