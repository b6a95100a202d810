"""What in the map helps (notebook 07): the map-quality curve and the "which vs where" controls.

On the pixel-annotated rows, with the oracle vocabulary's maps (CCP: ``regions``), the proposed model is trained
and tested with maps of controlled quality (``sednn.map_conditions``): the parser's, blends toward the ground truth,
the ground truth, other encoders' parsers, and the three controls; input masking, where the profile trains it, with
the parser's maps and the ground truth. Every arm is trained
like the others (the model's chosen lr multiplier, every seed of the profile) and compared with the baseline of the
same rows; each condition's maps get their own measured test mIoU.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import classifiers as C
from . import data as D
from . import metrics as M
from .classifiers import Arm
from .experiment import Run
from .map_conditions import CONTROLS
from .parsing import confusion, iou_from_confusion
from .report import compare

LEVELS = (0.25, 0.5, 0.75)  # blend weights of the ground truth, strictly between the parser's maps and it
CURVE = ("predicted", *(f"blend:{a:g}" for a in LEVELS), "ground_truth")
# Input masking at the curve's ends only: each of its conditions costs a masked prefix store of every image and view
# besides its trainings. The ends are the arms of ablation (e), so a profile that runs (e) has them already.
ENDS = ("predicted", "ground_truth")
MASKING = "input_masking"


def curve_models(profile) -> list[str]:
    """The models trained along the curve: the proposed model, and input masking where the profile trains it (the
    ``map_quality`` profile does not: its conditions would add trainings beyond the study's budget on 2 cores)."""
    return ["proposed", *([MASKING] if MASKING in C.alternatives(profile) else [])]


def rows_kind(run: Run) -> str:
    """The arms' rows: every row where the run holds only pixel-annotated images (the ``map_quality`` profile), so
    its tuned arms are the study's parser points; else the pixel-annotated half (as ablation (e))."""
    return "all" if (run.table["source"] == D.PIXEL_SOURCE).all() else "pixel"


def conditions(run: Run, model: str = "proposed") -> list[str]:
    """The curve ``model`` is trained on: for the proposed model the parser's maps, the blends, the ground truth and
    the maps of the profile's other parsers; for input masking the ends."""
    if model != "proposed":
        return list(ENDS)
    return [*CURVE, *(f"parser:{b}" for b in run.profile.other_parsers)]


def arms(run: Run) -> dict[str, Arm]:
    """Row name -> arm: the baseline, each curve model at each curve condition, the proposed model's controls."""
    vocab, rows = run.oracle_vocabulary, rows_kind(run)
    out = {"baseline": Arm("baseline", vocab, "predicted", rows)}
    for model in curve_models(run.profile):
        out.update({f"{model} ({c})": Arm(model, vocab, c, rows) for c in conditions(run, model)})
    out.update({f"proposed ({c})": Arm("proposed", vocab, c, rows) for c in CONTROLS})
    return out


def map_miou(run: Run, arm: Arm) -> float:
    """Test mIoU of the maps ``arm`` sees (argmax class) against the ground truth at map size."""
    idx = C.arm_indices(run, arm, "test")
    idx = idx[run.table["source"].to_numpy()[idx] == D.PIXEL_SOURCE]
    maps = C.arm_maps(run, arm)
    k = run.vocab(arm.vocabulary).num_classes
    cm = confusion(run.gt_labels_at_map_size(arm.vocabulary)[idx], maps[idx].argmax(1), k)
    return float(np.nanmean(iou_from_confusion(cm)))


def kind(condition: str) -> str:
    if condition in CONTROLS:
        return "control"
    if condition == "predicted" or condition.startswith("parser:"):
        return "parser"
    return "ground truth" if condition == "ground_truth" else "blend"


def table(run: Run) -> pd.DataFrame:
    """One row per arm: the comparison with the baseline of the same rows (``report.compare``), the condition,
    its kind (parser, blend, ground truth, control) and its maps' test mIoU."""
    named = arms(run)
    out = compare(run, named, named["baseline"])
    out["model"] = [a.model for a in named.values()]
    out["condition"] = [a.maps for a in named.values()]
    out["kind"] = ["none" if a.model == "baseline" else kind(a.maps) for a in named.values()]
    out["map_test_miou"] = [np.nan if a.model == "baseline" else map_miou(run, a) for a in named.values()]
    out["images"] = len(C.arm_indices(run, named["baseline"], "test"))
    cols = ["model", "condition", "kind", "vocabulary", "map_test_miou", "images", "seeds", "lr_mult", "macro_auc",
            "macro_auc_std", "map", "delta_macro_auc", "delta_ci_low", "delta_ci_high", "rel_auc_improvement_pct"]
    return out[cols]


def presence_vs_oracle(run: Run) -> tuple[float, float, float]:
    """Macro AUC of the proposed model with ground-truth maps minus with presence-only maps, with the two-level
    bootstrap interval (same test images, seeds resampled)."""
    named = arms(run)
    gt, presence = named["proposed (ground_truth)"], named["proposed (presence)"]
    idx = C.arm_indices(run, gt, "test")
    scores = [[C.predictions(run, a, s)["test"] for s in run.profile.seeds] for a in (gt, presence)]
    return M.bootstrap_macro_auc_difference(run.y[idx], *scores, run.profile.bootstrap, run.seed)


def _delta(r) -> str:
    return f"Δ {r.delta_macro_auc:+.4f} [{r.delta_ci_low:+.4f}, {r.delta_ci_high:+.4f}]"


def sentence(study: pd.DataFrame, gt_minus_presence: tuple[float, float, float]) -> str:
    """The study in words, from its numbers: where on the curve the proposed model's gain first excludes 0, and
    whether presence-only maps match the oracle (label information) or not (the layout matters)."""
    prop = study[study["model"] == "proposed"].set_index("condition")
    curve = prop[prop["kind"] != "control"].sort_values("map_test_miou")
    below_gt = curve.drop(index="ground_truth")
    first = below_gt[below_gt["delta_ci_low"] > 0]
    gt = prop.loc["ground_truth"]
    if len(first):
        r = first.iloc[0]
        where = (f"The proposed model's gain over the baseline first excludes 0 at map test mIoU "
                 f"{r.map_test_miou:.2f} (`{r.name}`: {_delta(r)}); the parser's maps score "
                 f"{prop.loc['predicted', 'map_test_miou']:.2f}.")
    else:
        where = (f"Below ground truth the proposed model's gain never excludes 0 (maps up to test mIoU "
                 f"{below_gt['map_test_miou'].max():.2f}; the parser's {prop.loc['predicted', 'map_test_miou']:.2f}); "
                 f"with ground-truth maps (mIoU {gt.map_test_miou:.2f}) it is {_delta(gt)}.")
    pres = prop.loc["presence"]
    d, lo, hi = gt_minus_presence
    if lo > 0:
        which = (f"Presence-only maps ({_delta(pres)}) fall short of the ground truth by {d:+.4f} [{lo:+.4f}, "
                 f"{hi:+.4f}]: the oracle's gain is more than label information, so where the classes are matters.")
    elif pres.delta_ci_low > 0:
        which = (f"Presence-only maps ({_delta(pres)}) match the ground truth (difference {d:+.4f} [{lo:+.4f}, "
                 f"{hi:+.4f}]): the oracle's gain is label information, not spatial guidance.")
    else:
        which = (f"Neither presence-only maps ({_delta(pres)}) nor the difference to the ground truth ({d:+.4f} "
                 f"[{lo:+.4f}, {hi:+.4f}]) resolves whether the oracle's gain is label information or layout.")
    controls = "; ".join(f"{c}: {_delta(prop.loc[c])}" for c in CONTROLS)
    return f"**What in the map helps.** {where} {which} Controls for the proposed model: {controls}."
