"""Blocks of README.md and docs/*.md generated from ``results/``, so the numbers there cannot drift from the tables.

Each block sits between ``<!-- sednn:NAME -->`` and ``<!-- /sednn:NAME -->``.

    python -m sednn.reporting.readme            # rewrite the blocks from results/ (the runner does it after a run)
    python -m sednn.reporting.readme --check    # exit 1 when a block differs from what results/ gives
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sednn.core import paths
from sednn.core.io import write_text
from sednn.reporting import blocks as B
from sednn.reporting.summary import answer

BLOCK = re.compile(r"(<!-- sednn:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /sednn:(?P=name) -->)", re.S)


MAP_QUALITY = "map_quality"
BLOCKS = {
    "answer": answer,
    "run": B.run_line,
    "run_map_quality": B.optional(f"{MAP_QUALITY}/RUN.json", lambda r: B.run_line(r / MAP_QUALITY),
                                f"No finished `{MAP_QUALITY}` run yet: `make reproduce PROFILE={MAP_QUALITY}`.\n"),
    "map_quality": B.optional(f"{MAP_QUALITY}/map_quality.md", B._text(f"{MAP_QUALITY}/map_quality.md"),
                            "No map-quality study yet.\n"),
    "map_quality_verdict": B.optional(f"{MAP_QUALITY}/map_quality_verdict.md",
                                    B._text(f"{MAP_QUALITY}/map_quality_verdict.md"), "No map-quality study yet.\n"),
    "map_quality_parsers": B.optional(f"{MAP_QUALITY}/parser_iou.csv", lambda r: B.parsers_block(r / MAP_QUALITY),
                                    "No map-quality study yet.\n"),
    **{f"run_{p}": B.optional(f"{p}/RUN.json", lambda r, p=p: B.run_line(r / p),
                            f"No finished `{p}` run yet: `make reproduce PROFILE={p}`.\n")
       for p in paths.RESOLUTION_PROFILES if p != paths.DEFAULT_PROFILE},
    "resolution": B.optional("resolution_table.md", lambda r: (r / "resolution_table.md").read_text(),
                           "No table across resolutions yet: it needs two of the `cpu`, `cpu_hr`, `cpu_384` runs.\n"),
    "profile_times": B.profile_times_block,
    "verdict": lambda r: (r / "verdict.md").read_text(),
    "main_table": lambda r: (r / "main_table.md").read_text(),
    "per_seed": B.per_seed_block,
    "tuning": B.tuning_block,
    "ablations": lambda r: (r / "ablations.md").read_text(),
    "oracle": B.oracle_block,
    "parser_iou": B.parser_block,
    "localization": B.csv_block("localization", digits=3),
    "background_swap": B.csv_block("background_swap", ["model", "n_images", "macro_auc_original",
                                                     "macro_auc_swapped", "drop"]),
    "work": B.work_block,
    "projection_check": B.projection_check_block,
    "bench": B.bench_block,
    "hr_cost": B.hr_cost_block,
    "bench_ops": B.bench_ops_block,
    "bench_compiled": B.bench_compiled_block,
}


def render(results: Path, names) -> dict[str, str]:
    return {n: BLOCKS[n](Path(results)) for n in names}


def blocks_in(text: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in BLOCK.finditer(text)}


def documents(root: Path = paths.REPO_ROOT) -> list[Path]:
    """The files with generated blocks: README.md and the pages under docs/."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


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


def stale_everywhere(root: Path = paths.REPO_ROOT, results: Path = paths.RESULTS_DIR) -> list[str]:
    """``file: block`` for every stale block of every document."""
    return [f"{doc.relative_to(root)}: {name}" for doc in documents(root) for name in stale_blocks(doc, results)]


def update_everywhere(root: Path = paths.REPO_ROOT, results: Path = paths.RESULTS_DIR) -> list[str]:
    return [f"{doc.relative_to(root)}: {name}" for doc in documents(root) for name in update(doc, results)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sednn.reporting.readme", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report blocks that differ from results/")
    args = ap.parse_args(argv)
    if args.check:
        stale = stale_everywhere()
        print("blocks differ from results/: " + ", ".join(stale) if stale else "README and docs match results/")
        return 1 if stale else 0
    changed = update_everywhere()
    print("blocks rewritten: " + (", ".join(changed) or "none changed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
