"""README blocks generated from ``results/``, so the numbers there cannot drift from the tables.

Each block sits between ``<!-- sednn:NAME -->`` and ``<!-- /sednn:NAME -->`` in README.md.

    python -m sednn.readme            # rewrite the blocks from results/ (the runner does it after a run)
    python -m sednn.readme --check    # exit 1 when a block differs from what results/ gives
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

from . import paths
from .io import write_text

BLOCK = re.compile(r"(<!-- sednn:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /sednn:(?P=name) -->)", re.S)


def _csv(results: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(results / f"{name}.csv")


def run_line(results: Path) -> str:
    r = json.loads((results / "RUN.json").read_text())
    p = r["profile"]
    times = ", ".join(f"{k} {v / 60:.1f} min" for k, v in r["notebook_seconds"].items())
    parser_hw = p.get("parser_image_hw")
    parser = f", parser at {parser_hw[0]}x{parser_hw[1]}" if parser_hw else ""
    return (f"Run: profile **`{p['name']}`** ({p['image_hw'][0]}x{p['image_hw'][1]}{parser}, {p['epochs']} epochs, "
            f"model seeds {', '.join(map(str, r['model_seeds']))}, lr multiplier grid "
            f"{', '.join(f'{m:g}' for m in p['lr_mults'])}), split seed {r['split_seed']}, device **{r['device']}**"
            f" ({r.get('gpu') or r.get('cpu_model')}, {r['torch_threads']} threads), commit `{r['git_commit'][:7]}`, "
            f"{r['total_seconds'] / 60:.1f} minutes ({times}).{resumed_note(r)}\n")


def resumed_note(r: dict) -> str:
    """A resumed run: its time over every invocation of the same commit (finished and partial notebooks)."""
    over = r.get("notebook_seconds_all_invocations")
    if not over:
        return ""
    times = ", ".join(f"{k} {v / 60:.1f} min" for k, v in over.items())
    return (f" Resumed after {len(r['earlier_invocations'])} stopped invocation(s); over all of them "
            f"{r['total_seconds_all_invocations'] / 60:.1f} minutes ({times}).")


def parser_block(results: Path) -> str:
    iou = _csv(results, "parser_iou")
    keys = ["vocabulary", "class"]  # a merge keeps the classes in vocabulary order, mIoU last
    table = iou[iou.split == "val"][[*keys, "iou"]].merge(iou[iou.split == "test"][[*keys, "iou"]], on=keys,
                                                          suffixes=(" val", " test"))
    return table.round(3).to_markdown(index=False) + "\n"


def tuning_block(results: Path) -> str:
    t = _csv(results, "tuning")
    used = t[t.used_for_choice].pivot_table(index="model", columns="lr_mult", values="val_macro_auc",
                                            aggfunc="mean", sort=False)
    used.columns = [f"val macro AUC, lr mult {c:g}" for c in used.columns]
    chosen = t[t.chosen].groupby("model", sort=False).agg(chosen=("lr_mult", "first"),
                                                          best_epochs=("best_epoch", lambda e: "/".join(map(str, e))))
    return used.round(4).join(chosen).reset_index().to_markdown(index=False) + "\n"


def per_seed_block(results: Path) -> str:
    s = _csv(results, "per_seed")
    table = s.pivot(index="model", columns="seed", values="delta_vs_baseline_same_seed").loc[s.model.unique()]
    table.columns = [f"Δ test macro AUC, seed {c}" for c in table.columns]
    return table.round(4).reset_index().to_markdown(index=False) + "\n"


def oracle_block(results: Path) -> str:
    from .report import oracle_sentence  # report pulls in torch; the other blocks need only pandas

    return oracle_sentence(_csv(results, "ablations")) or "The oracle-trained bound (e) did not run in this profile.\n"


def work_block(results: Path) -> str:
    """What the cpu and gpu profiles ask of the machine (``sednn.workload``), on the committed split."""
    from . import workload
    from .profiles import PROFILES

    splits = pd.read_csv(results / "splits.csv", dtype={"id": str})
    rows = [{"profile": f"`{name}`", **workload.summary(PROFILES[name], splits)} for name in ("cpu", "gpu")]
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


CHECKED_NOTEBOOKS = ("03_baseline", "04_alternatives", "05_proposed")  # the cpu_hr benchmark has no parser row


def projection_check_block(results: Path) -> str:
    """The projection from ``results/cpu_hr/bench.csv`` beside the measured ``cpu_hr`` run (the same CPU kind)."""
    from . import workload
    from .profiles import PROFILES

    bench = pd.read_csv(results / "cpu_hr" / "bench.csv")
    projected = workload.projection(PROFILES["cpu_hr"], bench, pd.read_csv(results / "cpu_hr" / "splits.csv"),
                                    notebooks=CHECKED_NOTEBOOKS)
    check = workload.against_run(projected, results / "cpu_hr" / "RUN.json")
    table = check[["notebook", "projected_s", "measured_s", "measured_over_projected"]].round(
        {"projected_s": 0, "measured_s": 0, "measured_over_projected": 3})
    return (table.to_markdown(index=False) + f"\n\nThe run: `{check.cpu_model.iloc[0]}`, commit "
            f"`{check.run_commit.iloc[0][:7]}`; the benchmark was measured for that study on the same machine kind.\n")


def csv_block(name: str, columns: list[str] | None = None, digits: int = 4):
    def block(results: Path) -> str:
        df = _csv(results, name)
        return (df[columns] if columns else df).round(digits).to_markdown(index=False) + "\n"
    return block


def optional(name: str, block, missing: str):
    """A block from a file or folder that exists only after another profile's run."""
    def render(results: Path) -> str:
        return block(results) if (results / name).exists() else missing
    return render


