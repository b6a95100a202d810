"""Headless reproduction: run the notebooks in order with papermill and record the run.

    python -m sednn.pipeline.runner --profile cpu            # what `make reproduce` does

Executed copies go to ``<work_dir>/notebooks/`` and, for readers, to ``<results>/notebooks/`` (outputs kept);
tables to results/ and figures to figures/ (other profiles than ``cpu``: to their ``<profile>/`` subfolders);
``results/RUN.json`` records commit, profile, seeds, the machine
(CPU model or GPU name, threads, numerics-relevant torch settings), versions and per-notebook times, and for every
notebook the commit, device and machine it ran on and the tables and figures it wrote (``sednn.core.provenance``): a
partial rerun (``--notebooks``) replaces only the entries of the notebooks it ran.
A failing notebook stops the run, is named with its cell, and the exit code is non-zero.

A run that is stopped (killed, or failed) resumes where it was when started again at the same commit: notebooks
rerun, finished trainings and caches are loaded, not redone. ``RUN.json`` then keeps what each earlier invocation
finished and how long it had been in the notebook it stopped in, so the times of a resumed run add up.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sednn.core import paths, provenance
from sednn.core.epochs import training_epochs
from sednn.core.io import write_json
from sednn.core.plan import NOTEBOOKS
from sednn.core.profiles import PROFILES, TEST_PROFILES, get_profile
from sednn.data.dataset import (
    check_folder_is_ours,
    check_own_results_dir,
    dataset_identity,
    dataset_name,
    read_prepared,
)
from sednn.data.manifest import MANIFEST_NAME, PIXEL_SOURCE
from sednn.pipeline.machine import device_info, git_state, numerics, versions
from sednn.pipeline.render import parameters_for_readers, write_for_readers
from sednn.training import progress


class NotebookFailed(RuntimeError):
    pass


class MachineChanged(RuntimeError):
    pass


def earlier_invocations(work: Path, record: dict) -> list[dict]:
    """The invocations of the same commit and profile that stopped before the end (``<work>/RUN.json`` is
    rewritten at every notebook): what each finished, and how long it had been in the notebook it stopped in,
    until papermill last saved that notebook's executed copy (at least every 30 s). One made on another machine
    raises ``MachineChanged``."""
    path = work / "RUN.json"
    if not path.exists():
        return []
    prev = json.loads(path.read_text())
    if (prev.get("status") == "ok" or prev.get("git_commit") != record["git_commit"]
            or prev.get("profile", {}).get("name") != record["profile"]["name"]):
        return []
    then, now = numerics(prev), numerics(record)
    if then != now:  # one result, one machine: its trainings' numbers would mix two
        changed = {k: (v, now[k]) for k, v in then.items() if v != now[k]}
        raise MachineChanged(f"{path}: a stopped run of this commit and profile made on another machine "
                             f"(then, now: {changed}); resuming it here would mix two machines' numbers in one "
                             f"result. Start it again: remove {work} (`make clean-runs` removes every run)")
    this = {"started": prev["started"], "status": "interrupted" if prev["status"] == "running" else prev["status"],
            "notebook_seconds": prev["notebook_seconds"], "partial_seconds": {}}
    current = prev.get("in_progress")
    if current:
        copy = work / "notebooks" / f"{current['notebook']}.ipynb"
        since = dt.datetime.fromisoformat(current["since"]).timestamp()
        if copy.exists() and copy.stat().st_mtime > since:
            this["partial_seconds"][current["notebook"]] = round(copy.stat().st_mtime - since, 1)
    return [*prev.get("earlier_invocations", []), this]


def seconds_over_invocations(record: dict) -> dict:
    """Per notebook: its seconds in this invocation plus every earlier one's, finished or partial."""
    total = Counter()
    for r in [*record.get("earlier_invocations", []), record]:
        for part in ("notebook_seconds", "partial_seconds"):
            total.update(r.get(part, {}))
    return {name: round(seconds, 1) for name, seconds in total.items()}


def kernel_config(sockets: Path):
    """Papermill's kernel talks to it over IPC, through socket files in the folder ``sockets`` (one of its own per
    kernel, so kernels that run at once never share one): no TCP port is opened while a notebook runs."""
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(sockets / "kernel")
    return config


