"""The headline comparison across resolutions, from the results each profile wrote (no training here).

    python -m sednn.reporting.resolution     # what `make resolution` does; the runner does it after every run

Reads ``results/`` (``cpu``, 192x128) and ``results/<profile>/`` of the other CPU profiles (``cpu_hr``, 288x192;
``cpu_384``, 384x256) that have results, and writes ``results/resolution_table.{csv,md}`` (one main table with a
resolution column),
``results/resolution_per_label.csv`` and ``figures/per_label_resolution.png`` (per-label AUC change from the
lowest to the highest resolution for the baseline, and from baseline to proposed at each size; small items marked).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from sednn.core import paths, provenance
from sednn.core.io import save_figure, write_csv, write_text
from sednn.reporting import plots
from sednn.reporting.prose import claim, delta, markdown_summary

PROFILES = paths.RESOLUTION_PROFILES
# Targets that cover a few pixels at 192x128 (as far as CCP's targets have them).
SMALL_ITEMS = ("belt", "bracelet", "glasses", "necklace", "ring", "sunglasses", "wallet", "watch")


def _resolution(hw) -> str:
    return f"{hw[0]}x{hw[1]}"


def available(results_root: Path = paths.RESULTS_DIR) -> dict[str, Path]:
    """Profiles (in PROFILES order) whose folder holds a finished run's main table and per-label table."""
    out = {}
    for name in PROFILES:
        d = paths.results_dir_for(name, results_root)
        run = d / "RUN.json"
        if (d / "main_table.csv").exists() and (d / "per_label_auc.csv").exists() and run.exists() \
                and json.loads(run.read_text()).get("profile", {}).get("name") == name:
            out[name] = d
    return out


def table(dirs: dict[str, Path]) -> pd.DataFrame:
    """The main tables of ``dirs`` stacked, with the profile, resolution and commit of each run."""
    parts = []
    for name, d in dirs.items():
        run = json.loads((d / "RUN.json").read_text())
        df = pd.read_csv(d / "main_table.csv")
        df.insert(0, "resolution", _resolution(run["profile"]["image_hw"]))
        df.insert(0, "profile", name)
        df["commit"] = (provenance.made_by(run, "main_table.csv").get("git_commit") or "")[:7]
        parts.append(df)
    out = pd.concat(parts, ignore_index=True)
    order = {m: i for i, m in enumerate(dict.fromkeys(out["model"]))}  # models in main-table order
    return out.sort_values(["model", "profile"], key=lambda s: s.map(order) if s.name == "model" else
                           s.map({p: i for i, p in enumerate(PROFILES)})).reset_index(drop=True)


def per_label_changes(dirs: dict[str, Path], baseline: str = "baseline", model: str = "proposed") -> pd.DataFrame:
    """Per label (all test images, seed-mean AUC): the baseline's change from the lowest to the highest resolution,
    and ``model`` - ``baseline`` at each resolution. One row per label, small items flagged."""
    auc, names = {}, []
    for d in dirs.values():
        res = _resolution(json.loads((d / "RUN.json").read_text())["profile"]["image_hw"])
        pl = pd.read_csv(d / "per_label_auc.csv").query("source == 'all'")
        auc[res] = pl.pivot(index="label", columns="model", values="auc")
        names.append(res)
    lo, hi = names[0], names[-1]
    out = pd.DataFrame({f"baseline {lo} -> {hi}": auc[hi][baseline] - auc[lo][baseline]})
    for res in names:
        out[f"{model} - {baseline} at {res}"] = auc[res][model] - auc[res][baseline]
    out["small_item"] = out.index.isin(SMALL_ITEMS)
    return out.reset_index().sort_values(f"baseline {lo} -> {hi}", ascending=False, ignore_index=True)


def sentence(t: pd.DataFrame, model: str = "proposed") -> str:
    """Whether the verdict on ``model`` holds at every resolution, in one sentence."""
    rows = list(t[t["model"] == model].itertuples())
    claims = [claim(r) for r in rows]
    parts = "; ".join(f"at {r.resolution} ({r.profile}) it {c}: {delta(r, 'Δ macro AUC')}"
                      for r, c in zip(rows, claims))
    holds = "holds at every resolution" if len(set(claims)) == 1 else "changes with resolution"
    return f"The verdict on the `{model}` model {holds}: {parts}."


def compared_models(t: pd.DataFrame) -> list[str]:
    """The models with a verdict at more than one resolution: the proposed model first, then the others."""
    counts = t[t["model"] != "baseline"].groupby("model", sort=False).size()
    return sorted(counts[counts > 1].index, key=lambda m: m != "proposed")


def small_items_sentence(per_label: pd.DataFrame) -> str:
    """Mean per-label AUC changes on the small items against the other labels, one clause per column."""
    cols = [c for c in per_label.columns if c not in ("label", "small_item")]
    means = per_label.groupby("small_item")[cols].mean()
    n = int(per_label["small_item"].sum())
    return (f"Per label, mean test AUC change on the {n} small items (other labels in brackets): "
            + "; ".join(f"{c}: {means.loc[True, c]:+.4f} ({means.loc[False, c]:+.4f})" for c in cols) + ".")


def write(results_root: Path = paths.RESULTS_DIR, figures_root: Path = paths.FIGURES_DIR) -> pd.DataFrame | None:
    """Writes the table, its sentence, the per-label table and figure when two profiles have results."""
    dirs = available(results_root)
    if len(dirs) < 2:
        print(f"[sednn] resolution table needs results of {PROFILES}; found {list(dirs) or 'none'}")
        return None
    t = table(dirs)
    per_label = per_label_changes(dirs)
    write_csv(results_root / "resolution_table.csv", t)
    write_text(results_root / "resolution_table.md",
               markdown_summary(t) + "\n" + " ".join(sentence(t, m) for m in compared_models(t)) + " "
               + small_items_sentence(per_label) + "\n")
    write_csv(results_root / "resolution_per_label.csv", per_label)
    save_figure(plots.per_label_resolution(per_label), figures_root / "per_label_resolution.png")
    return t


def main(argv=None) -> int:
    t = write()
    if t is not None:
        print((paths.RESULTS_DIR / "resolution_table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
