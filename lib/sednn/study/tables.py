"""Result tables from stored predictions (test split; seeds averaged, their spread kept): the main comparison, per
seed and per label, and the ablations of the plan (``sednn.core.plan``). Their words: ``sednn.reporting.prose``."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import torch

from sednn.core import metrics as M
from sednn.core import scoring
from sednn.core.arms import MAPS_ORACLE_AT_TEST, MAPS_ORACLE_TRAINED, PREDICTED, AblationGroup, Arm
from sednn.core.catalog import describe
from sednn.core.plan import argument_ablations
from sednn.core.profiles import PROFILES, TEST_PROFILES
from sednn.models import count_parameters, create_model
from sednn.study import classifiers as C
from sednn.study.run import Run
from sednn.training.fit import predict

G = AblationGroup


def _rows_of(run: Run, arm: Arm) -> np.ndarray:
    return C.arm_indices(run, arm, "test")


def scored_labels(run: Run, idx: np.ndarray) -> np.ndarray:
    """(L,) bool: the labels the test rows ``idx`` score (``sednn.core.scoring``: enough positive images there)."""
    return scoring.scored_labels(run.y[idx], scoring.min_test_positives(run.profile))


def per_label_table(run: Run, models: list[str]) -> pd.DataFrame:
    """Long table: model, source (all/pixel/tags), label, seed-mean AUC and AP, their spread, precision and recall at
    the thresholds chosen on validation, counts."""
    idx = run.indices("test")
    y, sources = run.y[idx], run.table["source"].to_numpy()[idx]
    rows = []
    for name in models:
        arm = C.main_arm(run, name)
        preds = [C.predictions(run, arm, s) for s in run.profile.seeds]
        scores = [p["test"] for p in preds]
        thresholds = [validation_thresholds(run, p) for p in preds]
        for src in ["all", *sorted(set(sources))]:
            sel = np.ones(len(idx), bool) if src == "all" else sources == src
            per_seed = [M.per_label_auc(y[sel], s[sel], run.targets) for s in scores]
            f1 = [M.thresholded_f1(y[sel], s[sel], t) for s, t in zip(scores, thresholds)]
            df = per_seed[0][["label", "n_pos", "n_neg"]].copy()
            df["auc"] = np.mean([p["auc"] for p in per_seed], 0)
            df["auc_std"] = np.std([p["auc"] for p in per_seed], 0)
            df["ap"] = np.mean([p["ap"] for p in per_seed], 0)
            df["precision"] = np.mean([f["precision"] for f in f1], 0)  # at validation thresholds
            df["recall"] = np.mean([f["recall"] for f in f1], 0)
            df.insert(0, "source", src)
            df.insert(0, "model", name)
            rows.append(df)
    return pd.concat(rows, ignore_index=True)


F1_COLUMNS = ("cp", "cr", "cf1", "op", "or", "of1")  # sednn.core.metrics.thresholded_f1


def validation_thresholds(run: Run, predictions: dict) -> np.ndarray:
    """Per label, the threshold that one training run's validation predictions choose
    (``sednn.core.metrics.f1_thresholds``: the test split never picks a threshold)."""
    return M.f1_thresholds(run.y[predictions["val_idx"]], predictions["val"])


def f1_at_validation_thresholds(run: Run, predictions: dict, scored: np.ndarray) -> dict:
    """``thresholded_f1`` of one training run's test predictions on the ``scored`` labels at its
    ``validation_thresholds`` (each label's threshold is its own, so leaving labels out moves no other's)."""
    p = predictions
    return M.thresholded_f1(run.y[p["test_idx"]][:, scored], p["test"][:, scored],
                            validation_thresholds(run, p)[scored])


def compare(run: Run, arms: dict[str, Arm], baseline: Arm, seeds=None) -> pd.DataFrame:
    """One row per arm: the labels scored, macro AUC, mAP and the F1s of the field at validation thresholds (CP, CR,
    CF1, OP, OR, OF1; mean over seeds, AUC and mAP with their std), and against ``baseline`` the macro-AUC difference
    and the paper's average relative per-label AUC change, each with its two-level bootstrap 95 % interval (test
    images and seeds resampled); by annotation source too. ``arms``: row name -> arm, on the baseline's test rows,
    every metric on the labels those rows score (``scored_labels``)."""
    seeds = list(run.profile.seeds if seeds is None else seeds)
    idx = _rows_of(run, baseline)
    scored = scored_labels(run, idx)
    y, sources = run.y[idx][:, scored], run.table["source"].to_numpy()[idx]
    base_scores = [C.predictions(run, baseline, s)["test"][:, scored] for s in run.profile.seeds]
    rows = []
    for name, arm in arms.items():
        preds = [C.predictions(run, arm, s) for s in seeds]
        scores = [p["test"][:, scored] for p in preds]
        summaries = pd.DataFrame([M.summarize(y, s, sources) for s in scores])
        f1 = pd.DataFrame([f1_at_validation_thresholds(run, p, scored) for p in preds])
        row = {"model": name, "description": describe(arm.model, arm.stages), "vocabulary": arm.vocabulary,
               "lr_mult": C.resolve(run, arm).lr_mult, "seeds": len(scores), "labels": int(scored.sum()),
               "macro_auc": summaries["macro_auc"].mean(), "macro_auc_std": summaries["macro_auc"].std(ddof=0),
               "map": summaries["map"].mean(), "map_std": summaries["map"].std(ddof=0),
               **{c: f1[c].mean() for c in F1_COLUMNS}}
        if arm == baseline:  # the reference itself
            row.update(rel_auc_improvement_pct=0.0, delta_macro_auc=0.0, delta_ci_low=np.nan, delta_ci_high=np.nan,
                       rel_ci_low_pct=np.nan, rel_ci_high_pct=np.nan)
        else:
            b = M.bootstrap_comparison(y, scores, base_scores, run.profile.bootstrap, run.seed)
            row.update(rel_auc_improvement_pct=100 * b.rel_auc_improvement, delta_macro_auc=b.delta_macro_auc,
                       delta_ci_low=b.delta_low, delta_ci_high=b.delta_high, rel_ci_low_pct=100 * b.rel_low,
                       rel_ci_high_pct=100 * b.rel_high)
        for col in summaries.columns:
            if col.startswith("macro_auc_") or col.startswith("map_"):
                row[col] = summaries[col].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_table(run: Run, models: list[str]) -> pd.DataFrame:
    """The main comparison: every model at its chosen lr multiplier, every seed, against the baseline."""
    return compare(run, {m: C.main_arm(run, m) for m in models}, C.main_arm(run, "baseline"))


def per_seed_table(run: Run, models: list[str]) -> pd.DataFrame:
    """Test (on the scored labels, as ``compare``) and validation macro AUC of every (model, seed), and Δ to the
    baseline of the same seed."""
    idx_t, idx_v = run.indices("test"), run.indices("val")
    scored = scored_labels(run, idx_t)
    rows = []
    for name in models:
        for seed in run.profile.seeds:
            p = C.predictions(run, C.main_arm(run, name), seed)
            rows.append({"model": name, "seed": seed, "lr_mult": C.resolve(run, C.main_arm(run, name)).lr_mult,
                         "val_macro_auc": M.macro_auc(run.y[idx_v], p["val"]),
                         "test_macro_auc": M.macro_auc(run.y[idx_t][:, scored], p["test"][:, scored]),
                         "kept_epoch": C.kept_val_score(p["history"])[1]})
    df = pd.DataFrame(rows)
    base = df[df.model == "baseline"].set_index("seed")["test_macro_auc"]
    df["delta_vs_baseline_same_seed"] = df["test_macro_auc"] - df["seed"].map(base)
    return df


def oracle_test_time_table(run: Run, name: str = "proposed") -> pd.DataFrame:
    """The main-table model fed ground-truth maps at test time only (trained on predicted maps)."""
    arm = C.main_arm(run, name)
    idx = run.indices("test", "pixel")
    scored = scored_labels(run, idx)
    y = run.y[idx][:, scored]
    data = C.arm_data(run, arm)
    gt_maps = torch.from_numpy(run.gt_soft_maps(arm.vocabulary)).to(data.maps.device)
    rows = []
    for maps_name, maps in [("predicted", None), (MAPS_ORACLE_AT_TEST, gt_maps)]:
        aucs, aps = [], []
        for seed in run.profile.seeds:
            s = predict(C.load_model(run, arm, seed), data, idx, torch.device(run.device), run.profile.batch_size * 2,
                        maps=maps)[:, scored]
            aucs.append(M.macro_auc(y, s))
            aps.append(M.mean_ap(y, s))
        rows.append({"group": G.ORACLE_AT_TEST.label, "model": name, "vocabulary": arm.vocabulary,
                     "maps": maps_name, "images": "pixel-annotated test", "n_images": len(idx),
                     "labels": int(scored.sum()),
                     "seeds": len(aucs), "macro_auc": np.mean(aucs), "macro_auc_std": np.std(aucs),
                     "map": np.mean(aps)})
    return _with_parameters(run, pd.DataFrame(rows), [arm, arm])


def oracle_trained_table(run: Run, arms: tuple[Arm, ...]) -> pd.DataFrame:
    """Trained and tested on the pixel-annotated half's own rows with predicted or ground-truth maps (``arms``: the
    plan's, the baseline first)."""
    table = compare(run, {f"{a.model} ({a.maps})": a for a in arms}, arms[0])
    maps = ["none" if a.model == "baseline" else MAPS_ORACLE_TRAINED if a.maps != PREDICTED else "predicted"
            for a in arms]
    return _with_parameters(run, table.assign(group=G.ORACLE_TRAINED.label, maps=maps, images="pixel-annotated test",
                                              n_images=len(_rows_of(run, arms[0])), model=[a.model for a in arms]),
                            arms)


