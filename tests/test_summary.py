"""The first screen's answer and summary figure, from the committed results."""
from types import SimpleNamespace

import pandas as pd

from sednn.core import paths
from sednn.core.arms import MAPS_ORACLE_TRAINED, AblationGroup
from sednn.reporting import prose, summary
from sednn.reporting.prose import BETTER, UNRESOLVED, WORSE


def test_the_forest_has_every_model_of_every_resolution_run_with_its_interval():
    forest = summary.forest()
    main = pd.read_csv(paths.RESULTS_DIR / "main_table.csv").set_index("model")
    cpu = forest[forest.group.str.contains(r"\(cpu\)") & ~forest.group.str.startswith("oracle")].set_index("label")
    for model in ("early_fusion", "input_masking", "late_fusion", "proposed"):
        assert cpu.loc[model, "delta"] == main.loc[model, "delta_macro_auc"]
        assert cpu.loc[model, "low"] == main.loc[model, "delta_ci_low"]
    assert {"se_only (a)", "no_gate (b)"} <= set(cpu.index)
    assert forest.group.str.contains("cpu_hr").any() and forest.group.str.contains("cpu_384").any()
    # the bound's rows carry the ablations table's numbers, and their claim follows their interval, whatever it is
    oracle = forest[forest.group.str.startswith("oracle-trained bound (cpu)")].set_index("label")
    bound = pd.read_csv(paths.RESULTS_DIR / "ablations.csv")
    bound = bound[(bound.group == AblationGroup.ORACLE_TRAINED.label) & (bound.maps == MAPS_ORACLE_TRAINED)]
    gt = bound.set_index("model").loc["proposed"]
    row = oracle.loc["proposed, ground-truth maps"]
    assert (row.delta, row.low, row.high) == (gt.delta_macro_auc, gt.delta_ci_low, gt.delta_ci_high)
    assert row.claim == (BETTER if gt.delta_ci_low > 0 else WORSE if gt.delta_ci_high < 0 else UNRESOLVED)
    # the paper's +15.27 % relative, as a Δ at the baseline of each group
    assert (forest.paper_delta - 0.1527 * main.loc["baseline", "macro_auc"]).abs().min() < 1e-12
    assert (forest.low <= forest.delta).all() and (forest.delta <= forest.high).all()


def test_the_answer_leads_with_the_papers_metric_then_a_table_then_the_direction():
    text = summary.answer()
    lead, table, after = text.split("\n\n")
    main = pd.read_csv(paths.RESULTS_DIR / "main_table.csv").set_index("model")
    p = main.loc["proposed"]
    assert lead.startswith("Against the paper's +15.27 % average relative per-label AUC change")
    assert f"{p.rel_auc_improvement_pct:+.2f} %" in lead
    study = pd.read_csv(paths.RESULTS_DIR / "map_quality" / "map_quality.csv").set_index(["model", "condition"])
    gt = study.loc[("proposed", "ground_truth")]
    assert f"{prose.rel_change(gt)} (`map_quality`, {int(gt.seeds)} seeds, {int(gt.labels)} labels)" in lead
    claim = BETTER if p.delta_ci_low > 0 else UNRESOLVED if p.delta_ci_high > 0 else None
    row = next(line for line in table.splitlines() if "`proposed`, parser maps" in line and "192x128" in line)
    assert f"{p.delta_macro_auc:+.4f} [{p.delta_ci_low:+.4f}, {p.delta_ci_high:+.4f}]" in row
    assert summary.SHORT_CLAIM[claim] in row
    assert f"the proposed model {claim} at 192x128" in after and "The best alternative, `input_masking`" in after
    assert "ground-truth `regions` maps" in table and f"(`map_quality`), {int(gt.labels)} labels" in table
    assert len(table.splitlines()) == 2 + 6 + 1 + 3  # header; 2 models x 3 resolutions; the bound; 3 study rows


