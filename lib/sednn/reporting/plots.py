"""Figures. Each function returns a matplotlib Figure; notebooks save them with sednn.core.io.save_figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sednn.data.labels import NO_MAP, Vocabulary, ccp_vocabulary

REGION_COLORS = np.array([[0, 0, 0], [240, 190, 150], [110, 60, 20], [220, 40, 40], [40, 80, 220],
                          [160, 40, 200], [240, 160, 0], [20, 180, 120]], np.uint8)
TAB20 = (np.array(plt.get_cmap("tab20").colors) * 255).astype(np.uint8)
# garments: background, skin, hair as in regions, then matplotlib's tab20 for the 14 garment classes
GARMENT_COLORS = np.concatenate([REGION_COLORS[:3], TAB20[:14]])
CCP_PALETTES = {"regions": REGION_COLORS, "garments": GARMENT_COLORS}


def palette(vocab: Vocabulary) -> np.ndarray:
    """(K, 3) uint8 colours of ``vocab``'s classes: CCP's own for its two vocabularies, else black background and
    tab20 for the rest."""
    if vocab.name in CCP_PALETTES and vocab.classes == ccp_vocabulary(vocab.name).classes:
        return CCP_PALETTES[vocab.name]
    return np.concatenate([[[0, 0, 0]], TAB20[np.arange(vocab.num_classes - 1) % len(TAB20)]]).astype(np.uint8)


def label_frequency(labels_df: pd.DataFrame):
    df = labels_df.melt(id_vars="label", value_vars=[c for c in labels_df if c in
                                                    ("positives_train", "positives_val", "positives_test")],
                        var_name="split", value_name="images")
    df["split"] = df["split"].str.replace("positives_", "")
    order = labels_df.sort_values("positives", ascending=False)["label"]
    fig, ax = plt.subplots(figsize=(12, 4))
    sns.barplot(df, x="label", y="images", hue="split", order=order, ax=ax)
    ax.tick_params(axis="x", rotation=90)
    ax.set_title("Positive images per target label and split")
    return fig


def cooccurrence(y: np.ndarray, names: list[str]):
    """P(column label | row label): how often labels appear together."""
    y = y.astype(float)
    counts = y.T @ y
    cond = counts / np.maximum(np.diag(counts)[:, None], 1)
    fig, ax = plt.subplots(figsize=(11, 9))
    sns.heatmap(pd.DataFrame(cond, index=names, columns=names), cmap="viridis", vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": "P(column | row)"})
    ax.set_title("Label co-occurrence")
    return fig


def colorize(classes: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """(H, W) class indices of ``vocab`` (NO_MAP: none) -> (H, W, 3) uint8."""
    colors = palette(vocab)
    out = colors[np.clip(classes, 0, len(colors) - 1)]
    out[classes == NO_MAP] = 128
    return out


def class_legend(ax, vocab: Vocabulary) -> None:
    from matplotlib.patches import Patch

    colors = palette(vocab)
    ax.legend(handles=[Patch(color=colors[i] / 255, label=r) for i, r in enumerate(vocab.classes)],
              loc="upper center", bbox_to_anchor=(0.5, 0), ncol=4, fontsize=8, frameon=False)


def photo_grid(photos: np.ndarray, titles: list[str], cols: int = 6):
    rows = int(np.ceil(len(photos) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, t in zip(axes.ravel(), photos, titles):
        ax.imshow(img)
        ax.set_title(t, fontsize=7)
    return fig


def map_overlays(photos, gt_classes, pred_maps, titles, vocab: Vocabulary):
    """Per image: photo, ground-truth classes, predicted classes (argmax) over the photo."""
    n = len(photos)
    fig, axes = plt.subplots(3, n, figsize=(2 * n, 9), squeeze=False)
    for j in range(n):
        h, w = photos[j].shape[:2]
        pred = pred_maps[j].argmax(0).repeat(h // pred_maps.shape[2], 0).repeat(w // pred_maps.shape[3], 1)
        axes[0, j].imshow(photos[j])
        axes[0, j].set_title(titles[j], fontsize=7)
        axes[1, j].imshow(colorize(gt_classes[j], vocab))
        axes[2, j].imshow(photos[j])
        axes[2, j].imshow(colorize(pred, vocab), alpha=0.55)
        for i in range(3):
            axes[i, j].axis("off")
    axes[1, 0].set_title("ground truth", fontsize=8, loc="left")
    axes[2, 0].set_title("parser (argmax)", fontsize=8, loc="left")
    class_legend(axes[2, n // 2], vocab)
    return fig


def per_label_auc(per_label: pd.DataFrame, model: str, baseline: str = "baseline"):
    df = per_label.query("source == 'all' and model in [@model, @baseline]")
    order = df.query("model == @baseline").sort_values("auc")["label"]
    fig, ax = plt.subplots(figsize=(12, 4))
    sns.pointplot(df, x="label", y="auc", hue="model", order=order, linestyle="none", ax=ax)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.tick_params(axis="x", rotation=90)
    ax.set_title(f"Per-label test ROC AUC: {baseline} vs {model}")
    return fig


def relative_improvement(per_label: pd.DataFrame, model: str, baseline: str = "baseline"):
    a = per_label.query("source == 'all' and model == @model").set_index("label")["auc"]
    b = per_label.query("source == 'all' and model == @baseline").set_index("label")["auc"]
    rel = (100 * (a - b) / b).dropna().sort_values()
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.bar(rel.index, rel.values, color=np.where(rel.values >= 0, "tab:green", "tab:red"))
    ax.axhline(rel.mean(), color="k", lw=1, ls="--", label=f"mean {rel.mean():+.2f}%")
    ax.tick_params(axis="x", rotation=90)
    ax.set_ylabel("relative AUC change (%)")
    ax.set_title(f"Per-label relative AUC improvement of {model} over {baseline} (sorted)")
    ax.legend()
    return fig


def training_curves(history: pd.DataFrame):
    """Mean over seeds with a band of ± 1 std (the spread between training runs)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    sns.lineplot(history, x="epoch", y="train_loss", hue="model", ax=axes[0], marker="o", errorbar="sd")
    sns.lineplot(history, x="epoch", y="val_score", hue="model", ax=axes[1], marker="o", legend=False, errorbar="sd")
    seeds = history.groupby("model")["seed"].nunique().max()
    axes[0].set_title(f"training loss (BCE), mean ± std over {seeds} seeds")
    axes[1].set_title(f"validation macro AUC, mean ± std over {seeds} seeds")
    return fig