def ablation_table(run: Run) -> pd.DataFrame:
    """(a) se_only, (b) no_gate, (c) oracle at test time, (d) single stages, (e) oracle-trained bound,
    (f) the other vocabulary; what the profile or the dataset does not allow is listed as such."""
    p = run.profile
    planned = {t.group: t for t in run.plan(C.best_alternative(run))["05_proposed"].trained}
    base = C.main_arm(run, "baseline")
    argument = [C.main_arm(run, m) for m in ["baseline", "proposed", *argument_ablations(p)]]
    groups = [G.MAIN, G.MAIN, G.SE_ONLY, G.NO_GATE][:len(argument)]
    parts = [_with_parameters(run, compare(run, {a.model: a for a in argument}, base), argument)
             .assign(group=[g.label for g in groups])]
    if G.SINGLE_STAGE in planned:
        variants = planned[G.SINGLE_STAGE]
        v = compare(run, {a.label: a for a in variants.arms}, base, seeds=variants.seeds)
        parts.append(_with_parameters(run, v, variants.arms).assign(group=f"{G.SINGLE_STAGE.label} (first seed only)"))
    missing = [{"group": g.label, "model": m,
                "description": f"not run in this profile ({_profiles_running(flag)} only)"}
               for g, m, flag in NOT_RUN if not getattr(p, flag)]
    no_gt = not run.pixel_annotated_splits
    if no_gt:
        missing.insert(0, {"group": G.ORACLE_AT_TEST.label, "model": "proposed", "description": NO_GROUND_TRUTH})
    else:
        parts.append(oracle_test_time_table(run))
    if p.oracle_training and no_gt:
        missing.append({"group": G.ORACLE_TRAINED.label, "model": "baseline, proposed, best alt.",
                        "description": NO_GROUND_TRUTH})
    elif p.oracle_training:
        parts.append(oracle_trained_table(run, planned[G.ORACLE_TRAINED].arms))
    if p.other_vocabulary and run.other_vocabulary is None:
        missing.append({"group": G.OTHER_VOCABULARY.label, "model": "proposed, best alternative",
                        "description": "not run: the dataset's maps come in one vocabulary"})
    elif p.other_vocabulary:
        arms = planned[G.OTHER_VOCABULARY].arms
        other = compare(run, {f"{a.model} ({a.vocabulary})": a for a in arms}, base)
        parts.append(_with_parameters(run, other, arms).assign(group=G.OTHER_VOCABULARY.label,
                                                               model=[a.model for a in arms]))
    out = pd.concat(parts, ignore_index=True)
    for col, default in [("maps", "predicted"), ("images", "test"), ("n_images", len(run.indices("test")))]:
        if col not in out:
            out[col] = default
        out[col] = out[col].fillna(default)
    out.loc[out["model"].isin(["baseline", "se_only"]) & (out["maps"] == "predicted"), "maps"] = "none"
    out = pd.concat([out, pd.DataFrame(missing)], ignore_index=True)
    cols = ["group", "model", "description", "vocabulary", "maps", "images", "n_images", "labels", "seeds", "lr_mult",
            "macro_auc", "macro_auc_std", "map", *F1_COLUMNS, "delta_macro_auc", "delta_ci_low", "delta_ci_high",
            "rel_auc_improvement_pct", "rel_ci_low_pct", "rel_ci_high_pct", "added_parameters"]
    return out.reindex(columns=cols)


