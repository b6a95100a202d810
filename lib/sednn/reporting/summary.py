"""The answer on one screen, from the committed results: the README's opening sentences and
``figures/summary.png``, a forest plot of every model's and the key ablations' Δ macro AUC against the baseline of
the same run (95 % intervals over test images and seeds), one row group per resolution run, the oracle-trained
bound and the map-quality study, with the paper's claim marked. The runner rebuilds both after every run.

    python -m sednn.reporting.summary
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from sednn.core import paths
from sednn.core.arms import CONTROL_NAMES, MAPS_ORACLE_TRAINED, AblationGroup
from sednn.core.io import save_figure
from sednn.reporting import plots, resolution
from sednn.reporting.prose import BETTER, PAPER_REL_AUC_IMPROVEMENT_PCT, claim, delta, interval

MAP_QUALITY = "map_quality"
KEY_ABLATIONS = tuple(g.label for g in (AblationGroup.SE_ONLY, AblationGroup.NO_GATE, AblationGroup.OTHER_VOCABULARY))
ORACLE_GROUP = AblationGroup.ORACLE_TRAINED.label


def _rows(df: pd.DataFrame, group: str, label) -> list[dict]:
    return [{"group": group, "label": label(r), "delta": r.delta_macro_auc, "low": r.delta_ci_low,
             "high": r.delta_ci_high, "claim": claim(r)} for r in df.itertuples() if pd.notna(r.delta_ci_low)]


def forest(results_root: Path = paths.RESULTS_DIR) -> pd.DataFrame:
    """One row per comparison: group, label, Δ macro AUC, its interval, what the interval supports, and the paper's
    +15.27 % as a Δ at the group's baseline (``paper_delta``: the relative change times the baseline's macro AUC)."""
    parts, bounds = [], []  # the resolution runs first, then the studies on the pixel-annotated half

    def add(rows: list[dict], baseline_auc: float, to: list | None = None):
        (parts if to is None else to).extend(
            {**r, "paper_delta": PAPER_REL_AUC_IMPROVEMENT_PCT / 100 * baseline_auc} for r in rows)

    dirs = resolution.available(results_root)
    every = resolution.table(dirs)  # every run's main table, with its resolution
    for name, d in dirs.items():
        main = every[every.profile == name]
        base = main.set_index("model").loc["baseline", "macro_auc"]
        rows = _rows(main[main.model != "baseline"], f"{main.resolution.iloc[0]} ({name}), all test images",
                     lambda r: r.model)
        abl = pd.read_csv(d / "ablations.csv") if (d / "ablations.csv").exists() else pd.DataFrame()
        if len(abl):
            key = abl[abl.group.isin(KEY_ABLATIONS) & (abl.model != "baseline")]
            rows += _rows(key, rows[0]["group"], lambda r: f"{r.model}, {r.vocabulary} maps {r.group[:3]}"
                          if r.group == AblationGroup.OTHER_VOCABULARY.label else f"{r.model} {r.group[:3]}")
        add(rows, base)
        oracle = abl[(abl.group == ORACLE_GROUP) & abl.macro_auc.notna()] if len(abl) else abl
        if "baseline" in set(oracle.get("model", [])):
            b = oracle.set_index("model").loc["baseline", "macro_auc"]
            add(_rows(oracle[oracle.model != "baseline"], f"oracle-trained bound ({name}), pixel-annotated test",
                      lambda r: f"{r.model}, {'ground-truth' if r.maps == MAPS_ORACLE_TRAINED else 'parser'} maps"),
                b, bounds)
    study = results_root / MAP_QUALITY / "map_quality.csv"
    if study.exists():
        s = pd.read_csv(study)
        b = s.set_index("model").loc["baseline", "macro_auc"]
        add(_rows(s[s.model != "baseline"], "map quality (map_quality), pixel-annotated test",
                  lambda r: f"{r.model}, {r.condition} (mIoU {r.map_test_miou:.2f})"), b, bounds)
    return pd.DataFrame(parts + bounds)


def _ci(r) -> str:
    return interval(r.delta_macro_auc, r.delta_ci_low, r.delta_ci_high)


def _listed(xs: list[str]) -> str:
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def _by_claim(rows: pd.DataFrame) -> tuple[str, str]:
    """('beats the baseline at 192x128 and 288x192 but is not distinguishable ... at 384x256',
    'Δ macro AUC +0.0213 [...] at 192x128, ...'): what the intervals support, then the numbers."""
    said = {}
    for r in rows.itertuples():
        said.setdefault(claim(r), []).append(r.resolution)
    words = (" but " if len(said) == 2 else "; ").join(f"{c} at {_listed(res)}" for c, res in said.items())
    return words, "Δ macro AUC " + ", ".join(f"{_ci(r)} at {r.resolution}" for r in rows.itertuples())


def answer(results_root: Path = paths.RESULTS_DIR) -> str:
    """The answer in a few sentences, each generated from a table: the proposed model against the baseline at
    every resolution run, the best alternative, the oracle-trained bound, and the map-quality study."""
    t = resolution.table(resolution.available(results_root))
    prop = t[t.model == "proposed"]
    rel = ", ".join(f"{r.rel_auc_improvement_pct:+.2f} %" for r in prop.itertuples())
    words, numbers = _by_claim(prop)
    out = [f"With maps from a parser trained here, the proposed model **{words}** ({numbers}); its average "
           f"relative per-label AUC change is {rel}, against the paper's +{PAPER_REL_AUC_IMPROVEMENT_PCT:.2f} %."]
    alts = t[~t.model.isin(["baseline", "proposed"])]
    if len(alts):
        default = alts[alts.profile == paths.DEFAULT_PROFILE]
        best = (default if len(default) else alts).sort_values("delta_macro_auc").model.iloc[-1]
        words, numbers = _by_claim(alts[alts.model == best])
        out.append(f"The best alternative, `{best}`, {words} ({numbers}).")
    abl_path = results_root / "ablations.csv"
    if abl_path.exists():
        o = pd.read_csv(abl_path).query("group == @ORACLE_GROUP and model == 'proposed'")
        gt = o[o.maps == MAPS_ORACLE_TRAINED]
        if len(gt):
            r = gt.iloc[0]
            so = ("the map, not the fusion, is what holds it back" if claim(r) == BETTER
                  else "even a perfect map does not carry it")
            out.append(f"Trained and tested with ground-truth `{r.vocabulary}` maps on the pixel-annotated half, the "
                       f"proposed model {claim(r)} of the same rows ({delta(r, 'Δ macro AUC')}, "
                       f"{r.rel_auc_improvement_pct:+.2f} % relative): {so}.")
    study = results_root / MAP_QUALITY / "map_quality.csv"
    if study.exists():
        out.append(map_quality_sentence(pd.read_csv(study)))
    return " ".join(out) + "\n"


def map_quality_sentence(study: pd.DataFrame) -> str:
    """The map-quality study in one sentence: where on the curve the proposed model's gain first excludes 0, and
    the three controls."""
    prop = study[study.model == "proposed"].set_index("condition")
    curve = prop[prop.kind.isin(["parser", "blend"])].sort_values("map_test_miou")
    first = curve[curve.delta_ci_low > 0]
    parser = prop.loc["predicted"]
    where = (f"its gain first excludes 0 at map test mIoU {first.map_test_miou.iloc[0]:.2f}" if len(first) else
             f"its gain excludes 0 nowhere below the ground truth (maps up to test mIoU "
             f"{curve.map_test_miou.max():.2f})")
    controls = ", ".join(f"{c} {delta(prop.loc[c])}" for c in CONTROL_NAMES if c in prop.index)
    return (f"Between the parser's maps (test mIoU {parser.map_test_miou:.2f}) and the ground truth, {where}; "
            f"the controls: {controls} ([what in the map helps](#what-in-the-map-helps)).")


def write(results_root: Path = paths.RESULTS_DIR, figures_root: Path = paths.FIGURES_DIR) -> Path | None:
    """figures/summary.png from whatever runs there are (none: nothing written)."""
    rows = forest(results_root)
    if rows.empty:
        return None
    path = figures_root / "summary.png"
    save_figure(plots.summary(rows), path)
    return path


def main(argv=None) -> int:
    print(answer())
    print(write() or "no runs to summarise")
    return 0


if __name__ == "__main__":
    sys.exit(main())
