"""Result tables from stored predictions. Test-split numbers only; seeds averaged, spread reported."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import metrics as M
from .experiment import Run
from .io import write_csv, write_text
from .models import MODEL_DESCRIPTIONS, count_parameters

MAIN_MODELS = ["baseline", "early_fusion", "input_masking", "late_fusion", "proposed"]


def describe(name: str) -> str:
    base, _, stages = name.partition("@")
    text = MODEL_DESCRIPTIONS.get(base, base)
    return f"{text} (fusion at stage(s) {stages})" if stages else text


def ablation_models(run: Run) -> list[str]:
    from .models import create_backbone

    names = ["proposed", "se_only", "no_gate"]
    if run.profile.ablation_stage_variants:
        stages = create_backbone(run.backbone, pretrained=False).spec.default_fusion_stages
        names += [f"proposed@{s}" for s in stages]
    return names


def _test_scores(run: Run, name: str) -> list[np.ndarray]:
    return [run.predictions(name, s)["test"] for s in run.profile.seeds]


def per_label_table(run: Run, models: list[str]) -> pd.DataFrame:
    """Long table: model, source (all/pixel/tags), label, seed-mean AUC and AP, its std, counts."""
    idx = run.indices("test")
    y, sources = run.y[idx], run.table["source"].to_numpy()[idx]
    rows = []
    for name in models:
        for src in ["all", *sorted(set(sources))]:
            sel = np.ones(len(idx), bool) if src == "all" else sources == src
            per_seed = [M.per_label_auc(y[sel], s[sel], run.targets) for s in _test_scores(run, name)]
            df = per_seed[0][["label", "n_pos", "n_neg"]].copy()
            df["auc"] = np.mean([p["auc"] for p in per_seed], 0)
            df["auc_std"] = np.std([p["auc"] for p in per_seed], 0)
            df["ap"] = np.mean([p["ap"] for p in per_seed], 0)
            df.insert(0, "source", src)
            df.insert(0, "model", name)
            rows.append(df)
    return pd.concat(rows, ignore_index=True)


def comparison_table(run: Run, models: list[str], baseline: str = "baseline") -> pd.DataFrame:
    """One row per model: macro AUC, mAP (mean and std over seeds), the paper's relative AUC improvement,
    and a paired bootstrap 95% interval of the macro-AUC difference to the baseline; by source too."""
    idx = run.indices("test")
    y, sources = run.y[idx], run.table["source"].to_numpy()[idx]
    per_label = per_label_table(run, models + ([baseline] if baseline not in models else []))
    base_auc = per_label.query("model == @baseline and source == 'all'")["auc"].to_numpy()
    base_scores = _test_scores(run, baseline)
    rows = []
    for name in models:
        scores = _test_scores(run, name)
        summaries = pd.DataFrame([M.summarize(y, s, sources) for s in scores])
        auc = per_label.query("model == @name and source == 'all'")["auc"].to_numpy()
        row = {"model": name, "description": describe(name), "seeds": len(scores),
               "macro_auc": summaries["macro_auc"].mean(), "macro_auc_std": summaries["macro_auc"].std(ddof=0),
               "map": summaries["map"].mean(), "map_std": summaries["map"].std(ddof=0),
               "rel_auc_improvement_pct": 100 * M.relative_improvement(auc, base_auc)}
        if name == baseline:
            row.update(delta_macro_auc=0.0, delta_ci_low=np.nan, delta_ci_high=np.nan)
        else:
            d, lo, hi = M.bootstrap_macro_auc_difference(y, scores, base_scores, run.profile.bootstrap, run.seed)
            row.update(delta_macro_auc=d, delta_ci_low=lo, delta_ci_high=hi)
        for col in summaries.columns:
            if col.startswith("macro_auc_") or col.startswith("map_"):
                row[col] = summaries[col].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def oracle_table(run: Run, name: str = "proposed") -> pd.DataFrame:
    """Ablation (c): the trained model fed ground-truth maps instead of predicted ones (pixel test images)."""
    import torch

    from .train import predict

    idx = run.indices("test", "pixel")
    y = run.y[idx]
    data = run.tensor_data()
    gt_maps = torch.from_numpy(run.gt_region_maps()).to(data.maps.device)
    rows = []
    for maps_name, maps in [("predicted", None), ("ground truth (oracle)", gt_maps)]:
        aucs, aps = [], []
        for seed in run.profile.seeds:
            model = run.load_model(name, seed)
            s = predict(model, data, idx, torch.device(run.device), run.profile.batch_size * 2, maps=maps)
            aucs.append(M.macro_auc(y, s))
            aps.append(M.mean_ap(y, s))
        rows.append({"model": name, "maps": maps_name, "images": "pixel-annotated test", "n_images": len(idx),
                     "macro_auc": np.mean(aucs), "macro_auc_std": np.std(aucs), "map": np.mean(aps)})
    return pd.DataFrame(rows)


def ablation_table(run: Run, ablations: list[str]) -> pd.DataFrame:
    """Ablations (a), (b), (d) on the test split, plus the oracle (c) on pixel-annotated test images."""
    abl = comparison_table(run, ["baseline", *ablations])
    abl["added_parameters"] = abl["model"].map(added_parameters(run, list(abl["model"])))
    abl = abl.assign(maps=np.where(abl["model"] == "se_only", "none", "predicted"), images="test",
                     n_images=len(run.indices("test")))
    abl.loc[abl["model"] == "baseline", "maps"] = "none"
    oracle = oracle_table(run).assign(description=lambda d: d["maps"].map(
        lambda m: f"ablation (c): proposed fed {m} maps"), seeds=len(run.profile.seeds))
    cols = ["model", "description", "maps", "images", "n_images", "seeds", "macro_auc", "macro_auc_std", "map",
            "delta_macro_auc", "delta_ci_low", "delta_ci_high", "rel_auc_improvement_pct", "added_parameters"]
    return pd.concat([abl, oracle], ignore_index=True).reindex(columns=cols)


def markdown_summary(df: pd.DataFrame) -> str:
    """Compact table for the README: mean ± std, and the bootstrap interval in brackets."""
    out = pd.DataFrame({"model": df["model"]})
    if "maps" in df:
        out["maps"], out["images"] = df["maps"], df["images"]
    out["seeds"] = df["seeds"]
    out["macro AUC"] = [f"{m:.4f} ± {s:.4f}" for m, s in zip(df["macro_auc"], df["macro_auc_std"])]
    out["mAP"] = df["map"].map("{:.4f}".format)
    out["avg rel. AUC impr."] = df["rel_auc_improvement_pct"].map(lambda v: "" if pd.isna(v) else f"{v:+.2f}%")
    out["Δ macro AUC [95% CI]"] = [
        "" if pd.isna(lo) else f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        for d, lo, hi in zip(df["delta_macro_auc"], df["delta_ci_low"], df["delta_ci_high"])]
    for col, title in [("macro_auc_pixel", "macro AUC pixel half"), ("macro_auc_tags", "macro AUC tags half"),
                       ("added_parameters", "added params")]:
        if col in df:
            out[title] = df[col].map(lambda v: "" if pd.isna(v) else (f"{int(v):,}" if "param" in col else f"{v:.4f}"))
    return out.to_markdown(index=False) + "\n"


def added_parameters(run: Run, names: list[str]) -> dict[str, int]:
    base = count_parameters(run.build_model("baseline", 0, pretrained=False))
    return {n: count_parameters(run.build_model(n, 0, pretrained=False)) - base for n in names}


def write_table(df: pd.DataFrame, results_dir, stem: str, markdown: bool = False) -> None:
    write_csv(results_dir / f"{stem}.csv", df)
    if markdown:
        write_text(results_dir / f"{stem}.md", markdown_summary(df))


def history_table(run: Run, models: list[str]) -> pd.DataFrame:
    rows = []
    for name in models:
        for seed in run.profile.seeds:
            for h in run.predictions(name, seed)["history"]:
                rows.append({"model": name, "seed": seed, **h})
    return pd.DataFrame(rows)
