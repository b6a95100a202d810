"""Multi-label metrics. A label with no positives or no negatives has no AUC: it is NaN and
reported as such, never 0, and it is left out of macro averages.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)


def _defined(y_true: np.ndarray) -> np.ndarray:
    pos = y_true.sum(0)
    return (pos > 0) & (pos < len(y_true))


def per_label_auc(y_true: np.ndarray, scores: np.ndarray, labels: list[str] | None = None) -> pd.DataFrame:
    """ROC AUC and AP per label with positive/negative counts (scikit-learn; NaN when undefined)."""
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    if y_true.shape != scores.shape:
        raise ValueError(f"y_true {y_true.shape} and scores {scores.shape} differ in shape")
    labels = labels or [str(i) for i in range(y_true.shape[1])]
    ok = _defined(y_true)
    rows = []
    for j, name in enumerate(labels):
        yt, s = y_true[:, j], scores[:, j]
        rows.append({"label": name, "auc": roc_auc_score(yt, s) if ok[j] else np.nan,
                     "ap": average_precision_score(yt, s) if ok[j] else np.nan,
                     "n_pos": int(yt.sum()), "n_neg": int(len(yt) - yt.sum())})
    return pd.DataFrame(rows)


def macro_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean ROC AUC over labels that have both positives and negatives (NaN if none has)."""
    auc = auc_by_ranks(np.asarray(y_true), np.asarray(scores))
    return float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan")


def mean_ap(y_true: np.ndarray, scores: np.ndarray) -> float:
    ap = per_label_auc(y_true, scores)["ap"]
    return float(ap.mean()) if ap.notna().any() else float("nan")


def auc_by_ranks(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-label ROC AUC via the Mann-Whitney U statistic, vectorised over labels (and a leading
    batch axis, for the bootstrap). Equals scikit-learn's value, ties included (tests check it).

    y_true, scores: (..., N, L) -> (..., L), NaN where a label lacks positives or negatives.
    """
    y_true = np.asarray(y_true, dtype=bool)
    ranks = rankdata(scores, axis=-2)  # average ranks for ties
    n_pos = y_true.sum(-2)
    n_neg = y_true.shape[-2] - n_pos
    u = (ranks * y_true).sum(-2) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def relative_improvement(auc_model: np.ndarray, auc_base: np.ndarray) -> float:
    """The paper's headline: mean over labels of (AUC_model - AUC_base) / AUC_base (labels defined for both)."""
    a, b = np.asarray(auc_model, float), np.asarray(auc_base, float)
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    return float(np.mean((a[ok] - b[ok]) / b[ok])) if ok.any() else float("nan")


def relative_improvements(auc_model: np.ndarray, auc_base: np.ndarray) -> np.ndarray:
    """``relative_improvement`` along the last axis: (..., L), (..., L) -> (...)."""
    a, b = np.asarray(auc_model, float), np.asarray(auc_base, float)
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(ok, (a - b) / np.where(ok, b, 1.0), 0.0)
        return np.where(ok.any(-1), rel.sum(-1) / ok.sum(-1), np.nan)


@dataclass(frozen=True)
class BootstrapComparison:
    """A model against the baseline: observed values and two-level bootstrap 95 % intervals."""

    delta_macro_auc: float
    delta_low: float
    delta_high: float
    rel_auc_improvement: float  # the paper's metric (a fraction; x100 for %)
    rel_low: float
    rel_high: float


def bootstrap_comparison(y_true: np.ndarray, scores_model: list[np.ndarray], scores_base: list[np.ndarray],
                         n_resamples: int, seed: int, resample_seeds: bool = True,
                         chunk: int = 50) -> BootstrapComparison:
    """Two-level paired bootstrap of seed-mean macro AUC(model) - seed-mean macro AUC(baseline), and of the paper's
    average relative per-label AUC change (per label, the seed-mean AUCs of the same resample).

    Each resample draws test images with replacement (the same images for both sides) and, with
    ``resample_seeds``, each side's training runs (seeds) with replacement, so the interval covers both the
    sampling of test images and the spread between training runs. With one seed per side, or seeds that agree,
    it equals the image-only bootstrap (the image draws come from their own generator).
    """
    y_true = np.asarray(y_true)
    image_rng, seed_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])

    def per_run_auc(y, scores_list):  # y: (R, N, L), each score: (R, N, L) -> (R, S, L)
        return np.stack([auc_by_ranks(y, s) for s in scores_list], 1)

    def seed_pick(per_run):  # (R, S, L) -> (R, S, L): a resample of the runs, the same for every label
        if not resample_seeds:
            return per_run
        pick = seed_rng.integers(0, per_run.shape[1], size=per_run.shape[:2])
        return np.take_along_axis(per_run, pick[..., None], 1)

    def auc_of(scores_list):
        return np.mean([per_label_auc(y_true, s)["auc"] for s in scores_list], 0)

    observed = (np.mean([macro_auc(y_true, s) for s in scores_model])
                - np.mean([macro_auc(y_true, s) for s in scores_base]))
    observed_rel = relative_improvement(auc_of(scores_model), auc_of(scores_base))
    diffs, rels = [], []
    n = len(y_true)
    for start in range(0, n_resamples, chunk):
        idx = image_rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        y = y_true[idx]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples of rare labels
            model = seed_pick(per_run_auc(y, [s[idx] for s in scores_model]))
            base = seed_pick(per_run_auc(y, [s[idx] for s in scores_base]))
            diffs.append(np.nanmean(model, -1).mean(-1) - np.nanmean(base, -1).mean(-1))
            rels.append(relative_improvements(np.nanmean(model, 1), np.nanmean(base, 1)))

    def interval(values):
        values = np.concatenate(values)
        values = values[np.isfinite(values)]
        return tuple(float(v) for v in np.percentile(values, [2.5, 97.5])) if len(values) else (np.nan, np.nan)

    return BootstrapComparison(float(observed), *interval(diffs), float(observed_rel), *interval(rels))