def cam_grid(photos, maps, cams: dict[str, np.ndarray], titles: list[str], suptitle: str, vocab: Vocabulary):
    """Rows: image pairs; columns: photo, semantic map (argmax), one CAM overlay per model."""
    n, names = len(photos), list(cams)
    # constrained: the title sits on the first row instead of above a band the row heights leave empty
    fig, axes = plt.subplots(n, 2 + len(names), figsize=(2 * (2 + len(names)), 3 * n), squeeze=False,
                             layout="constrained")
    for i in range(n):
        h, w = photos[i].shape[:2]
        region = maps[i].argmax(0).repeat(h // maps.shape[2], 0).repeat(w // maps.shape[3], 1)
        axes[i, 0].imshow(photos[i])
        axes[i, 0].set_title(titles[i], fontsize=8)
        axes[i, 1].imshow(colorize(region, vocab))
        axes[i, 1].set_title("semantic map", fontsize=8)
        for j, name in enumerate(names):
            axes[i, 2 + j].imshow(photos[i])
            axes[i, 2 + j].imshow(cams[name][i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            axes[i, 2 + j].set_title(f"Grad-CAM {name}", fontsize=8)
        for ax in axes[i]:
            ax.axis("off")
    fig.suptitle(suptitle)
    return fig


def gate_profile(gates: pd.DataFrame):
    """Per fusion stage: mean gate per channel with the map and with the map removed (sorted by the former)."""
    stages = sorted(gates["stage"].unique())
    fig, axes = plt.subplots(1, len(stages), figsize=(6 * len(stages), 3.5), squeeze=False)
    for ax, s in zip(axes[0], stages):
        g = gates.query("stage == @s").sort_values("gate_with_map")
        x = np.arange(len(g))
        ax.plot(x, g["gate_with_map"], label="with predicted map")
        ax.plot(x, g["gate_without_map"], label="map removed (uniform)", alpha=0.8)
        ax.axhline(1, color="grey", ls="--", lw=0.8)
        ax.set_title(f"stage {s}: channel gate (1 = baseline)")
        ax.set_xlabel("channel (sorted)")
        ax.legend(fontsize=8)
    return fig


def localization_bars(summary: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    sns.barplot(summary, x="model", y="energy_inside", ax=axes[0])
    axes[0].axhline(summary["region_share"].mean(), color="grey", ls="--", lw=0.8, label="region's share of image")
    axes[0].legend(fontsize=8)
    axes[0].set_title("CAM mass inside the label's region")
    sns.barplot(summary, x="model", y="pointing_hit_rate", ax=axes[1])
    axes[1].set_title("pointing game hit rate")
    for ax in axes:
        ax.tick_params(axis="x", rotation=30)
    return fig


def per_label_resolution(changes: pd.DataFrame):
    """One panel per AUC difference column of ``sednn.reporting.resolution.per_label_changes``; small items in red,
    starred."""
    cols = [c for c in changes.columns if c not in ("label", "small_item")]
    names = [f"* {label}" if s else label for label, s in zip(changes["label"], changes["small_item"])]
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 0.22 * len(changes) + 1.5), sharey=True)
    for ax, col in zip(np.atleast_1d(axes), cols):
        v = changes[col].to_numpy()
        ax.barh(names, v, color=np.where(v >= 0, "tab:green", "tab:red"))
        ax.axvline(0, color="k", lw=0.8)
        ax.axvline(np.nanmean(v), color="k", lw=1, ls="--", label=f"mean {np.nanmean(v):+.3f}")
        ax.set_title(col, fontsize=10)
        ax.set_xlabel("test AUC change (seed mean)")
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
        ax.legend(loc="lower right", fontsize=8)
    ax0 = np.atleast_1d(axes)[0]
    ax0.invert_yaxis()
    for tick, small in zip(ax0.get_yticklabels(), changes["small_item"]):
        if small:
            tick.set_color("tab:red")
    fig.suptitle("Per-label AUC change: resolution (baseline) and the map (proposed - baseline); * small items")
    fig.tight_layout()
    return fig


def map_quality(study: pd.DataFrame):
    """Δ macro AUC against the baseline (95 % interval) over the maps' test mIoU: one line per curve model from the
    parser's maps through the blends to the ground truth, the proposed model's controls as labelled points."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.axhline(0, color="grey", lw=1)
    markers = {"parser": "s", "blend": "o", "ground truth": "*"}
    for (model, rows), color in zip(study[study.kind.isin(markers)].groupby("model", sort=False), ("C0", "C1")):
        rows = rows.sort_values("map_test_miou")
        err = [rows.delta_macro_auc - rows.delta_ci_low, rows.delta_ci_high - rows.delta_macro_auc]
        ax.errorbar(rows.map_test_miou, rows.delta_macro_auc, yerr=err, color=color, lw=1, capsize=3, label=model)
        for r in rows.itertuples():
            ax.plot(r.map_test_miou, r.delta_macro_auc, markers[r.kind], color=color, ms=10 if r.kind != "blend" else 5)
    for r in study[study.kind == "control"].itertuples():
        ax.errorbar(r.map_test_miou, r.delta_macro_auc, yerr=[[r.delta_macro_auc - r.delta_ci_low],
                                                              [r.delta_ci_high - r.delta_macro_auc]],
                    fmt="D", color="C3", capsize=3)
        ax.annotate(r.condition, (r.map_test_miou, r.delta_macro_auc), textcoords="offset points", xytext=(6, 4),
                    fontsize=8, color="C3")
    ax.set_xlabel("test mIoU of the maps (square: parser, star: ground truth, red: controls)")
    ax.set_ylabel("Δ macro AUC vs baseline (95 % CI)")
    ax.set_title("What in the map helps: gain against map quality (pixel-annotated test images)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def summary(forest: pd.DataFrame):
    """Forest plot of Δ macro AUC against the baseline of the same run (95 % intervals), one row group per run or
    study; green: better, red: worse, grey: not resolved; the paper's claim as a dashed mark in each group."""
    colors = {"beats the baseline": "C2", "is worse than the baseline": "C3"}
    groups = list(dict.fromkeys(forest.group))
    fig, ax = plt.subplots(figsize=(8, 0.27 * (len(forest) + 2 * len(groups)) + 1))
    y, ticks, labels = 0, [], []
    for g in groups:
        rows = forest[forest.group == g]
        top = y
        ax.text(0.005, y, g, transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=8.5,
                fontweight="bold")
        y -= 1
        for r in rows.itertuples():
            c = colors.get(r.claim, "0.45")
            ax.errorbar(r.delta, y, xerr=[[r.delta - r.low], [r.high - r.delta]], fmt="o", color=c, ms=4, capsize=2)
            ticks.append(y)
            labels.append(r.label)
            y -= 1
        ax.plot([rows.paper_delta.iloc[0]] * 2, [top - 0.5, y + 0.5], ls="--", color="C1", lw=1.2)
        y -= 0.6
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(ticks, labels, fontsize=7.5)
    ax.set_ylim(y + 0.3, 0.8)
    ax.set_xlabel("Δ macro AUC vs the baseline of the same rows (95 % CI over test images and seeds)\n"
                  "green: better, grey: not resolved, red: worse; dashed: the paper's +15.27 % relative AUC "
                  "as a Δ at the group's baseline", fontsize=8.5)
    ax.set_title("Every model and the key ablations against the baseline", fontsize=10)
    fig.tight_layout()
    return fig
