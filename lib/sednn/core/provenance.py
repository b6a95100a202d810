"""Which run made which result. ``RUN.json`` keeps, per notebook, the commit, device and machine it ran on and the
tables and figures it wrote; a partial rerun (``--notebooks ...``) replaces the entries of the notebooks it ran and
keeps the others, so nothing is labelled with a run that did not make it."""
from __future__ import annotations

from pathlib import Path

TABLE_SUFFIXES = (".csv", ".md")
FIGURE_SUFFIXES = (".png",)


def written_since(folder: Path, since: float, suffixes: tuple[str, ...]) -> list[str]:
    """Names of the files directly in ``folder`` with these suffixes modified at or after ``since`` (subfolders
    are other profiles' results and the rendered notebooks)."""
    return sorted(p.name for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix in suffixes and p.stat().st_mtime >= since)


def entry(record: dict, seconds: float, finished: str, tables: list[str], figures: list[str]) -> dict:
    """One notebook's provenance, from the invocation's record."""
    return {"git_commit": record.get("git_commit"), "git_dirty": record.get("git_dirty"),
            "device": record.get("device"), "hardware": record.get("gpu") or record.get("cpu_model"),
            "finished": finished, "seconds": seconds, "tables": tables, "figures": figures}


def entries(record: dict) -> dict[str, dict]:
    """Per notebook provenance of a record; a record written before notebooks were recorded one by one gets its
    own commit and machine for each of its notebooks (their outputs unknown)."""
    if "notebooks" in record:
        return record["notebooks"]
    return {name: entry(record, seconds, record.get("finished"), [], [])
            for name, seconds in record.get("notebook_seconds", {}).items()}


def merge(previous: dict | None, record: dict, order: list[str]) -> dict[str, dict]:
    """The notebooks of ``record`` and, for those it did not run, ``previous``'s (same profile only), in ``order``."""
    kept = entries(previous) if previous and previous.get("profile", {}).get("name") == \
        record.get("profile", {}).get("name") else {}
    merged = {**kept, **record.get("notebooks", {})}
    def place(n):
        return order.index(n) if n in order else len(order), n

    return {name: merged[name] for name in sorted(merged, key=place)}


def runs(record: dict) -> list[tuple[str, list[str]]]:
    """(commit, its notebooks) per commit, in notebook order: more than one pair means the results of several runs."""
    out: dict[str, list[str]] = {}
    for name, e in entries(record).items():
        out.setdefault(e.get("git_commit") or "unknown", []).append(name)
    return list(out.items())


def made_by(record: dict, table: str) -> dict:
    """The provenance of the notebook that wrote ``table`` (relative to the results folder); the record's own when
    no notebook lists it (older records)."""
    for e in entries(record).values():
        if table in e.get("tables", []):
            return e
    return entry(record, record.get("total_seconds"), record.get("finished"), [], [])
