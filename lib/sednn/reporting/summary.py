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
from sednn.core.arms import MAPS_ORACLE_TRAINED, AblationGroup
from sednn.core.io import save_figure
from sednn.reporting import plots, resolution
from sednn.reporting.prose import (
    BETTER,
    NO_INTERVAL,
    PAPER_REL_AUC_IMPROVEMENT_PCT,
    PRESENCE_MATCHES,
    PRESENCE_SHORT,
    PRESENCE_UNRESOLVED,
    UNRESOLVED,
    WORSE,
    claim,
    delta,
    interval,
    map_quality_findings,
    paper_position,
    rel_change,
)

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


def _by_outcome(outcomes: list[str], rows: pd.DataFrame) -> dict[str, list[str]]:
    """Each outcome with the runs (``rows.where``) that share it, in the order first said."""
    said = {}
    for outcome, r in zip(outcomes, rows.itertuples()):
        said.setdefault(outcome, []).append(r.where)
    return said


def _by_claim(rows: pd.DataFrame) -> str:
    """'beats the baseline at 192x128 but is not distinguishable from the baseline at 288x192 and 384x256': what
    the intervals support, by resolution."""
    said = _by_outcome([claim(r) for r in rows.itertuples()], rows)
    return (" but " if len(said) == 2 else "; ").join(f"{c} at {_listed(res)}" for c, res in said.items())


SHORT_CLAIM = {BETTER: "better", WORSE: "worse", UNRESOLVED: "not distinguishable"}
ANSWER_COLUMNS = ("comparison", "test images", "avg rel. per-label AUC change [95% CI]",
                  f"the paper's +{PAPER_REL_AUC_IMPROVEMENT_PCT:.2f} %", "Δ macro AUC [95% CI]", "direction")


def _answer_row(r, comparison: str, images: str) -> dict:
    return dict(zip(ANSWER_COLUMNS, (comparison, _with_labels(images, r), rel_change(r), paper_position(r), _ci(r),
                                     SHORT_CLAIM[claim(r)])))


def _with_labels(text: str, r) -> str:
    """'pixel-annotated (`map_quality`), 25 labels': ``text`` and the labels a row is scored on, where its table
    records them (``sednn.core.scoring``)."""
    labels = getattr(r, "labels", float("nan"))
    return text if pd.isna(labels) else f"{text}, {int(labels)} labels"


def answer_rows(results_root: Path = paths.RESULTS_DIR) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first screen's table (``ANSWER_COLUMNS``: the proposed model and the best alternative at every resolution
    run, the oracle-trained bound, the map-quality study's parser, ground-truth and presence-only maps), and the
    source rows of its models and of both ground-truth arms, the bound's and the study's, as ``part`` "oracle" (their
    numbers, for the sentences around it; ``where`` says where each ran)."""
    t = resolution.table(resolution.available(results_root))
    alts = t[~t.model.isin(["baseline", "proposed"])]
    default = alts[alts.profile == paths.DEFAULT_PROFILE]
    best = (default if len(default) else alts).sort_values("delta_macro_auc").model.iloc[-1] if len(alts) else None
    rows, sources = [], []
    for model in ["proposed", *([best] if best else [])]:
        for r in t[t.model == model].itertuples():
            rows.append(_answer_row(r, f"`{model}`, parser maps", f"all, {r.resolution}"))
            sources.append({"part": model, **r._asdict(), "where": r.resolution})
    abl_path = results_root / "ablations.csv"
    if abl_path.exists():
        abl = pd.read_csv(abl_path)
        oracle = abl[(abl.group == ORACLE_GROUP) & (abl.model == "proposed") & (abl.maps == MAPS_ORACLE_TRAINED)]
        for r in oracle.itertuples():
            rows.append(_answer_row(r, f"`proposed`, ground-truth `{r.vocabulary}` maps",
                                    f"pixel-annotated (`{paths.DEFAULT_PROFILE}`)"))
            sources.append({"part": "oracle", **r._asdict(),
                            "where": _with_labels(f"`{paths.DEFAULT_PROFILE}`, {int(r.seeds)} seeds", r)})
    study = results_root / MAP_QUALITY / "map_quality.csv"
    if study.exists():
        s = pd.read_csv(study)
        for condition, words in (("predicted", "parser"), ("ground_truth", "ground-truth"),
                                 ("presence", "presence-only")):
            for r in s[(s.model == "proposed") & (s.condition == condition)].itertuples():
                rows.append(_answer_row(r, f"`proposed`, {words} `{r.vocabulary}` maps (mIoU {r.map_test_miou:.2f})",
                                        f"pixel-annotated (`{MAP_QUALITY}`)"))
                if condition == "ground_truth":
                    sources.append({"part": "oracle", **r._asdict(),
                                    "where": _with_labels(f"`{MAP_QUALITY}`, {int(r.seeds)} seeds", r)})
    return pd.DataFrame(rows, columns=list(ANSWER_COLUMNS)), pd.DataFrame(sources)


def _gains(rows: pd.DataFrame) -> str:
    """'+2.33 % [-0.61, +5.20] at 192x128, ...': the paper's metric with its interval, by resolution."""
    return ", ".join(f"{rel_change(r)} at {r.where}" for r in rows.itertuples())


