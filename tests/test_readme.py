"""The README's result blocks are generated from results/: a block that differs from the tables fails here."""
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from sednn.core import paths
from sednn.core.arms import AblationGroup
from sednn.reporting import blocks, readme


def test_readme_and_docs_blocks_match_the_committed_results():
    names = readme.blocks_in((paths.REPO_ROOT / "README.md").read_text())
    assert {"answer", "run", "verdict", "main_table", "per_seed", "tuning", "ablations", "parser_iou",
            "map_quality", "map_quality_verdict"} <= set(names)
    assert any(readme.blocks_in(d.read_text()) for d in readme.documents()[1:]), "docs/ has generated blocks"
    assert readme.stale_everywhere() == [], "README or docs differ from results/: run `make readme`"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than - and _ dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", doc.read_text(), re.M)}


def test_every_link_of_the_readme_and_docs_points_to_a_file_and_heading_that_exist():
    broken = []
    for doc in readme.documents():
        text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)  # code blocks hold commands, not links
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert broken == []


def test_the_first_screen_gives_the_answer_the_figure_the_commands_and_the_notebooks():
    first = "\n".join((paths.REPO_ROOT / "README.md").read_text().splitlines()[:40])
    assert "<!-- /sednn:answer -->" in first and "paper's +15.27 %" in first
    assert "](figures/summary.png)" in first and "make reproduce" in first and "make test" in first
    assert first.count("](results/") >= 7  # every rendered notebook


def test_no_word_of_how_the_work_was_organised():
    word = re.compile(r"\b" + "iss" + r"ues?\b", re.I)
    tracked = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
    hits = [f for f in tracked if f.endswith((".md", ".py", ".ipynb", ".toml", ".yml", "Makefile"))
            and word.search((paths.REPO_ROOT / f).read_text())]
    assert hits == []


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

    g = AblationGroup.ORACLE_TRAINED.label
    rows = [{"group": g, "model": "baseline", "maps": "none", "delta_macro_auc": 0.0, "delta_ci_low": None,
             "delta_ci_high": None}]
    for maps, (lo, hi) in [("predicted", pred_ci), ("ground truth (oracle-trained)", gt_ci)]:
        rows.append({"group": g, "model": "proposed", "maps": maps, "delta_macro_auc": (lo + hi) / 2,
                     "delta_ci_low": lo, "delta_ci_high": hi})
    return pd.DataFrame([{"group": "main", "model": "proposed", "maps": "predicted", "delta_macro_auc": 0.1,
                          "delta_ci_low": 0.05, "delta_ci_high": 0.15}, *rows])


def test_oracle_sentence_follows_the_intervals_of_group_e():
    from sednn.reporting.prose import oracle_sentence

    s = oracle_sentence(_oracle_rows(gt_ci=(0.01, 0.1), pred_ci=(-0.05, 0.04)))
    assert "ground-truth maps beats the baseline (Δ +0.0550 [+0.0100, +0.1000])" in s
    assert "parser's maps is not distinguishable" in s and "the map is the bottleneck" in s
    assert "does not carry" in oracle_sentence(_oracle_rows(gt_ci=(-0.01, 0.1), pred_ci=(-0.05, 0.04)))
    assert "already suffice" in oracle_sentence(_oracle_rows(gt_ci=(0.01, 0.1), pred_ci=(0.01, 0.04)))
    assert oracle_sentence(_oracle_rows((0.01, 0.1), (0.0, 0.1)).query("group == 'main'")) == ""