def test_the_papers_number_is_placed_against_each_interval():
    def row(lo, hi):
        return SimpleNamespace(rel_auc_improvement_pct=(lo + hi) / 2, rel_ci_low_pct=lo, rel_ci_high_pct=hi)

    assert prose.paper_position(row(-1.0, 5.0)) == prose.PAPER_ABOVE
    assert prose.paper_position(row(5.0, 20.0)) == prose.PAPER_INSIDE
    assert prose.paper_position(row(16.0, 20.0)) == prose.PAPER_BELOW
    assert prose.paper_position(SimpleNamespace(rel_auc_improvement_pct=2.0)) == prose.NO_INTERVAL
    assert prose.rel_change(row(-1.0, 5.0)) == "+2.00 % [-1.00, +5.00]"
    rows = pd.DataFrame([{**vars(row(-1.0, 5.0)), "where": "192x128"},
                         {**vars(row(0.0, 4.0)), "where": "288x192"}])
    assert summary._paper_against(rows) == "the paper's number lies above every interval"
    rows.loc[1, ["rel_ci_low_pct", "rel_ci_high_pct"]] = [10.0, 20.0]
    assert summary._paper_against(rows) == ("the paper's number lies above the interval at 192x128; inside the "
                                            "interval at 288x192")
    rows = pd.concat([rows, pd.DataFrame([{**vars(row(-2.0, 3.0)), "where": "384x256"}])], ignore_index=True)
    assert summary._paper_against(rows) == ("the paper's number lies above the interval at 192x128 and 384x256; "
                                            "inside the interval at 288x192")


def test_a_row_says_how_many_labels_it_is_scored_on_where_its_table_records_it():
    assert summary._with_labels("pixel-annotated (`map_quality`)", SimpleNamespace(labels=25.0)) == \
        "pixel-annotated (`map_quality`), 25 labels"
    assert summary._with_labels("all, 192x128", SimpleNamespace(labels=float("nan"))) == "all, 192x128"
    assert summary._with_labels("all, 192x128", SimpleNamespace()) == "all, 192x128"  # a run before the rule


def test_the_map_quality_sentence_gives_the_lowest_miou_that_excludes_zero_and_the_presence_answer():
    def arm(condition, kind, miou, lo):
        return {"model": "proposed", "condition": condition, "kind": kind, "map_test_miou": miou,
                "delta_macro_auc": lo + 0.02, "delta_ci_low": lo, "delta_ci_high": lo + 0.04}

    study = pd.DataFrame([arm("predicted", "parser", 0.58, -0.01), arm("blend:0.25", "blend", 0.66, -0.005),
                          arm("blend:0.5", "blend", 0.74, 0.004), arm("blend:0.75", "blend", 0.82, 0.01),
                          arm("ground_truth", "ground truth", 0.90, 0.03), arm("presence", "control", 0.10, 0.02)])
    text = summary.map_quality_sentence(study, (0.01, -0.01, 0.03))  # ground truth minus presence
    assert "first excludes 0 at map test mIoU 0.74 (`blend:0.5`" in text
    assert "presence-only maps do as well as the ground truth" in text
    study["delta_ci_low"] = -0.02
    text = summary.map_quality_sentence(study, (0.05, 0.01, 0.09))
    assert "nowhere below the ground truth (maps up to test mIoU 0.82)" in text and "fall short" in text
    assert "presence" not in summary.map_quality_sentence(study)  # a run without that comparison says nothing of it


def test_the_citation_file_names_the_paper_first_and_the_repository_beside_it():
    import yaml

    cff = yaml.safe_load((paths.REPO_ROOT / "CITATION.cff").read_text())
    paper = cff["preferred-citation"]
    assert paper["title"].startswith("Semantic Embedded Deep Neural Network")
    assert [a["family-names"] for a in paper["authors"]] == ["Shen", "Zhao", "Luo"]
    assert "2305.05228" in paper["url"] and cff["cff-version"] == "1.2.0" and cff["type"] == "software"


def test_the_figure_is_written(tmp_path):
    path = summary.write(paths.RESULTS_DIR, tmp_path)
    assert path == tmp_path / "summary.png" and path.stat().st_size > 20_000
