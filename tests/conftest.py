import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from sednn.core import paths

CCP = paths.SHARED_CCP_DIR
# The session's notebook runs (below) are each read by one test file, so that `make test` (pytest-xdist,
# `--dist loadfile`: each file's tests on one worker) makes each run once.
RUNS = ("smoke_run", "gpu_check_run", "smoke_gpu_run", "own_run")


def pytest_configure(config):
    """Under pytest-xdist each worker's torch (and its notebooks' kernels) gets its share of the cores."""
    import os

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = threads


# The files that make the session's runs first, then the slowest of the others, so that two workers finish together
# (`make test`: `--dist loadfile --no-loadscope-reorder` keeps this order).
FIRST = ("test_notebooks.py", "test_own_data.py", "test_gpu_check.py", "test_train.py", "test_distributed.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: FIRST.index(item.path.name) if item.path.name in FIRST else len(FIRST))
    readers = {}
    for item in items:
        for run in set(item.fixturenames) & set(RUNS):
            readers.setdefault(run, set()).add(item.path.name)
    shared = {run: sorted(files) for run, files in readers.items() if len(files) > 1}
    if shared:
        raise pytest.UsageError(f"a run is read by more than one test file, so workers would each make it: {shared}")


def require_ccp() -> Path:
    if not (CCP / "label_list.mat").exists():
        pytest.skip(f"CCP dataset not found at {CCP}")
    return CCP


@pytest.fixture
def ccp_root() -> Path:
    return require_ccp()


@pytest.fixture
def mini_ccp(tmp_path) -> Path:
    """A small copy of real CCP files (4 pixel-annotated, 4 tagged) that tests may break."""
    src = require_ccp()
    root = tmp_path / "ccp"
    (root / "annotations" / "pixel-level").mkdir(parents=True)
    (root / "annotations" / "image-level").mkdir(parents=True)
    (root / "photos").mkdir()
    shutil.copy(src / "label_list.mat", root)
    for i in [1, 2, 3, 4, 1005, 1006, 1007, 1008]:
        name = f"{i:04d}"
        shutil.copy(src / "photos" / f"{name}.jpg", root / "photos")
        half = "pixel-level" if i <= 1004 else "image-level"
        shutil.copy(src / "annotations" / half / f"{name}.mat", root / "annotations" / half)
    return root


# A label space of our own for the own-data tests: 12 merged classes of CCP's 59 fine labels, stored in PNG maps
# under pixel values of their own (not CCP's indices), and targets named like the classes they are found in.
PARTS = {
    "background": ["null"], "skin": ["skin"], "hair": ["hair"],
    "top": ["blouse", "bra", "cardigan", "hoodie", "intimate", "jumper", "shirt", "sweater", "sweatshirt", "t-shirt",
            "top", "vest"],
    "outer": ["blazer", "cape", "coat", "jacket"],
    "dress": ["bodysuit", "dress", "romper", "suit", "swimwear"],
    "bottom": ["jeans", "panties", "pants", "shorts", "skirt"],
    "legwear": ["leggings", "socks", "stockings", "tights"],
    "shoes": ["boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers", "wedges"],
    "bag": ["bag", "purse", "wallet"],
    "accessories": ["accessories", "belt", "bracelet", "earrings", "glasses", "gloves", "necklace", "ring", "scarf",
                    "sunglasses", "tie", "watch"],
    "headwear": ["hat"],
}
PART_VALUE = {part: 0 if part == "background" else 100 + i for i, part in enumerate(PARTS)}
PART_TARGETS = [p for p in PARTS if p not in ("background", "skin", "hair")]


def write_own_dataset(folder: Path, ccp_root: Path, ids: list[int], split: dict[str, str] | None = None) -> Path:
    """A dataset in the manifest format from real CCP photos: PNG maps in the ``parts`` label space for the
    pixel-annotated ids, tags only for the others, paths relative to the manifest. Returns the manifest's path."""
    import numpy as np
    import pandas as pd
    import scipy.io
    from PIL import Image

    from sednn.data import ccp

    names = ccp.read_label_list(ccp_root)
    part_of = {fine: part for part, fines in PARTS.items() for fine in fines}
    to_value = np.array([PART_VALUE[part_of[n]] for n in names], np.uint8)
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    (folder / "maps").mkdir(exist_ok=True)
    rows = []
    for i in ids:
        name = f"{i:04d}"
        shutil.copy(ccp_root / "photos" / f"{name}.jpg", folder / "photos")
        row = {"id": f"ccp-{name}", "image_path": f"photos/{name}.jpg", "gt_map_path": ""}
        if i <= 1004:
            gt = to_value[scipy.io.loadmat(ccp_root / "annotations/pixel-level" / f"{name}.mat")["groundtruth"]]
            Image.fromarray(gt).save(folder / "maps" / f"{name}.png")
            row["gt_map_path"] = f"maps/{name}.png"
            present = {p for p, v in PART_VALUE.items() if (gt == v).any()}
        else:
            tags = scipy.io.loadmat(ccp_root / "annotations/image-level" / f"{name}.mat")["tags"].ravel()
            present = {part_of[names[t]] for t in tags}
        if split:
            row["split"] = split[row["id"]]
        rows.append({**row, **{f"label:{t}": int(t in present) for t in PART_TARGETS}})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    with open(folder / "vocabulary-parts.csv", "w") as f:
        f.write("value,name,class\n" + "".join(f"{v},{p},{p}\n" for p, v in PART_VALUE.items()))
    return folder / "manifest.csv"


def write_notebook(path: Path, *cells: str, parameters: str = "PROFILE = 'smoke'") -> Path:
    """A notebook of our own for the runner: a ``parameters`` cell, then ``cells``."""
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                *map(nbformat.v4.new_code_cell, cells)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------- the session's notebook runs
# Each runs once per test session and every test file reads it; no test writes into them.
OWN_IDS = [*range(1, 25), *range(1005, 1029)]  # 24 pixel-annotated, 24 tags-only: smoke's 48 images


def run_notebooks(out: Path, profile: str, notebooks=None, manifest=None) -> dict:
    """The runner on ``profile`` into ``out``; what it shows a terminal is kept in ``out/terminal.txt``."""
    import contextlib
    import io

    from sednn.pipeline import runner

    shown = io.StringIO()
    try:
        with contextlib.redirect_stdout(shown):
            return runner.run_notebooks(profile, notebooks=notebooks, manifest=manifest, work_dir=out / "work",
                                        results_dir=out / "results", figures_dir=out / "figures", device="cpu")
    finally:
        (out / "terminal.txt").write_text(shown.getvalue())
        print(shown.getvalue())


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Every notebook, 07 included, on the smoke profile: (folder, RUN.json record)."""
    from sednn.core.plan import NOTEBOOKS

    require_ccp()
    out = tmp_path_factory.mktemp("smoke")
    return out, run_notebooks(out, "smoke", NOTEBOOKS)


@pytest.fixture(scope="session")
def gpu_check_run(tmp_path_factory):
    """`make gpu-check` as a CPU runs it (what needs CUDA skipped): the smoke images carried as a dataset of their
    own, the gpu profile's code paths through the notebooks (nothing frozen, 16 views, bf16 autocast, the parser
    learning from photos) with the least work, the benchmark at a small size, a start of the gpu profile."""
    from sednn.pipeline import gpu_check

    require_ccp()
    out = tmp_path_factory.mktemp("gpu_check")
    gpu_check.prepare_data(out / "data")
    record = gpu_check.run("cpu", out / "results", out / "data", work=out / "work", **gpu_check.CPU_DRY_RUN)
    return out, record


@dataclass(frozen=True)
class NotebookRun:
    work: Path
    results: Path
    record: dict


@pytest.fixture(scope="session")
def smoke_gpu_run(gpu_check_run) -> NotebookRun:
    """The gpu check's notebooks on the gpu profile's code paths."""
    out, _ = gpu_check_run
    results = out / "results" / "smoke_gpu_min"
    return NotebookRun(out / "work" / "smoke_gpu_min", results, json.loads((results / "RUN.json").read_text()))


@pytest.fixture(scope="session")
def own_run(tmp_path_factory):
    """Every notebook, 07 included, on a dataset of our own (``write_own_dataset``) with the least work:
    (folder, manifest, RUN.json record)."""
    from sednn.core.plan import NOTEBOOKS

    out = tmp_path_factory.mktemp("own")
    manifest = write_own_dataset(out / "my data", require_ccp(), OWN_IDS)
    return out, manifest, run_notebooks(out, "smoke_min", NOTEBOOKS, manifest)


@pytest.fixture
def own_data(tmp_path) -> Path:
    """A small own dataset (4 pixel-annotated, 4 tags-only CCP photos) in a folder whose name has a space."""
    return write_own_dataset(tmp_path / "my data", require_ccp(), [1, 2, 3, 4, 1005, 1006, 1007, 1008])
