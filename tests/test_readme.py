"""The README's result blocks are generated from results/: a block that differs from the tables fails here."""
import shutil

from sednn import paths, readme


def test_readme_blocks_match_the_committed_results():
    names = readme.blocks_in((paths.REPO_ROOT / "README.md").read_text())
    assert {"run", "verdict", "main_table", "per_seed", "tuning", "ablations", "parser_iou"} <= set(names)
    assert readme.stale_blocks() == [], "README differs from results/: run `make readme`"


def test_a_hand_edited_number_is_caught_and_regenerated(tmp_path):
    shutil.copytree(paths.RESULTS_DIR, tmp_path / "results", ignore=shutil.ignore_patterns("notebooks"))
    copy = tmp_path / "README.md"
    text = (paths.REPO_ROOT / "README.md").read_text()
    body = readme.blocks_in(text)["main_table"]
    edited = body.replace("0.", "9.", 1)
    assert edited != body
    copy.write_text(text.replace(body, edited))
    assert readme.stale_blocks(copy, tmp_path / "results") == ["main_table"]
    assert readme.update(copy, tmp_path / "results") == ["main_table"]
    assert readme.stale_blocks(copy, tmp_path / "results") == [] and copy.read_text() == text


def _oracle_rows(gt_ci, pred_ci):
    import pandas as pd

    g = "(e) oracle-trained bound"
    rows = [{"group": g, "model": "baseline", "maps": "none", "delta_macro_auc": 0.0, "delta_ci_low": None,
             "delta_ci_high": None}]
    for maps, (lo, hi) in [("predicted", pred_ci), ("ground truth (oracle-trained)", gt_ci)]:
        rows.append({"group": g, "model": "proposed", "maps": maps, "delta_macro_auc": (lo + hi) / 2,
                     "delta_ci_low": lo, "delta_ci_high": hi})
    return pd.DataFrame([{"group": "main", "model": "proposed", "maps": "predicted", "delta_macro_auc": 0.1,
                          "delta_ci_low": 0.05, "delta_ci_high": 0.15}, *rows])


def test_oracle_sentence_follows_the_intervals_of_group_e():
    from sednn.report import oracle_sentence

    s = oracle_sentence(_oracle_rows(gt_ci=(0.01, 0.1), pred_ci=(-0.05, 0.04)))
    assert "ground-truth maps beats the baseline (Δ +0.0550 [+0.0100, +0.1000])" in s
    assert "parser's maps is not distinguishable" in s and "the map is the bottleneck" in s
    assert "does not carry" in oracle_sentence(_oracle_rows(gt_ci=(-0.01, 0.1), pred_ci=(-0.05, 0.04)))
    assert "already suffice" in oracle_sentence(_oracle_rows(gt_ci=(0.01, 0.1), pred_ci=(0.01, 0.04)))
    assert oracle_sentence(_oracle_rows((0.01, 0.1), (0.0, 0.1)).query("group == 'main'")) == ""
