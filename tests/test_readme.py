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