def planned_trainings(profile, work: Path, notebooks) -> int | None:
    """The trainings ``notebooks`` make (``sednn.core.plan.Plan.trainings``) on the dataset prepared in ``work``, as
    the notebooks' ``Run`` sees it; None before notebook 01 has prepared it."""
    from sednn.study.run import Run

    if not (work / "dataset" / MANIFEST_NAME).exists():
        return None
    return sum(Run(profile, work_dir=work).plan().trainings(notebooks).values())


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_notebooks(profile: str = "cpu", seed: int = 0, device: str = "auto", data_dir: str | None = None,
                  notebooks: list[str] | None = None, work_dir: str | Path | None = None,
                  results_dir: str | Path | None = None, figures_dir: str | Path | None = None,
                  notebooks_dir: str | Path = paths.NOTEBOOKS_DIR, compile: bool = False,
                  manifest: str | Path | None = None) -> dict:
    """Run ``notebooks`` (all by default) on CCP or, with ``manifest``, on your own data (folders under
    ``datasets/<name>/``). A notebook that stops because the dataset has no maps is recorded as skipped, with the
    reason, and the notebooks that need none go on."""
    prof = get_profile(profile)
    manifest = Path(manifest).resolve() if manifest else None
    dataset = dataset_name(manifest) if manifest else None
    work = Path(work_dir or paths.work_dir_for(profile, dataset)).resolve()
    results = Path(results_dir or paths.results_dir_for(profile, dataset=dataset)).resolve()
    figures = Path(figures_dir or paths.figures_dir_for(profile, dataset)).resolve()
    identity = dataset_identity(manifest)
    if manifest:
        check_own_results_dir(results)
    for folder in (work, results):  # another dataset's run is never resumed or written over
        check_folder_is_ours(folder, identity)
    for d in (work, results, figures, work / "notebooks", results / "notebooks"):
        d.mkdir(parents=True, exist_ok=True)
    params = {"PROFILE": profile, "SEED": seed, "DATA_DIR": str(data_dir) if data_dir else None, "DEVICE": device,
              "COMPILE": compile, "MANIFEST": str(manifest) if manifest else None,
              "WORK_DIR": str(work), "RESULTS_DIR": str(results), "FIGURES_DIR": str(figures)}
    record = {"status": "running", **git_state(), "profile": prof.to_dict(), "dataset": identity, "split_seed": seed,
              "model_seeds": list(prof.seeds), **device_info(device), "versions": versions(),
              "started": now_iso(), "parameters": params, "notebook_seconds": {}, "notebooks": {}}
    # headless kernels inherit this: no progress bars in the saved notebooks (JupyterLab users still get them)
    os.environ["TQDM_DISABLE"] = "1"
    earlier = earlier_invocations(work, record)
    if earlier:
        record["earlier_invocations"] = earlier
        print(f"[sednn] resuming after {len(earlier)} stopped invocation(s) of this commit", flush=True)
    names = list(notebooks or prof.notebooks)
    watcher = progress.Watcher(work / "progress.jsonl", planned_trainings(prof, work, names)).start()
    try:
        run_each(names, prof, params, record, work, results, figures, Path(notebooks_dir), watcher)
    finally:
        watcher.stop()
    finish(record, work, results, params, Path(notebooks_dir).resolve().parent)
    if results == paths.results_dir_for(profile).resolve() and profile not in TEST_PROFILES:  # the README follows
        from sednn.reporting import resolution, summary
        from sednn.reporting.readme import update_everywhere

        resolution.write()  # the table across resolutions, from whichever profiles have results
        summary.write()  # figures/summary.png, from every run there is
        update_everywhere()
    return record


def training_epochs_by_rows(dataset, profile: dict) -> dict[str, int]:
    """The epochs a classifier trains on all the run's rows and on its pixel-annotated ones (the same optimizer
    steps: ``sednn.core.epochs.training_epochs``)."""
    train = dataset.table[dataset.table["split"] == "train"]
    rows = {"all": len(train), "pixel": int((train["source"] == PIXEL_SOURCE).sum())}
    return {k: training_epochs(profile["epochs"], dataset.schedule_rows, n, profile["batch_size"])
            for k, n in rows.items() if n}