NOT_RUN = [(G.SE_ONLY, "se_only", "argument_ablations"), (G.NO_GATE, "no_gate", "argument_ablations"),
           (G.SINGLE_STAGE, "proposed at one stage", "stage_variants"),
           (G.ORACLE_TRAINED, "baseline, proposed, best alt.", "oracle_training"),
           (G.OTHER_VOCABULARY, "proposed, best alternative", "other_vocabulary")]
NO_GROUND_TRUTH = "not run: the dataset lacks ground-truth maps in the train, val or test split"


def _profiles_running(flag: str) -> str:
    names = [n for n, prof in PROFILES.items() if n not in TEST_PROFILES and getattr(prof, flag)]
    return " and ".join(names) + (" profiles" if len(names) > 1 else " profile")


def _with_parameters(run: Run, table: pd.DataFrame, arms) -> pd.DataFrame:
    """``table`` (one row per arm of ``arms``) with the parameters each arm's model adds to the baseline."""
    return table.assign(added_parameters=[
        added_parameters(a.model, a.stages, len(run.targets), C.map_classes(run, a), run.backbone)
        for a in arms])


@functools.cache
def added_parameters(model: str, stages, num_labels: int, num_regions: int, backbone: str) -> int:
    """Parameters ``model`` adds to the baseline with a map of ``num_regions`` classes (they size the fusion)."""
    with torch.random.fork_rng():  # counting builds models: it must not shift anyone's random stream
        def count(name, stages=None):
            return count_parameters(create_model(name, num_labels, num_regions, backbone, False, stages=stages))

        return count(model, stages) - count("baseline")


def history_table(run: Run, models: list[str]) -> pd.DataFrame:
    rows = []
    for name in models:
        for seed in run.profile.seeds:
            for h in C.predictions(run, C.main_arm(run, name), seed)["history"]:
                rows.append({"model": name, "seed": seed, **h})
    return pd.DataFrame(rows)
