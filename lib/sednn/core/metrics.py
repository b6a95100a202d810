"""Multi-label metrics. A label with no positives or no negatives has no AUC: it is NaN and
reported as such, never 0, and it is left out of macro averages.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score


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


def bootstrap_macro_auc_difference(y_true: np.ndarray, scores_model: list[np.ndarray],
                                   scores_base: list[np.ndarray], n_resamples: int, seed: int,
                                   resample_seeds: bool = True, chunk: int = 50) -> tuple[float, float, float]:
    """Two-level paired bootstrap of seed-mean macro AUC(model) - seed-mean macro AUC(baseline).

    Each resample draws test images with replacement (the same images for both sides) and, with
    ``resample_seeds``, each side's training runs (seeds) with replacement, so the interval covers both the
    sampling of test images and the spread between training runs. With one seed per side, or seeds that agree,
    it equals the image-only bootstrap (the image draws come from their own generator).
    Returns (observed difference, 2.5 %, 97.5 %).
    """
    y_true = np.asarray(y_true)
    image_rng, seed_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])

    def per_run_macro(y, scores_list):  # y: (R, N, L), each score: (R, N, L) -> (R, S)
        return np.stack([np.nanmean(auc_by_ranks(y, s), -1) for s in scores_list], -1)

    def seed_mean(per_run):  # (R, S) -> (R,): mean over a resample of the runs
        if not resample_seeds:
            return per_run.mean(-1)
        pick = seed_rng.integers(0, per_run.shape[1], size=per_run.shape)
        return np.take_along_axis(per_run, pick, -1).mean(-1)

    observed = (np.mean([macro_auc(y_true, s) for s in scores_model])
                - np.mean([macro_auc(y_true, s) for s in scores_base]))
    diffs = []
    n = len(y_true)
    for start in range(0, n_resamples, chunk):
        idx = image_rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        y = y_true[idx]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples of rare labels
            d = (seed_mean(per_run_macro(y, [s[idx] for s in scores_model]))
                 - seed_mean(per_run_macro(y, [s[idx] for s in scores_base])))
        diffs.append(d)
    diffs = np.concatenate(diffs)
    diffs = diffs[np.isfinite(diffs)]
    lo, hi = np.percentile(diffs, [2.5, 97.5]) if len(diffs) else (np.nan, np.nan)
    return float(observed), float(lo), float(hi)


def summarize(y_true: np.ndarray, scores: np.ndarray, sources: np.ndarray) -> dict:
    """Macro AUC and mAP on all images and broken down by annotation source."""
    out = {"macro_auc": macro_auc(y_true, scores), "map": mean_ap(y_true, scores)}
    for src in sorted(set(sources)):
        sel = sources == src
        out[f"macro_auc_{src}"] = macro_auc(y_true[sel], scores[sel])
        out[f"map_{src}"] = mean_ap(y_true[sel], scores[sel])
    return out
