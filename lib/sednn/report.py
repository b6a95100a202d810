"""Result tables from stored predictions (test split; seeds averaged, their spread kept) and the verdict."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import classifiers as C
from . import metrics as M
from .classifiers import MAIN_MODELS, Arm  # noqa: F401  (MAIN_MODELS: re-exported for notebook 06 and bench)
from .experiment import Run
from .io import write_csv, write_text
from .models import MODEL_DESCRIPTIONS, count_parameters
from .profiles import PROFILES

PAPER_REL_AUC_IMPROVEMENT_PCT = 15.27


def describe(name: str) -> str:
    base, _, stages = name.partition("@")
    text = MODEL_DESCRIPTIONS.get(base, base)
    return f"{text} (fusion at stage(s) {stages})" if stages else text


def argument_ablations(profile) -> list[str]:
    """Ablations that carry the argument: trained with every seed and the same tuning grid (if the profile runs them)."""
    return ["se_only", "no_gate"] if profile.argument_ablations else []


def stage_variants(run: Run) -> list[str]:
    from .models import create_backbone

    if not run.profile.stage_variants:
        return []
    return [f"proposed@{s}" for s in create_backbone(run.backbone, pretrained=False).spec.default_fusion_stages]


def _scores(run: Run, arm: Arm, seeds, split: str = "test") -> list[np.ndarray]:
    return [C.predictions(run, arm, s)[split] for s in seeds]


def _rows_of(run: Run, arm: Arm) -> np.ndarray:
    return C.arm_indices(run, arm, "test")


def per_label_table(run: Run, models: list[str]) -> pd.DataFrame:
    """Long table: model, source (all/pixel/tags), label, seed-mean AUC and AP, their spread, counts."""
    idx = run.indices("test")
    y, sources = run.y[idx], run.table["source"].to_numpy()[idx]
    rows = []
    for name in models:
        scores = _scores(run, C.main_arm(run, name), run.profile.seeds)
        for src in ["all", *sorted(set(sources))]:
            sel = np.ones(len(idx), bool) if src == "all" else sources == src
            per_seed = [M.per_label_auc(y[sel], s[sel], run.targets) for s in scores]
            df = per_seed[0][["label", "n_pos", "n_neg"]].copy()
            df["auc"] = np.mean([p["auc"] for p in per_seed], 0)
            df["auc_std"] = np.std([p["auc"] for p in per_seed], 0)
            df["ap"] = np.mean([p["ap"] for p in per_seed], 0)
            df.insert(0, "source", src)
            df.insert(0, "model", name)
            rows.append(df)
    return pd.concat(rows, ignore_index=True)


def compare(run: Run, arms: dict[str, Arm], baseline: Arm, seeds=None) -> pd.DataFrame:
    """One row per arm: macro AUC and mAP (mean and std over seeds), the paper's relative AUC improvement,
    and the two-level bootstrap 95 % interval of the macro-AUC difference to ``baseline`` (test images and
    seeds resampled); by annotation source too. ``arms``: row name -> arm, on the baseline's test rows."""
    seeds = list(run.profile.seeds if seeds is None else seeds)
    idx = _rows_of(run, baseline)
    y, sources = run.y[idx], run.table["source"].to_numpy()[idx]
    base_scores = _scores(run, baseline, run.profile.seeds)
    base_auc = np.mean([M.per_label_auc(y, s)["auc"] for s in base_scores], 0)
    rows = []
    for name, arm in arms.items():
        scores = _scores(run, arm, seeds)
        summaries = pd.DataFrame([M.summarize(y, s, sources) for s in scores])
        auc = np.mean([M.per_label_auc(y, s)["auc"] for s in scores], 0)
        row = {"model": name, "description": describe(arm.model), "vocabulary": arm.vocabulary,
               "lr_mult": C.resolve(run, arm).lr_mult, "seeds": len(scores),
               "macro_auc": summaries["macro_auc"].mean(), "macro_auc_std": summaries["macro_auc"].std(ddof=0),
               "map": summaries["map"].mean(), "map_std": summaries["map"].std(ddof=0),
               "rel_auc_improvement_pct": 100 * M.relative_improvement(auc, base_auc)}
        if arm == baseline:
            row.update(delta_macro_auc=0.0, delta_ci_low=np.nan, delta_ci_high=np.nan)
        else:
            d, lo, hi = M.bootstrap_macro_auc_difference(y, scores, base_scores, run.profile.bootstrap, run.seed)
            row.update(delta_macro_auc=d, delta_ci_low=lo, delta_ci_high=hi)
        for col in summaries.columns:
            if col.startswith("macro_auc_") or col.startswith("map_"):
                row[col] = summaries[col].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_table(run: Run, models: list[str]) -> pd.DataFrame:
    """The main comparison: every model at its chosen lr multiplier, every seed, against the baseline."""
    return compare(run, {m: C.main_arm(run, m) for m in models}, C.main_arm(run, "baseline"))