BLOCKS = {
    "run": run_line,
    **{f"run_{p}": optional(f"{p}/RUN.json", lambda r, p=p: run_line(r / p),
                            f"No finished `{p}` run yet: `make reproduce PROFILE={p}`.\n")
       for p in paths.RESOLUTION_PROFILES if p != paths.DEFAULT_PROFILE},
    "resolution": optional("resolution_table.md", lambda r: (r / "resolution_table.md").read_text(),
                           "No table across resolutions yet: it needs two of the `cpu`, `cpu_hr`, `cpu_384` runs.\n"),
    "verdict": lambda r: (r / "verdict.md").read_text(),
    "main_table": lambda r: (r / "main_table.md").read_text(),
    "per_seed": per_seed_block,
    "tuning": tuning_block,
    "ablations": lambda r: (r / "ablations.md").read_text(),
    "oracle": oracle_block,
    "parser_iou": parser_block,
    "localization": csv_block("localization", digits=3),
    "background_swap": csv_block("background_swap", ["model", "n_images", "macro_auc_original",
                                                     "macro_auc_swapped", "drop"]),
    "work": work_block,
    "projection_check": projection_check_block,
}


def render(results: Path, names) -> dict[str, str]:
    return {n: BLOCKS[n](Path(results)) for n in names}


def blocks_in(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def stale_blocks(readme: Path = paths.REPO_ROOT / "README.md", results: Path = paths.RESULTS_DIR) -> list[str]:
    """Names of the blocks of ``readme`` that differ from what ``results`` gives."""
    current = blocks_in(readme.read_text())
    fresh = render(results, current)
    return [n for n, body in current.items() if fresh[n] != body]


def update(readme: Path = paths.REPO_ROOT / "README.md", results: Path = paths.RESULTS_DIR) -> list[str]:
    """Rewrite every block of ``readme`` from ``results``; returns the names of the blocks that changed."""
    text = readme.read_text()
    fresh = render(results, blocks_in(text))
    new = BLOCK.sub(lambda m: m.group(1) + fresh[m["name"]] + m.group(4), text)
    if new != text:
        write_text(readme, new)
    return [n for n, body in blocks_in(text).items() if fresh[n] != body]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sednn.readme", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report blocks that differ from results/")
    args = ap.parse_args(argv)
    if args.check:
        stale = stale_blocks()
        print("README blocks differ from results/: " + ", ".join(stale) if stale else "README matches results/")
        return 1 if stale else 0
    changed = update()
    print("README blocks rewritten: " + (", ".join(changed) or "none changed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
