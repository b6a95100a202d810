"""The first screen's answer and summary figure, from the committed results."""
import pandas as pd

from sednn.core import paths
from sednn.reporting import summary
from sednn.reporting.prose import BETTER, UNRESOLVED


def test_the_forest_has_every_model_of_every_resolution_run_with_its_interval():
    forest = summary.forest()
    main = pd.read_csv(paths.RESULTS_DIR / "main_table.csv").set_index("model")
    cpu = forest[forest.group.str.contains(r"\(cpu\)") & ~forest.group.str.startswith("oracle")].set_index("label")
    for model in ("early_fusion", "input_masking", "late_fusion", "proposed"):
        assert cpu.loc[model, "delta"] == main.loc[model, "delta_macro_auc"]
        assert cpu.loc[model, "low"] == main.loc[model, "delta_ci_low"]
    assert {"se_only (a)", "no_gate (b)"} <= set(cpu.index)
    assert forest.group.str.contains("cpu_hr").any() and forest.group.str.contains("cpu_384").any()
    oracle = forest[forest.group.str.startswith("oracle")].set_index("label")
    assert oracle.loc["proposed, ground-truth maps", "claim"] == BETTER
    # the paper's +15.27 % relative, as a Δ at the baseline of each group
    assert (forest.paper_delta - 0.1527 * main.loc["baseline", "macro_auc"]).abs().min() < 1e-12
    assert (forest.low <= forest.delta).all() and (forest.delta <= forest.high).all()


def test_the_answer_says_what_the_intervals_support_with_their_numbers():
    text = summary.answer()
    main = pd.read_csv(paths.RESULTS_DIR / "main_table.csv").set_index("model")
    p = main.loc["proposed"]
    assert f"{p.delta_macro_auc:+.4f} [{p.delta_ci_low:+.4f}, {p.delta_ci_high:+.4f}] at 192x128" in text
    claim = BETTER if p.delta_ci_low > 0 else UNRESOLVED if p.delta_ci_high > 0 else None
    assert f"the proposed model **{claim}" in text and "+15.27 %" in text
    assert "The best alternative, `input_masking`" in text and "ground-truth `regions` maps" in text


def test_the_figure_is_written(tmp_path):
    path = summary.write(paths.RESULTS_DIR, tmp_path)
    assert path == tmp_path / "summary.png" and path.stat().st_size > 20_000