def test_another_parser_replaces_the_default_only_beyond_the_defaults_own_movement(tmp_path):
    import json

    import pandas as pd

    def block(other_best):
        rows = [{"vocabulary": "regions", "parser": p, "lr": 0.003, "epoch": e, "val_miou": v,
                 "chosen": v == max(vals)} for p, vals in (("lite0", [0.50, 0.56, 0.57, 0.58, 0.575, 0.579]),
                                                          ("lite2", [0.50, 0.55, other_best]))
                for e, v in enumerate(vals, 1)]
        pd.DataFrame(rows).to_csv(tmp_path / "parser_tuning.csv", index=False)
        pd.DataFrame([{"split": "test", "class": "mean (mIoU)", "parser": p, "iou": 0.5} for p in ("lite0", "lite2")]
                     ).to_csv(tmp_path / "parser_iou.csv", index=False)
        (tmp_path / "RUN.json").write_text(json.dumps({"profile": {"parser_backbone": "lite0"}}))
        return blocks.parsers_block(tmp_path)

    # lite0's last 5 epochs moved by 0.58 - 0.56 = 0.02
    assert "`lite2` 0.6100 (+0.0300), more than that: it would become the default parser" in block(0.61)
    assert "`lite2` 0.5900 (+0.0100), within that: `lite0` stays the default parser" in block(0.59)
    # a run with one encoder: nothing to weigh it against, and the sentence says so
    for name in ("parser_tuning", "parser_iou"):
        table = pd.read_csv(tmp_path / f"{name}.csv")
        table[table.parser == "lite0"].to_csv(tmp_path / f"{name}.csv", index=False)
    assert blocks.parsers_block(tmp_path).endswith("0.5800, which moved by 0.0200 over its last 5 epochs (the only "
                                                   "encoder this run trains).\n")


def _bench_rows(machine=None):
    rows = pd.DataFrame({"model": ["baseline", "proposed", "input pipeline (baseline)"], "device": "cpu",
                         "image_hw": "192x128", "train_img_per_s": [50.0, 40.0, None],
                         "train_step_s": [0.64, 0.80, 0.70], "train_step_ratio_to_baseline": [1.0, 1.25, None],
                         "infer_ratio_to_baseline": [1.0, 1.1, None], "loader_overhead_ratio": [None, None, 1.1]})
    return rows.assign(machine=machine) if machine else rows


def test_bench_blocks_name_the_machine_and_follow_the_files(tmp_path):
    _bench_rows("Some CPU").to_csv(tmp_path / "bench.csv", index=False)
    block = blocks.bench_block(tmp_path)
    assert "`Some CPU`" in block and "| proposed " in block and "1.25" in block and "+10 %" in block
    assert "input pipeline" not in block.split("\n\n")[0], "the pipeline row is a sentence, not a model"
    _bench_rows().to_csv(tmp_path / "bench.csv", index=False)
    assert "predates the benchmark's `machine` column" in blocks.bench_block(tmp_path)

    compiled = _bench_rows().assign(train_step_s=[0.32, 0.88, 0.7])
    compiled.to_csv(tmp_path / "bench_compiled.csv", index=False)
    table = blocks.bench_compiled_block(tmp_path)
    assert re.search(r"\| baseline .*\| +-50 \|", table) and re.search(r"\| proposed .*\| +10 \|", table)

    ops = pd.DataFrame({"model": "baseline", "operator": ["aten::convolution_backward", "aten::mkldnn_convolution",
                                                          "aten::native_batch_norm", "aten::relu"],
                        "share_of_step": [0.4, 0.2, 0.1, 0.05]})
    ops.to_csv(tmp_path / "bench_ops.csv", index=False)
    shares = dict(re.findall(r"\| (convolution|BatchNorm|other listed operators) +\| +([\d.]+) \|",
                             blocks.bench_ops_block(tmp_path)))
    assert shares == {"convolution": "60", "BatchNorm": "10", "other listed operators": "5"}


def test_run_times_come_from_the_committed_runs_and_name_their_machine(tmp_path):
    """The profiles' times in the README: each committed run's RUN.json, all its invocations, its machine; a test
    profile's run (results/smoke/, ignored by git) is never quoted."""
    import json

    record = {"total_seconds": 600.0, "total_seconds_all_invocations": 1500.0, "earlier_invocations": [{}],
              "cpu_model": "Some CPU", "torch_threads": 2, "git_commit": "a" * 40}
    for folder in (tmp_path, tmp_path / "smoke", tmp_path / "cpu_hr"):
        folder.mkdir(exist_ok=True)
        (folder / "RUN.json").write_text(json.dumps(record if folder != tmp_path / "cpu_hr" else
                                                    {**record, "total_seconds_all_invocations": None,
                                                     "earlier_invocations": [], "gpu": "Some GPU"}))
    assert blocks.profile_times_block(tmp_path) == (
        "Time of each committed run, on the machine it ran on: `cpu` 25 minutes (Some CPU, 2 threads, 2 invocations, "
        "commit `aaaaaaa`); `cpu_hr` 10 minutes (Some GPU, 2 threads, commit `aaaaaaa`).\n")