def finish(record: dict, work: Path, results: Path, params: dict, repo: Path) -> None:
    """The finished run's record: in ``work`` as it ran, in ``results`` as readers get it (paths under ``repo``
    made relative, each notebook's entry merged with the earlier runs' of the notebooks this one did not run)."""
    dataset_info = work / "dataset" / "dataset.json"
    if dataset_info.exists():
        info = json.loads(dataset_info.read_text())
        record["split_from"] = info["split"]
        record["skipped_rows"] = {k: {"count": len(v), "ids": v} for k, v in info["warnings"].items()}
        record["training_epochs"] = training_epochs_by_rows(read_prepared(work / "dataset"), record["profile"])
    record.update(status="ok", finished=now_iso(), total_seconds=round(sum(record["notebook_seconds"].values()), 1))
    if record.get("earlier_invocations"):
        over = seconds_over_invocations(record)
        record.update(notebook_seconds_all_invocations=over, total_seconds_all_invocations=round(sum(over.values()), 1))
    write_json(work / "RUN.json", record)
    previous = json.loads((results / "RUN.json").read_text()) if (results / "RUN.json").exists() else None
    write_json(results / "RUN.json", {**record, "parameters": parameters_for_readers(params, repo),
                                      "dataset": parameters_for_readers(record["dataset"], repo),
                                      "notebooks": provenance.merge(previous, record, NOTEBOOKS)})


def run_each(names, prof, params, record, work, results, figures, notebooks_dir, watcher) -> None:
    """Each notebook of ``names`` in turn, ``record`` (``<work>/RUN.json``) rewritten around each."""
    import papermill as pm

    executed, rendered = work / "notebooks", results / "notebooks"
    for name in names:
        src = notebooks_dir / f"{name}.ipynb"
        watcher.say(f"[sednn] {name} ({prof.name}) ...")
        record["in_progress"] = {"notebook": name, "since": now_iso()}
        write_json(work / "RUN.json", record)
        t0, started = time.perf_counter(), time.time()
        try:
            headless = {"INTERACTIVE": False} if "INTERACTIVE" in pm.inspect_notebook(str(src)) else {}
            with tempfile.TemporaryDirectory(prefix="sednn-kernel-") as sockets:
                pm.execute_notebook(str(src), str(executed / src.name), parameters={**params, **headless},
                                    kernel_name="python3", cwd=str(notebooks_dir), progress_bar=False,
                                    config=kernel_config(Path(sockets)))
        except pm.PapermillExecutionError as e:
            if e.ename == "MapsUnavailable":  # the dataset has no maps: this notebook needs them, the next may not
                record.setdefault("skipped_notebooks", {})[name] = e.evalue
                del record["in_progress"]
                write_json(work / "RUN.json", record)
                watcher.say(f"[sednn] {name} skipped: {e.evalue}")
                continue
            record.update(status="failed", failed_notebook=name, failed_cell=e.cell_index,
                          error=f"{e.ename}: {e.evalue}")
            write_json(work / "RUN.json", record)
            raise NotebookFailed(f"notebook {name} failed in cell {e.cell_index} (execution count {e.exec_count}): "
                                 f"{e.ename}: {e.evalue}\n  executed copy: {executed / src.name}") from None
        record["notebook_seconds"][name] = round(time.perf_counter() - t0, 1)
        record["notebooks"][name] = provenance.entry(
            record, record["notebook_seconds"][name], now_iso(),
            provenance.written_since(results, started, provenance.TABLE_SUFFIXES),
            provenance.written_since(figures, started, provenance.FIGURE_SUFFIXES))
        del record["in_progress"]
        write_json(work / "RUN.json", record)
        write_for_readers(executed / src.name, rendered / src.name)
        watcher.say(f"[sednn] {name} done in {record['notebook_seconds'][name]:.0f} s")
        if name == "01_data_prep":  # the dataset is prepared: the trainings to come can be counted
            watcher.set_total(planned_trainings(prof, work, names))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sednn.pipeline.runner", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    ap.add_argument("--seed", type=int, default=0, help="split and sampling seed")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--data-dir", default=None, help="CCP folder (default: shared copy, else pinned clone)")
    ap.add_argument("--manifest", default=None, help="your own data: a manifest CSV with its vocabulary files beside "
                    "it (README: Your own data); results go to results/datasets/<its folder>-<hash>/<profile>/")
    ap.add_argument("--notebooks", nargs="*", default=None, help=f"subset of {NOTEBOOKS}")
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--results-dir", default=None)
    ap.add_argument("--figures-dir", default=None)
    ap.add_argument("--compile", action="store_true", help="torch.compile the training steps")
    args = ap.parse_args(argv)
    try:
        record = run_notebooks(args.profile, args.seed, args.device, args.data_dir, args.notebooks, args.work_dir,
                               args.results_dir, args.figures_dir, compile=args.compile, manifest=args.manifest)
    except NotebookFailed as e:
        print(f"[sednn] FAILED: {e}", file=sys.stderr)
        return 1
    for name, reason in record.get("skipped_notebooks", {}).items():
        print(f"[sednn] {name} did not run: {reason}")
    print(f"[sednn] the notebooks ran in {record['total_seconds']:.0f} s; RUN.json written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