def _paper_against(rows: pd.DataFrame) -> str:
    """Where the paper's number lies against every interval of ``rows``, in words, rows of one position together:
    'above the interval at 192x128 and 288x192; no interval in this run at 384x256'."""
    where = [paper_position(r) for r in rows.itertuples()]
    if all(w == NO_INTERVAL for w in where):
        return "the run in `results/` predates this metric's interval"
    if len(set(where)) == 1:
        which = "every interval" if len(where) > 1 else "its interval"
        return f"the paper's number lies {where[0].replace('the interval', which)}"
    said = _by_outcome(where, rows)
    return "the paper's number lies " + "; ".join(f"{w} at {_listed(res)}" for w, res in said.items())


def answer(results_root: Path = paths.RESULTS_DIR) -> str:
    """The answer on the first screen, each number generated from a table: first what a rerun cannot flip, the
    paper's metric with its interval next to the paper's +15.27 %; then the table; then the direction calls against
    0 and the map-quality study."""
    table, src = answer_rows(results_root)
    prop = src[src.part == "proposed"]
    lead = (f"Against the paper's +{PAPER_REL_AUC_IMPROVEMENT_PCT:.2f} % average relative per-label AUC change, the "
            f"proposed model with maps from a parser trained here reaches {_gains(prop)}: **{_paper_against(prop)}**.")
    oracle = src[src.part == "oracle"]
    if len(oracle):
        reached = _listed([f"{rel_change(r)} ({r.where})" for r in oracle.itertuples()])
        lead += (f" Trained and tested with ground-truth maps on the pixel-annotated half it reaches {reached}: "
                 f"{_paper_against(oracle)}.")
    after = [f"The direction against 0, which a rerun can flip where an interval ends near 0: the proposed model "
             f"{_by_claim(prop)}."]
    alts = src[~src.part.isin(["proposed", "oracle"])]
    if len(alts):
        after.append(f"The best alternative, `{alts.part.iloc[0]}`, {_by_claim(alts)}.")
    study = results_root / MAP_QUALITY / "map_quality.csv"
    if study.exists():
        after.append(map_quality_sentence(pd.read_csv(study), _presence_vs_ground_truth(results_root)))
    return f"{lead}\n\n{table.to_markdown(index=False)}\n\n{' '.join(after)}\n"


PRESENCE_VS_GROUND_TRUTH = "presence_vs_ground_truth.csv"  # notebook 07: the proposed model's Δ between the two


def _presence_vs_ground_truth(results_root: Path) -> tuple[float, float, float] | None:
    path = results_root / MAP_QUALITY / PRESENCE_VS_GROUND_TRUTH
    if not path.exists():
        return None
    r = next(pd.read_csv(path).itertuples())
    return r.delta_macro_auc, r.delta_ci_low, r.delta_ci_high


def map_quality_sentence(study: pd.DataFrame, gt_minus_presence: tuple[float, float, float] | None = None) -> str:
    """The map-quality study in one sentence (``prose.map_quality_findings``): the lowest map test mIoU at which the
    proposed model's gain excludes 0 (or the bound below which it never does), and whether presence-only maps match
    the ground truth."""
    f = map_quality_findings(study, gt_minus_presence)
    r = f.first_resolved
    where = (f"its gain first excludes 0 at map test mIoU {r.map_test_miou:.2f} (`{r.name}`, {delta(r)})"
             if r is not None else
             f"its gain excludes 0 nowhere below the ground truth (maps up to test mIoU "
             f"{f.best_below_ground_truth:.2f})")
    out = (f"On the map-quality curve, from the parser's maps (test mIoU "
           f"{f.proposed.loc['predicted', 'map_test_miou']:.2f}), {where}")
    out += {PRESENCE_SHORT: f"; presence-only maps fall short of the ground truth by {f.gap}",
            PRESENCE_MATCHES: f"; presence-only maps do as well as the ground truth (ground truth minus presence "
                              f"{f.gap})",
            PRESENCE_UNRESOLVED: f"; whether presence-only maps match the ground truth is not resolved (ground truth "
                                 f"minus presence {f.gap})",
            None: ""}[f.presence]
    return out + " ([what in the map helps](#what-in-the-map-helps))."


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