def bootstrap_macro_auc_difference(y_true: np.ndarray, scores_model: list[np.ndarray],
                                   scores_base: list[np.ndarray], n_resamples: int, seed: int,
                                   resample_seeds: bool = True, chunk: int = 50) -> tuple[float, float, float]:
    """(observed difference, 2.5 %, 97.5 %) of ``bootstrap_comparison``'s macro AUC."""
    b = bootstrap_comparison(y_true, scores_model, scores_base, n_resamples, seed, resample_seeds, chunk)
    return b.delta_macro_auc, b.delta_low, b.delta_high


# --------------------------------------------------------------------------- F1 at validation thresholds
def f1_thresholds(y_val: np.ndarray, scores_val: np.ndarray) -> np.ndarray:
    """Per label, the score threshold with the best F1 on the validation split (predict positive at
    ``score >= threshold``); 0.5 for a label without validation positives. Never chosen on test."""
    y_val, scores_val = np.asarray(y_val), np.asarray(scores_val)
    out = np.full(y_val.shape[1], 0.5)
    for j in range(y_val.shape[1]):
        if y_val[:, j].sum() == 0:
            continue
        precision, recall, thresholds = precision_recall_curve(y_val[:, j], scores_val[:, j])
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.nan_to_num(2 * precision * recall / (precision + recall))[:-1]  # the last point has no threshold
        out[j] = thresholds[int(np.argmax(f1))]
    return out


def thresholded_f1(y_true: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> dict:
    """The multi-label F1s of the field at given thresholds: per-class precision and recall averaged over labels
    (CP, CR) and their harmonic mean (CF1); overall precision, recall and F1 over every (image, label) decision
    (OP, OR, OF1). A label never predicted positive has precision 0; one without a positive image has no recall
    (NaN, left out of CR, as an undefined AUC is left out of the macro AUC)."""
    y_true = np.asarray(y_true).astype(int)
    pred = (np.asarray(scores) >= np.asarray(thresholds)[None]).astype(int)
    p, _, _, _ = precision_recall_fscore_support(y_true, pred, average=None, zero_division=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # recall of a label without positives: NaN by design
        _, r, _, _ = precision_recall_fscore_support(y_true, pred, average=None, zero_division=np.nan)
    op, orec, of1, _ = precision_recall_fscore_support(y_true, pred, average="micro", zero_division=0)
    cp = float(np.mean(p))
    cr = float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")
    return {"cp": cp, "cr": cr, "cf1": 2 * cp * cr / (cp + cr) if cp + cr > 0 else 0.0,
            "op": float(op), "or": float(orec), "of1": float(of1), "precision": p, "recall": r}


def summarize(y_true: np.ndarray, scores: np.ndarray, sources: np.ndarray) -> dict:
    """Macro AUC and mAP on all images and broken down by annotation source."""
    out = {"macro_auc": macro_auc(y_true, scores), "map": mean_ap(y_true, scores)}
    for src in sorted(set(sources)):
        sel = sources == src
        out[f"macro_auc_{src}"] = macro_auc(y_true[sel], scores[sel])
        out[f"map_{src}"] = mean_ap(y_true[sel], scores[sel])
    return out
