"""The study in words and in markdown, from its tables alone (pandas, no torch): what an interval supports, the
verdict, the notebooks' summaries, and the one way a difference with its interval is written."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sednn.core.arms import CONTROL_NAMES, MAPS_ORACLE_TRAINED, AblationGroup
from sednn.core.io import write_csv, write_text

PAPER_REL_AUC_IMPROVEMENT_PCT = 15.27


def interval(d: float, lo: float, hi: float) -> str:
    """A difference and its 95 % interval: ``+0.0100 [-0.0061, +0.0253]``."""
    return f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def rel_change(r) -> str:
    """A row's average relative per-label AUC change, with its interval where the row has one: ``+2.33 % [-0.61,
    +5.20]``."""
    v = r.rel_auc_improvement_pct
    if pd.isna(v):
        return ""
    lo, hi = getattr(r, "rel_ci_low_pct", np.nan), getattr(r, "rel_ci_high_pct", np.nan)
    return f"{v:+.2f} %" + ("" if pd.isna(lo) else f" [{lo:+.2f}, {hi:+.2f}]")


PAPER_ABOVE, PAPER_INSIDE, PAPER_BELOW, NO_INTERVAL = ("above the interval", "inside the interval",
                                                       "below the interval", "no interval in this run")


def paper_position(r) -> str:
    """Where the paper's +15.27 % lies against a row's interval of the same metric."""
    lo, hi = getattr(r, "rel_ci_low_pct", np.nan), getattr(r, "rel_ci_high_pct", np.nan)
    if pd.isna(lo):
        return NO_INTERVAL
    if PAPER_REL_AUC_IMPROVEMENT_PCT > hi:
        return PAPER_ABOVE
    return PAPER_BELOW if PAPER_REL_AUC_IMPROVEMENT_PCT < lo else PAPER_INSIDE


def delta(r, name: str = "Δ") -> str:
    """A table row's Δ macro AUC with its interval: ``Δ +0.0100 [-0.0061, +0.0253]``."""
    return f"{name} {interval(r.delta_macro_auc, r.delta_ci_low, r.delta_ci_high)}"


def _fmt(v, spec: str) -> str:
    return "" if pd.isna(v) else format(v, spec)