def per_seed_table(run: Run, models: list[str]) -> pd.DataFrame:
    """Test and validation macro AUC of every (model, seed), and Δ to the baseline of the same seed."""
    idx_t, idx_v = run.indices("test"), run.indices("val")
    rows = []
    for name in models:
        for seed in run.profile.seeds:
            p = C.predictions(run, C.main_arm(run, name), seed)
            rows.append({"model": name, "seed": seed, "lr_mult": C.resolve(run, C.main_arm(run, name)).lr_mult,
                         "val_macro_auc": M.macro_auc(run.y[idx_v], p["val"]),
                         "test_macro_auc": M.macro_auc(run.y[idx_t], p["test"]),
                         "best_epoch": C.best_val_score(p["history"])[1]})
    df = pd.DataFrame(rows)
    base = df[df.model == "baseline"].set_index("seed")["test_macro_auc"]
    df["delta_vs_baseline_same_seed"] = df["test_macro_auc"] - df["seed"].map(base)
    return df


def oracle_test_time_table(run: Run, name: str = "proposed") -> pd.DataFrame:
    """The main-table model fed ground-truth maps at test time only (trained on predicted maps)."""
    import torch

    from .train import predict

    arm = C.main_arm(run, name)
    idx = run.indices("test", "pixel")
    y = run.y[idx]
    data = C.arm_data(run, arm)
    gt_maps = torch.from_numpy(run.gt_soft_maps(arm.vocabulary)).to(data.maps.device)
    rows = []
    for maps_name, maps in [("predicted", None), ("ground truth at test time only", gt_maps)]:
        aucs, aps = [], []
        for seed in run.profile.seeds:
            s = predict(C.load_model(run, arm, seed), data, idx, torch.device(run.device), run.profile.batch_size * 2,
                        maps=maps)
            aucs.append(M.macro_auc(y, s))
            aps.append(M.mean_ap(y, s))
        rows.append({"group": "(c) oracle at test time", "model": name, "vocabulary": arm.vocabulary,
                     "maps": maps_name, "images": "pixel-annotated test", "n_images": len(idx),
                     "seeds": len(aucs), "macro_auc": np.mean(aucs), "macro_auc_std": np.std(aucs),
                     "map": np.mean(aps)})
    return pd.DataFrame(rows)


def oracle_trained_table(run: Run) -> pd.DataFrame:
    """Trained and tested on the pixel-annotated half's own rows with predicted or ground-truth maps."""
    arms = C.oracle_arms(run)
    table = compare(run, {f"{a.model} ({a.maps.replace('_', ' ')} maps)": a for a in arms}, arms[0])
    maps = ["none" if a.model == "baseline" else
            ("ground truth (oracle-trained)" if a.maps == "ground_truth" else "predicted") for a in arms]
    return table.assign(group="(e) oracle-trained bound", maps=maps, images="pixel-annotated test",
                        n_images=len(_rows_of(run, arms[0])), model=[a.model for a in arms])


