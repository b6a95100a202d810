"""Where things live. Every path is a parameter; these are only the defaults."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
RESULTS_DIR = REPO_ROOT / "results"
FIGURES_DIR = REPO_ROOT / "figures"
RUNS_DIR = REPO_ROOT / "runs"

# The public dataset and the exact commit this repo was built against.
CCP_REPO_URL = "https://github.com/bearpaw/clothing-co-parsing.git"
CCP_COMMIT = "fe34fb77721a9973fbae92c05f7f12b664d10110"
# A copy beside the checkout (../shared/data/...) is used when present.
SHARED_CCP_DIR = REPO_ROOT.parent / "shared" / "data" / "clothing-co-parsing"
CLONE_CCP_DIR = REPO_ROOT / "data" / "raw" / "clothing-co-parsing"


def work_dir_for(profile: str, dataset: str | None = None) -> Path:
    """Per-profile folder for caches, checkpoints, predictions and executed notebooks (your own data: per dataset,
    ``sednn.data.dataset.dataset_name``)."""
    return RUNS_DIR / "datasets" / dataset / profile if dataset else RUNS_DIR / profile


DEFAULT_PROFILE = "cpu"  # its tables and figures sit at the top of results/ and figures/
# compared across input sizes (sednn.reporting.resolution), lowest first
RESOLUTION_PROFILES = ("cpu", "cpu_hr", "cpu_384")


def results_dir_for(profile: str, root: Path = RESULTS_DIR, dataset: str | None = None) -> Path:
    """results/ for the default profile, results/<profile>/ for the others (they sit beside it); your own data's
    in results/datasets/<dataset>/<profile>/, never over CCP's."""
    if dataset:
        return root / "datasets" / dataset / profile
    return root if profile == DEFAULT_PROFILE else root / profile


def figures_dir_for(profile: str, dataset: str | None = None) -> Path:
    return results_dir_for(profile, FIGURES_DIR, dataset)