def markdown_summary(df: pd.DataFrame) -> str:
    """Compact table: mean ± std over seeds, and the two-level bootstrap interval in brackets."""
    out = pd.DataFrame()
    for col in ("group", "model", "condition", "resolution", "profile", "vocabulary", "maps", "images"):
        if col in df:
            out[col] = df[col].astype(object).where(df[col].notna(), "")  # a float column too: NaN -> ""
    if "labels" in df:  # scored on the test images (sednn.core.scoring); empty for a run that did not record it
        out["labels"] = df["labels"].map(lambda v: _fmt(v, ".0f"))
    if "map_test_miou" in df:
        out["map test mIoU"] = df["map_test_miou"].map(lambda v: _fmt(v, ".3f"))
    out["seeds"] = df["seeds"].map(lambda v: _fmt(v, ".0f"))
    out["lr mult"] = df["lr_mult"].map(lambda v: _fmt(v, "g"))
    out["macro AUC"] = [("" if pd.isna(m) else f"{m:.4f} ± {s:.4f}")
                        for m, s in zip(df["macro_auc"], df["macro_auc_std"])]
    out["mAP"] = df["map"].map(lambda v: _fmt(v, ".4f"))
    for f1, (p, r) in (("cf1", ("cp", "cr")), ("of1", ("op", "or"))):  # runs before these columns: none
        if f1 in df:
            out[f"{f1.upper()} ({p.upper()} / {r.upper()})"] = [
                "" if pd.isna(v) else f"{v:.3f} ({pv:.3f} / {rv:.3f})" for v, pv, rv in zip(df[f1], df[p], df[r])]
    out["avg rel. AUC change [95% CI]"] = [rel_change(r) for r in df.itertuples()]
    out["Δ macro AUC [95% CI]"] = [
        "" if pd.isna(lo) else interval(d, lo, hi)
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


def oracle_sentence(ablations: pd.DataFrame) -> str:
    """Would a perfect map help? Group (e) in words: each map-using model with ground-truth and with predicted
    ``regions`` maps against the baseline of the same rows (claims follow ``claim``); empty if (e) did not run."""
    rows = ablations[(ablations["group"] == AblationGroup.ORACLE_TRAINED.label) & (ablations["model"] != "baseline")
                     & ablations["maps"].notna()]
    if rows.empty:
        return ""

    def said(r):
        return f"{claim(r)} ({delta(r)})"

    parts, gains = [], {}
    for model, g in rows.groupby("model", sort=False):
        gt = g[g["maps"] == MAPS_ORACLE_TRAINED].iloc[0]
        pred = g[g["maps"] == "predicted"].iloc[0]
        gains[model] = (claim(gt) == BETTER, claim(pred) == BETTER)
        parts.append(f"`{model}` trained and tested with ground-truth maps {said(gt)}, with the parser's maps "
                     f"{said(pred)}")
    gt_better, pred_better = gains.get("proposed", (False, False))
    if gt_better and not pred_better:
        so = ("so for the proposed model the map is the bottleneck, not the fusion: a better parser is where its case "
              "is made or lost.")
    elif not gt_better:
        so = "so even a perfect map does not carry the proposed model past the baseline here."
    else:
        so = "so the parser's maps already suffice for the proposed model."
    return ("**Would a perfect map help?** On the pixel-annotated half's own rows, against the baseline of the same "
            "rows: " + "; ".join(parts) + "; " + so + "\n")


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
            f"{base.macro_auc:.4f} ± {base.macro_auc_std:.4f}, {delta(prop)}; its average relative per-label AUC "
            f"change is {rel_change(prop)} against the paper's +{PAPER_REL_AUC_IMPROVEMENT_PCT:.2f} % "
            f"({paper_position(prop)}). "
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
                     f"(kept epoch {', '.join(str(int(e)) for e in chosen.kept_epoch)} of {int(t.epochs.iloc[0])}).")
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
        versus = "" if pd.isna(r.delta_ci_low) else f", {delta(r)}"
        lines.append(f"- {r.group}: `{r.model}` ({r.maps} maps, {r.images}) macro AUC {r.macro_auc:.4f} ± "
                     f"{r.macro_auc_std:.4f}{versus}.")
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
    sources = ", ".join(f"{s} {int(n)}" for s, n in table.source.value_counts().items())
    return (f"**Data.** {len(table)} images ({sources}"
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
        parts.append(f"Share of Grad-CAM mass inside the label's ground-truth region: proposed "
                     f"{prop.energy_inside:.3f} "
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


PRESENCE_SHORT, PRESENCE_MATCHES, PRESENCE_UNRESOLVED = "short", "matches", "unresolved"


@dataclass(frozen=True)
class MapQualityFindings:
    """What the map-quality study decides, from its table: the proposed model's rows by condition; below the ground
    truth, the lowest-mIoU map whose gain excludes 0 (None: none does) and the best map there; how presence-only maps
    compare with ground-truth ones (``PRESENCE_*``; None without that comparison) and that difference's interval."""

    proposed: pd.DataFrame
    first_resolved: pd.Series | None
    best_below_ground_truth: float
    presence: str | None
    gap: str | None


def map_quality_findings(study: pd.DataFrame, gt_minus_presence: tuple[float, float, float] | None
                         ) -> MapQualityFindings:
    prop = study[study["model"] == "proposed"].set_index("condition")
    below_gt = prop[prop["kind"] != "control"].drop(index="ground_truth").sort_values("map_test_miou")
    first = below_gt[below_gt["delta_ci_low"] > 0]
    presence = gap = None
    if gt_minus_presence is not None and "presence" in prop.index:
        d, lo, hi = gt_minus_presence
        gap = interval(d, lo, hi)
        presence = (PRESENCE_SHORT if lo > 0 else PRESENCE_MATCHES if prop.loc["presence", "delta_ci_low"] > 0
                    else PRESENCE_UNRESOLVED)
    return MapQualityFindings(prop, first.iloc[0] if len(first) else None, below_gt["map_test_miou"].max(),
                              presence, gap)


def label_basis(study: pd.DataFrame) -> str:
    """'the 25 labels with at least 10 positive test images': what a map-quality table's numbers are scored on
    (``sednn.core.scoring``)."""
    r = study.iloc[0]
    return f"the {int(r.labels)} labels with at least {int(r.min_test_positives)} positive test images"


def map_quality_summary(study: pd.DataFrame, gt_minus_presence: tuple[float, float, float],
                        per_seed: pd.DataFrame | None = None) -> str:
    """The study in words, from its numbers: where on the curve the proposed model's gain first excludes 0, and
    whether presence-only maps match the oracle (label information) or not (the layout matters); with ``per_seed``
    (``sednn.study.map_quality.per_seed``), how far the baseline moves between training runs on the scored labels
    and on every target label."""
    f = map_quality_findings(study, gt_minus_presence)
    prop, r = f.proposed, f.first_resolved
    gt = prop.loc["ground_truth"]
    if r is not None:
        where = (f"The proposed model's gain over the baseline first excludes 0 at map test mIoU "
                 f"{r.map_test_miou:.2f} (`{r.name}`: {delta(r)}); the parser's maps score "
                 f"{prop.loc['predicted', 'map_test_miou']:.2f}.")
    else:
        where = (f"Below ground truth the proposed model's gain never excludes 0 (maps up to test mIoU "
                 f"{f.best_below_ground_truth:.2f}; the parser's {prop.loc['predicted', 'map_test_miou']:.2f}); "
                 f"with ground-truth maps (mIoU {gt.map_test_miou:.2f}) it is {delta(gt)}.")
    pres = delta(prop.loc["presence"])
    which = {PRESENCE_SHORT: f"Presence-only maps ({pres}) fall short of the ground truth by {f.gap}: the oracle's "
                             "gain is more than label information, so where the classes are matters.",
             PRESENCE_MATCHES: f"Presence-only maps ({pres}) match the ground truth (difference {f.gap}): the "
                               "oracle's gain is label information, not spatial guidance.",
             PRESENCE_UNRESOLVED: f"Neither presence-only maps ({pres}) nor the difference to the ground truth "
                                  f"({f.gap}) resolves whether the oracle's gain is label information or layout."
             }[f.presence]
    controls = "; ".join(f"{c}: {delta(prop.loc[c])}" for c in CONTROL_NAMES if c in prop.index)
    arms = study[study["model"] != "baseline"]
    half = (arms["delta_ci_high"] - arms["delta_ci_low"]) / 2
    widths = (f" With {int(arms['seeds'].min())} seeds per arm, on {label_basis(study)}, the intervals' half-widths "
              f"run from {half.min():.3f} to {half.max():.3f}.")
    spread = ""
    if per_seed is not None:
        base = per_seed[per_seed["model"] == "baseline"]
        spread = (f" The baseline's test macro AUC has a seed std of {base['test_macro_auc'].std(ddof=0):.4f} on "
                  f"those labels ({base['test_macro_auc_every_label'].std(ddof=0):.4f} on every target label).")
    return f"**What in the map helps.** {where} {which} Controls for the proposed model: {controls}.{widths}{spread}"