def ablation_table(run: Run) -> pd.DataFrame:
    """(a) se_only, (b) no_gate, (c) oracle at test time, (d) single stages, (e) oracle-trained bound,
    (f) the other vocabulary; what the profile or the dataset does not allow is listed as such."""
    p = run.profile
    base = C.main_arm(run, "baseline")
    abl = compare(run, {m: C.main_arm(run, m) for m in ["baseline", "proposed", *argument_ablations(p)]}, base)
    abl["group"] = ["main", "main", "(a) SE gate, no map", "(b) no gate"][:len(abl)]
    parts = [abl]
    variants = stage_variants(run)
    if variants:
        v = compare(run, {m: C.main_arm(run, m) for m in variants}, base, seeds=p.seeds[:1])
        parts.append(v.assign(group="(d) single stage (first seed only)"))
    missing = [{"group": g, "model": m, "description": f"not run in this profile ({_profiles_running(flag)} only)"}
               for g, m, flag in NOT_RUN if not getattr(p, flag)]
    no_gt = not run.pixel_annotated_splits
    if no_gt:
        missing.insert(0, {"group": "(c) oracle at test time", "model": "proposed", "description": NO_GROUND_TRUTH})
    else:
        parts.append(oracle_test_time_table(run))
    if p.oracle_training and no_gt:
        missing.append({"group": ORACLE_GROUP, "model": "baseline, proposed, best alt.", "description": NO_GROUND_TRUTH})
    elif p.oracle_training:
        parts.append(oracle_trained_table(run))
    if p.other_vocabulary and run.other_vocabulary is None:
        missing.append({"group": "(f) other vocabulary", "model": "proposed, best alternative",
                        "description": "not run: the dataset's maps come in one vocabulary"})
    elif p.other_vocabulary:
        other = {f"{a.model} ({a.vocabulary})": a for a in C.other_vocabulary_arms(run)}
        parts.append(compare(run, other, base).assign(group="(f) other vocabulary",
                                                      model=[a.model for a in other.values()]))
    out = pd.concat(parts, ignore_index=True)
    for col, default in [("maps", "predicted"), ("images", "test"), ("n_images", len(run.indices("test")))]:
        if col not in out:
            out[col] = default
        out[col] = out[col].fillna(default)
    out.loc[out["model"].isin(["baseline", "se_only"]) & (out["maps"] == "predicted"), "maps"] = "none"
    out = pd.concat([out, pd.DataFrame(missing)], ignore_index=True)
    out["added_parameters"] = [added_parameters(run, m, v) if isinstance(v, str) else np.nan
                               for m, v in zip(out["model"], out["vocabulary"])]
    cols = ["group", "model", "description", "vocabulary", "maps", "images", "n_images", "seeds", "lr_mult",
            "macro_auc", "macro_auc_std", "map", "delta_macro_auc", "delta_ci_low", "delta_ci_high",
            "rel_auc_improvement_pct", "added_parameters"]
    return out.reindex(columns=cols)


NOT_RUN = [("(a) SE gate, no map", "se_only", "argument_ablations"), ("(b) no gate", "no_gate", "argument_ablations"),
           ("(d) single stage", "proposed at one stage", "stage_variants"),
           ("(e) oracle-trained bound", "baseline, proposed, best alt.", "oracle_training"),
           ("(f) other vocabulary", "proposed, best alternative", "other_vocabulary")]
NO_GROUND_TRUTH = "not run: the dataset lacks ground-truth maps in the train, val or test split"


def _profiles_running(flag: str) -> str:
    names = [n for n, prof in PROFILES.items() if not n.startswith("smoke") and getattr(prof, flag)]  # not tests
    return " and ".join(names) + (" profiles" if len(names) > 1 else " profile")


def added_parameters(run: Run, name: str, vocab: str) -> int:
    """Parameters ``name`` adds to the baseline with a map of ``vocab`` (its number of classes sizes the fusion)."""
    key = ("added_parameters", name, vocab)
    if key not in run._cache:
        base = count_parameters(C.build_model(run, "baseline", vocab, 0, pretrained=False))
        run._cache[key] = count_parameters(C.build_model(run, name, vocab, 0, pretrained=False)) - base
    return run._cache[key]


def history_table(run: Run, models: list[str]) -> pd.DataFrame:
    rows = []
    for name in models:
        for seed in run.profile.seeds:
            for h in C.predictions(run, C.main_arm(run, name), seed)["history"]:
                rows.append({"model": name, "seed": seed, **h})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- markdown
