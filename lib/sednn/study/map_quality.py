"""What in the map helps (notebook 07): the map-quality curve and the "which vs where" controls.

On the pixel-annotated rows, with the oracle vocabulary's maps (CCP: ``regions``), the proposed model is trained
and tested with maps of controlled quality (``sednn.study.map_conditions``): the parser's, blends toward the ground
truth, the ground truth, other encoders' parsers, and the three controls; input masking, where the profile trains
it, with the parser's maps and the ground truth (the arms: ``sednn.core.plan.Plan.map_quality_arms``). Every arm is
trained like the others (the model's chosen lr multiplier, every seed of the profile) and compared with the baseline
of the same rows; each condition's maps get their own measured test mIoU.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sednn.core import metrics as M
from sednn.core import scoring
from sednn.core.arms import Arm
from sednn.data.manifest import PIXEL_SOURCE
from sednn.study import classifiers as C
from sednn.study.parsing import confusion, iou_from_confusion
from sednn.study.run import Run
from sednn.study.tables import F1_COLUMNS, compare, scored_labels


def arms(run: Run) -> dict[str, Arm]:
    """Row name -> arm: the baseline, each curve model at each curve condition, the proposed model's controls
    (``sednn.core.plan.Plan.map_quality_arms``)."""
    return run.plan().map_quality_arms()


def map_miou(run: Run, arm: Arm) -> float:
    """Test mIoU of the maps ``arm`` sees (argmax class) against the ground truth at map size."""
    idx = C.arm_indices(run, arm, "test")
    idx = idx[run.table["source"].to_numpy()[idx] == PIXEL_SOURCE]
    maps = C.arm_maps(run, arm)
    k = run.vocab(arm.vocabulary).num_classes
    cm = confusion(run.gt_labels_at_map_size(arm.vocabulary)[idx], maps[idx].argmax(1), k)
    return float(np.nanmean(iou_from_confusion(cm)))


def table(run: Run) -> pd.DataFrame:
    """One row per arm: the comparison with the baseline of the same rows (``tables.compare``), the condition,
    its kind (parser, blend, ground truth, control), its maps' test mIoU and the positives a label needs there to be
    scored (``sednn.core.scoring``)."""
    named = arms(run)
    out = compare(run, named, named["baseline"])
    idx = C.arm_indices(run, named["baseline"], "test")
    out["model"] = [a.model for a in named.values()]
    out["condition"] = [str(a.maps) for a in named.values()]
    out["kind"] = ["none" if a.model == "baseline" else a.maps.kind for a in named.values()]
    out["map_test_miou"] = [np.nan if a.model == "baseline" else map_miou(run, a) for a in named.values()]
    out["images"] = len(idx)
    out["min_test_positives"] = scoring.min_test_positives(run.profile)
    cols = ["model", "condition", "kind", "vocabulary", "map_test_miou", "images", "labels", "min_test_positives",
            "seeds", "lr_mult", "macro_auc", "macro_auc_std", "map", *F1_COLUMNS, "delta_macro_auc", "delta_ci_low",
            "delta_ci_high", "rel_auc_improvement_pct", "rel_ci_low_pct", "rel_ci_high_pct"]
    return out[cols]


def per_seed(run: Run) -> pd.DataFrame:
    """Every arm's test macro AUC seed by seed: on the labels the test rows score (as the table) and on every
    target label, so that what the scoring rule changes is seen run by run."""
    named = arms(run)
    idx = C.arm_indices(run, named["baseline"], "test")
    y, scored = run.y[idx], scored_labels(run, idx)
    rows = []
    for arm in named.values():
        for seed in run.profile.seeds:
            scores = C.predictions(run, arm, seed)["test"]
            rows.append({"model": arm.model, "condition": str(arm.maps), "seed": seed,
                         "test_macro_auc": M.macro_auc(y[:, scored], scores[:, scored]),
                         "test_macro_auc_every_label": M.macro_auc(y, scores)})
    return pd.DataFrame(rows)


def presence_vs_oracle(run: Run) -> tuple[float, float, float]:
    """Macro AUC of the proposed model with ground-truth maps minus with presence-only maps, with the two-level
    bootstrap interval (same test images, seeds resampled), on the labels the test rows score."""
    named = arms(run)
    gt, presence = named["proposed (ground_truth)"], named["proposed (presence)"]
    idx = C.arm_indices(run, gt, "test")
    scored = scored_labels(run, idx)
    scores = [[C.predictions(run, a, s)["test"][:, scored] for s in run.profile.seeds] for a in (gt, presence)]
    return M.bootstrap_macro_auc_difference(run.y[idx][:, scored], *scores, run.profile.bootstrap, run.seed)