def _fmt(v, spec: str) -> str:
    return "" if pd.isna(v) else format(v, spec)


def markdown_summary(df: pd.DataFrame) -> str:
    """Compact table: mean ± std over seeds, and the two-level bootstrap interval in brackets."""
    out = pd.DataFrame()
    for col in ("group", "model", "condition", "resolution", "profile", "vocabulary", "maps", "images"):
        if col in df:
            out[col] = df[col].fillna("")
    if "map_test_miou" in df:
        out["map test mIoU"] = df["map_test_miou"].map(lambda v: _fmt(v, ".3f"))
    out["seeds"] = df["seeds"].map(lambda v: _fmt(v, ".0f"))
    out["lr mult"] = df["lr_mult"].map(lambda v: _fmt(v, "g"))
    out["macro AUC"] = [("" if pd.isna(m) else f"{m:.4f} ± {s:.4f}") for m, s in zip(df["macro_auc"], df["macro_auc_std"])]
    out["mAP"] = df["map"].map(lambda v: _fmt(v, ".4f"))
    out["avg rel. AUC impr."] = df["rel_auc_improvement_pct"].map(lambda v: "" if pd.isna(v) else f"{v:+.2f}%")
    out["Δ macro AUC [95% CI]"] = [
        "" if pd.isna(lo) else f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        for d, lo, hi in zip(df["delta_macro_auc"], df["delta_ci_low"], df["delta_ci_high"])]
    for col, title in [("macro_auc_pixel", "macro AUC pixel half"), ("macro_auc_tags", "macro AUC tags half")]:
        if col in df:
            out[title] = df[col].map(lambda v: _fmt(v, ".4f"))
    if "added_parameters" in df:
        out["added params"] = df["added_parameters"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    if "description" in df and df["macro_auc"].isna().any():
        out["note"] = np.where(df["macro_auc"].isna(), df["description"], "")
    return out.to_markdown(index=False) + "\n"


BETTER, WORSE, UNRESOLVED = ("beats the baseline", "is worse than the baseline",
                             "is not distinguishable from the baseline")


def claim(row) -> str:
    """What a main-table row's interval supports: better or worse only when its 95 % interval excludes 0."""
    if row.delta_ci_low > 0:
        return BETTER
    if row.delta_ci_high < 0:
        return WORSE
    return UNRESOLVED


ORACLE_GROUP = "(e) oracle-trained bound"


def oracle_sentence(ablations: pd.DataFrame) -> str:
    """Would a perfect map help? Group (e) in words: each map-using model with ground-truth and with predicted
    ``regions`` maps against the baseline of the same rows (claims follow ``claim``); empty if (e) did not run."""
    rows = ablations[(ablations["group"] == ORACLE_GROUP) & (ablations["model"] != "baseline")
                     & ablations["maps"].notna()]
    if rows.empty:
        return ""

    def said(r):
        return f"{claim(r)} (Δ {r.delta_macro_auc:+.4f} [{r.delta_ci_low:+.4f}, {r.delta_ci_high:+.4f}])"

    parts, gains = [], {}
    for model, g in rows.groupby("model", sort=False):
        gt = g[g["maps"].str.startswith("ground truth")].iloc[0]
        pred = g[g["maps"] == "predicted"].iloc[0]
        gains[model] = (claim(gt) == BETTER, claim(pred) == BETTER)
        parts.append(f"`{model}` trained and tested with ground-truth maps {said(gt)}, with the parser's maps "
                     f"{said(pred)}")
    gt_better, pred_better = gains.get("proposed", (False, False))
    if gt_better and not pred_better:
        so = "so for the proposed model the map is the bottleneck, not the fusion: a better parser is where its case is made or lost."
    elif not gt_better:
        so = "so even a perfect map does not carry the proposed model past the baseline here."
    else:
        so = "so the parser's maps already suffice for the proposed model."
    return (f"**Would a perfect map help?** On the pixel-annotated half's own rows, against the baseline of the same "
            f"rows: " + "; ".join(parts) + "; " + so + "\n")


def verdict(main: pd.DataFrame, profile: str) -> str:
    """What the main table supports, in words: a model is better or worse than the baseline only when its
    95 % interval (test images and seeds) excludes 0."""
    rows = main[main["model"] != "baseline"]
    seeds = int(main["seeds"].min())
    better = [r.model for r in rows.itertuples() if claim(r) == BETTER]
    worse = [r.model for r in rows.itertuples() if claim(r) == WORSE]
    unclear = [r.model for r in rows.itertuples() if r.model not in better + worse]
    prop = main.set_index("model").loc["proposed"]
    base = main.set_index("model").loc["baseline"]

    def names(xs):
        return ", ".join(f"`{x}`" for x in xs) if xs else "none"

    return (f"Profile `{profile}`, {seeds} seeds per model, 95 % intervals over test images and seeds. "
            f"The proposed model **{claim(prop)}**: macro AUC {prop.macro_auc:.4f} ± {prop.macro_auc_std:.4f} vs "
            f"{base.macro_auc:.4f} ± {base.macro_auc_std:.4f}, Δ {prop.delta_macro_auc:+.4f} "
            f"[{prop.delta_ci_low:+.4f}, {prop.delta_ci_high:+.4f}]; its average relative per-label AUC change is "
            f"{prop.rel_auc_improvement_pct:+.2f} % against the paper's +{PAPER_REL_AUC_IMPROVEMENT_PCT:.2f} %. "
            f"Better than the baseline: {names(better)}. Worse: {names(worse)}. "
            f"No difference the interval can resolve: {names(unclear)}.")


def write_table(df: pd.DataFrame, results_dir, stem: str, markdown: bool = False) -> None:
    write_csv(results_dir / f"{stem}.csv", df)
    if markdown:
        write_text(results_dir / f"{stem}.md", markdown_summary(df))


def tuning_summary(trials: pd.DataFrame) -> str:
    """One line per model: the grid, the choice and its seeds' validation macro AUC (what notebooks 03-05 show)."""
    lines = []
    for model, t in trials.groupby("model", sort=False):
        grid = t[t["used_for_choice"]].groupby("lr_mult")["val_macro_auc"].mean()
        chosen = t[t["chosen"]]
        lines.append(f"- `{model}`: validation macro AUC by lr multiplier "
                     + ", ".join(f"{m:g}: {v:.4f}" for m, v in grid.items())
                     + f"; chosen {chosen.lr_mult.iloc[0]:g}; with every seed "
                     f"{chosen.val_macro_auc.mean():.4f} ± {chosen.val_macro_auc.std(ddof=0):.4f} "
                     f"(best epoch {', '.join(str(int(e)) for e in chosen.best_epoch)} of {int(t.epochs.iloc[0])}).")
    return "**Tuning (validation only).**\n" + "\n".join(lines)


def ablation_summary(ablations: pd.DataFrame) -> str:
    """The ablation groups in words, each with its interval where it has one."""
    lines = []
    for r in ablations.itertuples():
        if r.model == "baseline" and r.group == "main":
            continue
        if pd.isna(r.macro_auc):
            lines.append(f"- {r.group}: {r.description}.")
            continue
        delta = ("" if pd.isna(r.delta_ci_low) else
                 f", Δ {r.delta_macro_auc:+.4f} [{r.delta_ci_low:+.4f}, {r.delta_ci_high:+.4f}]")
        lines.append(f"- {r.group}: `{r.model}` ({r.maps} maps, {r.images}) macro AUC {r.macro_auc:.4f} ± "
                     f"{r.macro_auc_std:.4f}{delta}.")
    return "**Ablations.**\n" + "\n".join(lines)


def parser_summary(iou: pd.DataFrame, tuning: pd.DataFrame | None) -> str:
    """What notebook 02 shows, in words, from its tables (``tuning`` None: the dataset's own maps)."""
    lines = []
    for (vocab, parser), per_parser in iou.groupby(["vocabulary", "parser"], sort=False):
        miou = per_parser.query("`class` == 'mean (mIoU)'").set_index("split")["iou"]
        per = per_parser.query("split == 'test' and `class` != 'mean (mIoU)'")
        chosen = "own maps"
        if tuning is not None:
            t = tuning[(tuning["vocabulary"] == vocab) & (tuning["parser"] == parser)]
            best = t[t["chosen"]].iloc[0]
            chosen = f"lr {best.lr:g}, epoch {int(best.epoch)} of {int(t.epoch.max())} chosen on validation mIoU"
        scores = "; mIoU " + ", ".join(f"{s} {v:.3f}" for s, v in miou.items())
        hardest = (". Hardest on test: " + ", ".join(f"{r['class']} {r.iou:.2f}" for _, r in
                                                     per.nsmallest(3, "iou").iterrows())) if len(per) else ""
        name = vocab if tuning is None or tuning["parser"].nunique() == 1 else f"{vocab}, {parser}"
        lines.append(f"- **{name}** ({per_parser['class'].nunique() - 1} classes): {chosen}{scores}{hardest}.")
    sizes = ""
    if len(iou) and tuning is not None:
        sizes = (f" The parser sees {iou.parser_image_hw.iloc[0]} photos; its maps are scored at the classifiers' "
                 f"map size, {iou.map_hw.iloc[0]}.")
    if not len(iou):
        sizes = " No image with a ground-truth map in the val or test split: the maps cannot be scored."
    return "**Map quality.**" + sizes + "\n".join(["", *lines])


def data_summary(table: pd.DataFrame, labels: pd.DataFrame, skipped: dict) -> str:
    """What notebook 01 shows, in words, from its tables."""
    counts = table.groupby(["split", "source"]).size().unstack()
    top, rare = labels.nlargest(3, "positives"), labels.nsmallest(3, "positives")
    return (f"**Data.** {len(table)} images ({', '.join(f'{s} {int(n)}' for s, n in table.source.value_counts().items())}"
            f"; skipped: {', '.join(f'{k} {len(v)}' for k, v in skipped.items()) or 'none'}), split train / val / test "
            f"{int(counts.loc['train'].sum())} / {int(counts.loc['val'].sum())} / {int(counts.loc['test'].sum())}, "
            f"{len(labels)} target labels, from {', '.join(f'{r.label} ({r.positives})' for r in top.itertuples())} "
            f"down to {', '.join(f'{r.label} ({r.positives})' for r in rare.itertuples())} positive images.")


def _moves(before: float, after: float) -> str:
    """'falls from 0.700 to 0.564 (-0.136)': the direction in words, so no sign has to be read."""
    verb = "falls" if after < before else "rises" if after > before else "stays"
    return f"{verb} from {before:.3f} to {after:.3f} ({after - before:+.3f})"


def attention_summary(localization: pd.DataFrame | None, swap: pd.DataFrame | None, gates: pd.DataFrame) -> str:
    """What notebook 06 shows, in words, from its tables (first seed's models; None: not possible here)."""
    parts = []
    if localization is not None:
        loc = localization.set_index("model")
        base, prop = loc.loc["baseline"], loc.loc["proposed"]
        best = loc["energy_inside"].idxmax()
        parts.append(f"Share of Grad-CAM mass inside the label's ground-truth region: proposed {prop.energy_inside:.3f} "
                     f"vs baseline {base.energy_inside:.3f} (a uniform map would score {base.region_share:.3f}); most "
                     f"localized: `{best}` ({loc.loc[best, 'energy_inside']:.3f}).")
    if swap is not None:
        sw = swap.set_index("model")
        parts.append("With the background swapped for another photo's, " + ", ".join(
            f"{m}'s macro AUC {_moves(r.macro_auc_original, r.macro_auc_swapped)}"
            for m, r in sw.loc[["baseline", "proposed"]].iterrows()) + " (a smaller fall: less reliance on the "
            "background).")
    stage = gates.groupby("stage")[["gate_std_over_images", "mean_abs_change"]].mean()
    parts.append("Channel gate: " + "; ".join(f"stage {int(s)} varies over images by {r.gate_std_over_images:.3f} "
                                              f"and moves by {r.mean_abs_change:.3f} without the map"
                                              for s, r in stage.iterrows()) + ".")
    return "**Where the models look.** " + " ".join(parts)
